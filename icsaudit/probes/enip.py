"""EtherNet/IP identity: one ListIdentity over TCP (no session, no CIP), the whole identity item."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.enip_cip import DEVICE_TYPES, vendor_name
from icsaudit.probes.base import Malformed, Planned, ProbeResult, ProbeTarget, answered, clean, need
from icsaudit.probes.guard import GuardedConnection

NAME = "enip"
PROTOCOL = "enip"
TRANSPORT = "tcp"
PORTS = (44818,)
CONTEXT = b"icsaudit"  # sender context echoed by the device


def list_identity() -> bytes:
    return struct.pack("<HHII8sI", 0x63, 0, 0, 0, CONTEXT, 0)


def frame_length(buf: bytes) -> int | None:
    if len(buf) < 24:
        return None
    return 24 + struct.unpack("<H", buf[2:4])[0]


def parse_identity(data: bytes) -> dict:
    need(data, 26, "ListIdentity reply")
    command, _length, _session, status = struct.unpack("<HHII", data[:12])
    if command != 0x63:
        raise Malformed(f"reply command 0x{command:04x}")
    if status:
        return {"error": f"status 0x{status:08x}"}
    count = struct.unpack("<H", data[24:26])[0]
    pos = 26
    for _ in range(count):
        need(data, pos + 4, "item header")
        item, size = struct.unpack("<HH", data[pos : pos + 4])
        body = data[pos + 4 : pos + 4 + size]
        need(body, size, "item")
        pos += 4 + size
        if item != 0x0C:
            continue
        need(body, 35, "identity item")
        _version, _family, _port, address = struct.unpack(">HhH4s", body[:10])
        vendor, dev_type, product, major, minor, status_word, serial = struct.unpack("<HHHBBHI", body[18:32])
        name_len = body[32]
        need(body, 33 + name_len, "product name")
        name = body[33 : 33 + name_len].decode("latin-1")
        state = body[33 + name_len] if len(body) > 33 + name_len else None
        return {
            "vendor_id": vendor,
            "vendor": vendor_name(vendor),
            "device_type_id": dev_type,
            "device_type": DEVICE_TYPES.get(dev_type, f"type {dev_type}"),
            "product_code": product,
            "revision": f"{major}.{minor}",
            "status": f"0x{status_word:04x}",
            "serial": f"0x{serial:08x}",
            "product_name": name,
            "state": state,
            "device_ip": ".".join(str(b) for b in address),
        }
    raise Malformed("no identity item in the reply")


def plan(target: ProbeTarget) -> list[Planned]:
    return [Planned(list_identity(), "ListIdentity")]


def run(conn: GuardedConnection, target: ProbeTarget, found: list[ProbeResult]) -> None:
    reply = conn.request(PROTOCOL, list_identity(), frame_length, "ListIdentity")
    raw = parse_identity(reply.data)
    if "error" in raw:
        conn.negative(f"ListIdentity {raw['error']}")
    answered(
        found,
        (NAME, PROTOCOL, TRANSPORT),
        target,
        reply,
        raw,
        fields=clean(
            {
                "vendor": raw["vendor"],
                "model": raw["product_name"],
                "product_code": raw["product_code"],
                "firmware": raw["revision"],
                "serial": raw["serial"],
                "device_type": raw["device_type"],
                "vendor_id": raw["vendor_id"],
                "status": raw["status"],
                "state": raw["state"],
                "device_ip": raw["device_ip"],
            }
        ),
    )
