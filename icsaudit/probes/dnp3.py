"""DNP3 presence: one link-layer Request Link Status to each declared outstation address (no
application layer, no reads, no address sweep). The Link Status reply confirms address and role."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.dnp3 import START, crc16
from icsaudit.probes.base import Malformed, Planned, ProbeResult, ProbeTarget, answered, need
from icsaudit.probes.guard import GuardedConnection

NAME = "dnp3"
PROTOCOL = "dnp3"
TRANSPORT = "tcp"
PORTS = (20000,)
MASTER_ADDRESS = 1  # source address of the probe (a master address the outstation expects)
LINK_STATUS = 11


def request_link_status(destination: int, source: int = MASTER_ADDRESS) -> bytes:
    header = START + struct.pack("<BBHH", 5, 0xC9, destination, source)  # DIR, PRM, function 9
    return header + struct.pack("<H", crc16(header))


def frame_length(buf: bytes) -> int | None:
    if len(buf) < 3:
        return None
    if buf[:2] != START:
        raise Malformed("no DNP3 start bytes")
    user = buf[2] - 5
    if user < 0:
        raise Malformed("DNP3 length below 5")
    blocks, rest = divmod(user, 16)
    return 10 + blocks * 18 + (rest + 2 if rest else 0)


def parse_link_reply(data: bytes, destination: int) -> dict:
    need(data, 10, "DNP3 link header")
    if crc16(data[:8]) != struct.unpack("<H", data[8:10])[0]:
        raise Malformed("DNP3 header CRC")
    control = data[3]
    dst, src = struct.unpack("<HH", data[4:8])
    if src != destination:
        raise Malformed(f"reply from address {src}, asked {destination}")
    return {
        "address": src,
        "master": dst,
        "link_function": control & 0x0F,
        "from_outstation": not control & 0x80,
    }


def plan(target: ProbeTarget) -> list[Planned]:
    return [
        Planned(request_link_status(a), f"request link status, outstation {a}") for a in target.dnp3_addresses
    ]


def run(conn: GuardedConnection, target: ProbeTarget, found: list[ProbeResult]) -> None:
    for address in target.dnp3_addresses:
        reply = conn.request(
            PROTOCOL, request_link_status(address), frame_length, f"request link status, outstation {address}"
        )
        raw = parse_link_reply(reply.data, address)
        if raw["link_function"] != LINK_STATUS:
            conn.negative(
                f"outstation {address}: link function {raw['link_function']} instead of link status"
            )
        answered(
            found,
            (NAME, PROTOCOL, TRANSPORT),
            target,
            reply,
            raw,
            fields={"dnp3_address": str(address), "device_type": "outstation"},
        )
