"""SNMP identity: one v1/v2c GET of sysDescr, sysObjectID and sysName with the community from the
credentials file given by path (never from the command line; without one, SNMP is not probed)."""

from __future__ import annotations

from icsaudit.probes.base import Malformed, Planned, ProbeResult, ProbeTarget, answered, clean
from icsaudit.probes.guard import GuardedConnection

NAME = "snmp"
PROTOCOL = "snmp"
TRANSPORT = "udp"
PORTS = (161,)
OIDS = {
    "1.3.6.1.2.1.1.1.0": "sys_descr",
    "1.3.6.1.2.1.1.2.0": "sys_object_id",
    "1.3.6.1.2.1.1.5.0": "sys_name",
}
REQUEST_ID = 0x1CA0


def _tlv(tag: int, value: bytes) -> bytes:
    size = len(value)
    head = (
        bytes((size,))
        if size < 128
        else (b"\x81" + bytes((size,)) if size < 256 else b"\x82" + size.to_bytes(2, "big"))
    )
    return bytes((tag,)) + head + value


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def encode_oid(oid: str) -> bytes:
    parts = [int(p) for p in oid.split(".")]
    out = bytearray((40 * parts[0] + parts[1],))
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def decode_oid(raw: bytes) -> str:
    if not raw:
        raise Malformed("empty OID")
    parts = [raw[0] // 40, raw[0] % 40]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def get_request(community: str, version: int = 1) -> bytes:
    binds = b"".join(_tlv(0x30, encode_oid(oid) + b"\x05\x00") for oid in OIDS)
    pdu = _tlv(0xA0, _int(REQUEST_ID) + _int(0) + _int(0) + _tlv(0x30, binds))
    return _tlv(0x30, _int(version) + _tlv(0x04, community.encode()) + pdu)


def _read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    if pos + 2 > len(data):
        raise Malformed("truncated BER")
    tag, size = data[pos], data[pos + 1]
    pos += 2
    if size & 0x80:
        count = size & 0x7F
        if not 1 <= count <= 2 or pos + count > len(data):
            raise Malformed("bad BER length")
        size = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + size > len(data):
        raise Malformed("BER value runs past the end")
    return tag, data[pos : pos + size], pos + size


def parse_response(data: bytes) -> dict:
    tag, message, _ = _read(data, 0)
    if tag != 0x30:
        raise Malformed("not an SNMP message")
    _t, version, pos = _read(message, 0)
    _t, _community, pos = _read(message, pos)
    tag, pdu, _ = _read(message, pos)
    if tag != 0xA2:
        raise Malformed(f"PDU 0x{tag:02x} is not a response")
    _t, request_id, pos = _read(pdu, 0)
    if int.from_bytes(request_id, "big") != REQUEST_ID:
        raise Malformed("response to another request")
    _t, error, pos = _read(pdu, pos)
    _t, _index, pos = _read(pdu, pos)
    _t, binds, _ = _read(pdu, pos)
    values: dict = {
        "version": "v2c" if version == b"\x01" else "v1",
        "error_status": int.from_bytes(error, "big"),
    }
    pos = 0
    while pos < len(binds):
        _t, bind, pos = _read(binds, pos)
        _t, oid, after = _read(bind, 0)
        vtag, value, _ = _read(bind, after)
        key = OIDS.get(decode_oid(oid))
        if key and vtag == 0x04:
            values[key] = value.decode("utf-8", "replace")
        elif key and vtag == 0x06:
            values[key] = decode_oid(value)
    return values


def plan(target: ProbeTarget) -> list[Planned]:
    if target.snmp_community is None:
        return []
    return [Planned(get_request(target.snmp_community), "GET sysDescr, sysObjectID, sysName")]


def run(conn: GuardedConnection, target: ProbeTarget, found: list[ProbeResult]) -> None:
    if target.snmp_community is None:
        return
    reply = conn.request(
        PROTOCOL, get_request(target.snmp_community), None, "GET sysDescr, sysObjectID, sysName"
    )
    raw = parse_response(reply.data)
    if raw["error_status"]:
        conn.negative(f"error status {raw['error_status']}")
    answered(
        found,
        (NAME, PROTOCOL, TRANSPORT),
        target,
        reply,
        raw,
        details={"snmp_version": raw["version"], "community_accepted": True},
        fields=clean(
            {
                "description": raw.get("sys_descr"),
                "sys_object_id": raw.get("sys_object_id"),
                "name": raw.get("sys_name"),
            }
        ),
    )
