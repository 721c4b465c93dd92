"""SNMP identity: one v1/v2c GET of sysDescr, sysObjectID and sysName with the community from the
credentials file given by path (never from the command line; without one, no GET is sent), then the
SNMPv3 engine discovery, which needs no secret.

The discovery (RFC 3414 section 4, the request nmap's snmp-info sends) is a v3 GetRequest with
noAuthNoPriv, the reportable flag, an empty user name and engine id and no varbinds. The agent answers
with a Report whose USM parameters carry its authoritative engine id (RFC 3411 SnmpEngineID: the
IANA enterprise number of the agent's vendor, a format byte and a MAC, an address, text or octets),
engine boots and engine time (seconds since the last boot or re-keying: an uptime estimate)."""

from __future__ import annotations

import datetime as dt
import ipaddress

from icsaudit.passive.protocols import ber
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
GET_PURPOSE = "GET sysDescr, sysObjectID, sysName"

# SNMPv3 engine discovery (RFC 3414 section 4)
NAME_V3 = "snmpv3"  # its identity's source is probe:snmpv3, apart from the community GET's
V3_MESSAGE_ID = 0x1CA1
V3_REQUEST_ID = 0x1CA2
V3_MAX_SIZE = 65507  # msgMaxSize: the largest UDP payload, as nmap sends
V3_FLAG_REPORTABLE = 0x04  # msgFlags: reportable, no authentication, no privacy
V3_SECURITY_MODEL_USM = 3
V3_PURPOSE = "SNMPv3 engine discovery (noAuthNoPriv, empty user, no varbinds)"
V3_REPORTS = {  # usmStats counters an agent reports (RFC 3414 section 5)
    "1.3.6.1.6.3.15.1.1.1.0": "usmStatsUnsupportedSecLevels",
    "1.3.6.1.6.3.15.1.1.2.0": "usmStatsNotInTimeWindows",
    "1.3.6.1.6.3.15.1.1.3.0": "usmStatsUnknownUserNames",
    "1.3.6.1.6.3.15.1.1.4.0": "usmStatsUnknownEngineIDs",
    "1.3.6.1.6.3.15.1.1.5.0": "usmStatsWrongDigests",
    "1.3.6.1.6.3.15.1.1.6.0": "usmStatsDecryptionErrors",
}
# SnmpEngineID format octet (RFC 3411): 6-127 reserved, 128-255 enterprise specific
ENGINE_ID_FORMATS = {1: "ipv4", 2: "ipv6", 3: "mac", 4: "text", 5: "octets"}
# IANA Private Enterprise Numbers of ICS/OT vendors, as registered (checked against the IANA registry
# as shipped in Wireshark's enterprises.tsv and nmap's nselib/data/enterprise_numbers.txt); a number
# not listed here is recorded as a number only.
ICS_ENTERPRISES = {
    9: "Cisco Systems",
    95: "Rockwell Automation",  # registered as "formerly Allen-Bradley Company"
    248: "Hirschmann",  # Richard Hirschmann GmbH & Co.
    409: "Mitsubishi Electric",
    534: "Eaton",
    908: "ABB",  # ABB Inc., formerly Elsag Bailey
    2910: "General Electric",
    3833: "Schneider Electric",
    4196: "Siemens",  # Siemens AG Automation & Drives
    4329: "Siemens",  # Siemens AG
    4346: "Phoenix Contact",
    4399: "Johnson Controls",
    4473: "Opto 22",
    7427: "Yokogawa Electric",
    8691: "Moxa",
    13576: "WAGO",
    15004: "RuggedCom",
    16177: "Westermo",
    16838: "Omron",
    20998: "Honeywell",
    25157: "Beckhoff Automation",
}


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


def discovery_request() -> bytes:
    """The SNMPv3 engine discovery: GetRequest, noAuthNoPriv, reportable, empty USM fields, no varbinds."""
    empty = _tlv(0x04, b"")
    header = _int(V3_MESSAGE_ID) + _int(V3_MAX_SIZE)
    header += _tlv(0x04, bytes((V3_FLAG_REPORTABLE,))) + _int(V3_SECURITY_MODEL_USM)
    usm = _tlv(0x30, empty + _int(0) + _int(0) + empty + empty + empty)  # engine id, boots, time, user, keys
    pdu = _tlv(0xA0, _int(V3_REQUEST_ID) + _int(0) + _int(0) + _tlv(0x30, b""))
    scoped = _tlv(0x30, empty + empty + pdu)  # contextEngineID, contextName, PDU
    return _tlv(0x30, _int(3) + _tlv(0x30, header) + _tlv(0x04, usm) + scoped)


def _fields(data: bytes, start: int, end: int, count: int, what: str) -> list[tuple[int, int, int]]:
    """(identifier octet, value start, value end) of the first ``count`` elements in [start, end)."""
    out: list[tuple[int, int, int]] = []
    off = start
    for _bits, _number, vstart, vend in ber.children(data, start, end):
        out.append((data[off], vstart, vend))
        off = vend
        if len(out) == count:
            return out
    raise Malformed(f"{what}: {len(out)} elements, need {count}")


def _expect(element: tuple[int, int, int], tag: int, what: str) -> tuple[int, int]:
    if element[0] != tag:
        raise Malformed(f"{what}: tag 0x{element[0]:02x}, expected 0x{tag:02x}")
    return element[1], element[2]


def parse_report(data: bytes) -> dict:
    """The engine identity in the USM parameters of the agent's Report (or any v3 reply)."""
    try:
        return _parse_report(data)
    except ber.BerError as exc:
        raise Malformed(f"SNMPv3 reply: {exc}") from None


def _parse_report(data: bytes) -> dict:
    bits, number, start, end = ber.read_tlv(data, 0, len(data))
    if (bits, number) != (ber.CONSTRUCTED, 16) or end != len(data):
        raise Malformed("not an SNMP message")
    version, header, params, scoped = _fields(data, start, end, 4, "SNMPv3 message")
    if ber.to_int(data, *_expect(version, 0x02, "version")) != 3:
        raise Malformed("not an SNMPv3 reply")
    msg_id, _size, flags, model = _fields(data, *_expect(header, 0x30, "msgGlobalData"), 4, "msgGlobalData")
    if ber.to_int(data, *_expect(msg_id, 0x02, "msgID")) != V3_MESSAGE_ID:
        raise Malformed("reply to another message")
    security_model = ber.to_int(data, *_expect(model, 0x02, "msgSecurityModel"))
    if security_model != V3_SECURITY_MODEL_USM:
        raise Malformed(f"security model {security_model} is not USM")
    ps, pe = _expect(params, 0x04, "msgSecurityParameters")
    bits, number, us, ue = ber.read_tlv(data, ps, pe)
    if (bits, number) != (ber.CONSTRUCTED, 16):
        raise Malformed("USM parameters are not a SEQUENCE")
    engine, boots, clock, user = _fields(data, us, ue, 4, "USM parameters")
    engine_id = data[slice(*_expect(engine, 0x04, "msgAuthoritativeEngineID"))]
    if not 5 <= len(engine_id) <= 32:
        raise Malformed(f"engine id of {len(engine_id)} octets (RFC 3411: 5 to 32)")
    fs, fe = _expect(flags, 0x04, "msgFlags")
    raw: dict = {
        "version": "v3",
        "security_model": "usm",
        "msg_flags": data[fs:fe].hex(),
        "engine_id": engine_id.hex(),
        "engine_boots": ber.to_int(data, *_expect(boots, 0x02, "msgAuthoritativeEngineBoots")),
        "engine_time": ber.to_int(data, *_expect(clock, 0x02, "msgAuthoritativeEngineTime")),
        "user_name": data[slice(*_expect(user, 0x04, "msgUserName"))].decode("utf-8", "replace"),
    }
    raw.update(decode_engine_id(engine_id))
    if scoped[0] == 0x30:  # plaintext scoped PDU: contextEngineID, contextName, PDU
        _ce, _cn, pdu = _fields(data, scoped[1], scoped[2], 3, "scoped PDU")
        raw["pdu"] = {0xA8: "report", 0xA2: "response"}.get(pdu[0], f"0x{pdu[0]:02x}")
        _rid, _status, _index, binds = _fields(data, pdu[1], pdu[2], 4, "PDU")
        for _b, _n, bs, be in ber.children(data, *_expect(binds, 0x30, "varbinds")):
            oid, value = _fields(data, bs, be, 2, "varbind")
            name = decode_oid(data[slice(*_expect(oid, 0x06, "varbind name"))])
            raw["report_oid"] = name
            raw["report"] = V3_REPORTS.get(name, name)
            if value[0] in (0x02, 0x41):  # INTEGER, Counter32
                raw["report_value"] = ber.to_uint(data, value[1], value[2])
            break
    return raw


def decode_engine_id(engine_id: bytes) -> dict:
    """RFC 3411 SnmpEngineID: enterprise number, format and data (RFC 1910 style when bit 1 is 0)."""
    head = int.from_bytes(engine_id[:4], "big")
    if not head & 0x80000000:  # SNMPv1/v2 style: enterprise, then 8 enterprise-specific octets
        return {"enterprise": head, "engine_id_format": "rfc1910", "engine_id_data": engine_id[4:].hex()}
    enterprise, code, data = head & 0x7FFFFFFF, engine_id[4], engine_id[5:]
    name = ENGINE_ID_FORMATS.get(code, "reserved" if code < 128 else "enterprise-specific")
    out: dict = {"enterprise": enterprise, "engine_id_format": name, "engine_id_format_code": code}
    if name == "ipv4" and len(data) == 4:
        out["engine_id_data"] = str(ipaddress.IPv4Address(data))
    elif name == "ipv6" and len(data) == 16:
        out["engine_id_data"] = str(ipaddress.IPv6Address(data))
    elif name == "mac" and len(data) == 6:
        out["engine_id_data"] = out["mac"] = ":".join(f"{b:02x}" for b in data)
    elif name == "text" and data.isascii() and data.decode().isprintable():
        out["engine_id_data"] = data.decode()
    else:
        out["engine_id_data"] = data.hex()
    return out


def plan(target: ProbeTarget) -> list[Planned]:
    planned = [Planned(discovery_request(), V3_PURPOSE)]
    if target.snmp_community is not None:
        planned.insert(0, Planned(get_request(target.snmp_community), GET_PURPOSE))
    return planned


def run(conn: GuardedConnection, target: ProbeTarget, found: list[ProbeResult]) -> None:
    """The community GET first (when a community is given), then the v3 engine discovery.

    An agent without v3 drops the discovery silently; the guard then backs the target off after the
    timeout, so the GET, which the facility's own credentials make the likelier answer, goes first."""
    community = None
    if target.snmp_community is not None:
        reply = conn.request(PROTOCOL, get_request(target.snmp_community), None, GET_PURPOSE)
        raw = parse_response(reply.data)
        if raw["error_status"]:
            conn.negative(f"error status {raw['error_status']}")
        community = answered(
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
    reply = conn.request(PROTOCOL, discovery_request(), None, V3_PURPOSE)
    raw = parse_report(reply.data)
    uptime = max(0, raw["engine_time"])
    # no snmp_version here: the discovery says v3 is spoken, not that v1/v2c is off (CT-03)
    details = {"snmpv3_discovery": True, "security_model": "usm", "engine_id": raw["engine_id"]}
    engine = answered(
        found,
        (NAME_V3, PROTOCOL, TRANSPORT),
        target,
        reply,
        raw,
        details=details,
        fields=clean(
            {
                "engine_id": raw["engine_id"],
                "snmp_enterprise": raw["enterprise"],
                "vendor": ICS_ENTERPRISES.get(raw["enterprise"]),
                "engine_id_format": raw["engine_id_format"],
                "engine_id_data": raw["engine_id_data"],
                "mac": raw.get("mac"),
                "engine_boots": raw["engine_boots"],
                "engine_time": raw["engine_time"],
                "uptime": format_uptime(uptime),
                "last_boot": dt.datetime.fromtimestamp(reply.ts - uptime, dt.UTC).isoformat(
                    timespec="seconds"
                ),
            }
        ),
    )
    if community is not None:  # one service: both replies' details
        community.details.update(details)
        engine.details = dict(community.details)


def format_uptime(seconds: int) -> str:
    """nmap's notation: 358d01h13m46s."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d{hours:02d}h{minutes:02d}m{secs:02d}s"
