"""What the guard lets out: outgoing bytes are parsed per protocol and only positively recognized
read-only identity requests pass. Everything else (writes, control, program, mode, firmware, unknown
or malformed bytes) raises RequestDenied with the rule that refused it.

This module never trusts the probe modules' builders: it parses the bytes as a device would.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from icsaudit.errors import SafetyRefusal
from icsaudit.passive.protocols import bacnet as bacnet_tables
from icsaudit.passive.protocols import ber
from icsaudit.passive.protocols import dnp3 as dnp3_tables
from icsaudit.passive.protocols import enip_cip as enip_tables
from icsaudit.passive.protocols import iec104 as iec104_tables
from icsaudit.passive.protocols import modbus as modbus_tables
from icsaudit.passive.protocols import opcua as opcua_tables
from icsaudit.passive.protocols import s7comm as s7_tables
from icsaudit.passive.protocols.it import snmp as snmp_tables

# Requests that are read-only identity queries, by protocol (documentation and test oracle).
MODBUS_READ_CODES = {1: "basic", 2: "regular"}  # FC 43/14 read device id codes allowed
S7_IDENTITY_SZL = {
    0x0011: "module identification",
    0x001C: "component identification",
    0x0424: "CPU mode",
    0x0232: "protection level",
}
S7_SETUP_COMMUNICATION = 0xF0
ENIP_LIST_IDENTITY = 0x0063
BACNET_WHO_IS = 8
BACNET_READ_PROPERTY = 12
BACNET_READ_PROPERTY_MULTIPLE = 14
BACNET_DEVICE_OBJECT = 8
# Device-object properties a probe may read: identity, nothing else.
BACNET_IDENTITY_PROPERTIES = {
    75: "object-identifier",
    77: "object-name",
    121: "vendor-name",
    120: "vendor-identifier",
    70: "model-name",
    44: "firmware-revision",
    12: "application-software-version",
    28: "description",
    58: "location",
    372: "serial-number",
    98: "protocol-version",
    139: "protocol-revision",
}
DNP3_REQUEST_LINK_STATUS = 9
IEC104_TESTFR_ACT = 0x43
OPCUA_POLICY_NONE = opcua_tables.POLICY_NONE.encode()
OPCUA_OPEN_SECURE_CHANNEL = 446
OPCUA_GET_ENDPOINTS = 428
OPCUA_CLOSE_SECURE_CHANNEL = 452
SNMP_ALLOWED_PDUS = {0xA0: "get-request", 0xA1: "get-next-request"}
# SNMPv3: only the engine discovery (RFC 3414 section 4): a GetRequest with msgFlags reportable and
# noAuthNoPriv, the USM security model, empty engine id, user and keys, and no varbinds.
SNMPV3_DISCOVERY_FLAGS = 0x04
SNMPV3_USM = 3
SNMPV3_MIN_MAX_SIZE = 484  # msgMaxSize (RFC 3412): 484..2^31-1
HTTP_HEAD = b"HEAD / HTTP/1.0\r\n\r\n"  # the only bytes a banner probe may send


class RequestDenied(SafetyRefusal):
    """Outgoing bytes that are not a recognized read-only identity request."""


def _deny(protocol: str, why: str) -> RequestDenied:
    return RequestDenied(
        f"guard refused {protocol} request: {why}",
        hint="probes send only read-only identity requests (DESIGN.md, 'Probes')",
    )


# --------------------------------------------------------------------------------------------- Modbus
def check_modbus(data: bytes) -> str:
    if len(data) < 8:
        raise _deny("modbus", f"malformed: {len(data)} bytes is shorter than MBAP + function code")
    _tid, proto, length = struct.unpack(">HHH", data[:6])
    if proto != 0 or length != len(data) - 6:
        raise _deny("modbus", "malformed MBAP header (protocol id or length field does not match)")
    fc = data[7]
    pdu = data[7:]
    if fc == 43 and len(pdu) == 4 and pdu[1] == 14 and pdu[2] in MODBUS_READ_CODES:
        return f"FC 43/14 read device identification ({MODBUS_READ_CODES[pdu[2]]}, object {pdu[3]})"
    if fc == 17 and len(pdu) == 1:
        return "FC 17 report server id"
    name = modbus_tables.FUNCTION_NAMES.get(fc & 0x7F, f"function {fc}")
    category = modbus_tables.FUNCTION_CATEGORIES.get(fc & 0x7F, "other")
    if fc == 8 and len(pdu) >= 3:
        sub = struct.unpack(">H", pdu[1:3])[0]
        category = "mode" if sub in modbus_tables.DIAGNOSTIC_MODE_SUBFUNCTIONS else category
        name = f"diagnostics sub-function {sub}"
    if fc == 43 and len(pdu) >= 2 and pdu[1] != 14:
        name = f"encapsulated interface transport MEI {pdu[1]}"
    if fc == 90:
        category = "program/mode"
    raise _deny("modbus", f"FC {fc} ({name}, {category}) is not an allowed read-only identity request")


# --------------------------------------------------------------------------------------------- S7comm
def check_s7comm(data: bytes) -> str:
    if len(data) < 7 or data[0] != 3 or data[1] != 0:
        raise _deny("s7comm", "malformed: not a TPKT")
    if struct.unpack(">H", data[2:4])[0] != len(data):
        raise _deny("s7comm", "malformed: TPKT length does not match")
    cotp_len = data[4]
    if 5 + cotp_len > len(data) or cotp_len < 2:
        raise _deny("s7comm", "malformed: COTP length")
    pdu_type = data[5] & 0xF0
    if pdu_type == 0xE0:  # connection request: no user data allowed
        if 5 + cotp_len != len(data):
            raise _deny("s7comm", "COTP connection request carries trailing data")
        return "COTP connection request"
    if pdu_type != 0xF0 or cotp_len != 2 or data[6] != 0x80:
        raise _deny(
            "s7comm", f"COTP PDU type 0x{data[5]:02x} is not a connection request or a final data TPDU"
        )
    s7 = data[7:]
    if len(s7) < 10 or s7[0] != 0x32:
        raise _deny("s7comm", "malformed: S7 header")
    rosctr = s7[1]
    param_len, data_len = struct.unpack(">HH", s7[6:10])
    if 10 + param_len + data_len != len(s7):
        raise _deny("s7comm", "malformed: S7 parameter/data lengths do not match the TPDU")
    params, body = s7[10 : 10 + param_len], s7[10 + param_len :]
    if rosctr == 1:
        fn = params[0] if params else -1
        if fn == S7_SETUP_COMMUNICATION and param_len == 8 and data_len == 0:
            return "S7 job setup communication"
        name, category = s7_tables.JOB_FUNCTIONS.get(fn, (f"function 0x{fn & 0xFF:02x}", "other"))
        if fn == 0x28:
            pi = next((key for key in s7_tables.PI_SERVICES if key.encode() in params + body), "")
            if pi:
                name, category = s7_tables.PI_SERVICES[pi]
                name = f"PI service {pi} ({name})"
        raise _deny("s7comm", f"job function 0x{fn & 0xFF:02x} ({name}, {category}) is not allowed")
    if rosctr == 7:
        # userdata parameter head 00 01 12, length 4, method 0x11 (request), type|group, subfunction, seq
        if len(params) != 8 or params[:3] != b"\x00\x01\x12" or params[3] != 4 or params[4] != 0x11:
            raise _deny("s7comm", "userdata parameters are not a plain request")
        kind, group, sub = params[5] >> 4, params[5] & 0x0F, params[6]
        name, category = s7_tables.USERDATA_FUNCTIONS.get((group, sub), (f"group {group} sub {sub}", "other"))
        if kind == 4 and group == 4 and sub == 1 and len(body) == 8 and body[0] == 0xFF and body[1] == 0x09:
            szl_id, szl_index = struct.unpack(">HH", body[4:8])
            if struct.unpack(">H", body[2:4])[0] == 4 and szl_id in S7_IDENTITY_SZL:
                return f"S7 read SZL 0x{szl_id:04x} index {szl_index} ({S7_IDENTITY_SZL[szl_id]})"
            raise _deny("s7comm", f"read SZL 0x{szl_id:04x} is not an identity list")
        raise _deny("s7comm", f"userdata group {group} subfunction {sub} ({name}, {category}) is not allowed")
    raise _deny(
        "s7comm", f"ROSCTR {rosctr} ({s7_tables.ROSCTR_NAMES.get(rosctr, 'unknown')}) is not a request"
    )


# --------------------------------------------------------------------------------------------- ENIP
def check_enip(data: bytes) -> str:
    if len(data) < 24:
        raise _deny("enip", "malformed: shorter than the encapsulation header")
    command, length, _session, status, _ctx, options = struct.unpack("<HHII8sI", data[:24])
    if length != len(data) - 24:
        raise _deny("enip", "malformed: encapsulation length does not match")
    if command == ENIP_LIST_IDENTITY and length == 0 and status == 0 and options == 0:
        return "ENIP ListIdentity"
    name = enip_tables.COMMAND_NAMES.get(command, f"command 0x{command:04x}")
    detail = ""
    if command in enip_tables.CIP_CARRIERS:
        service = _cip_service(data[24:])
        if service is not None:
            svc_name, category = enip_tables.SERVICES.get(
                service & 0x7F, (f"service 0x{service:02x}", "other")
            )
            detail = f" carrying CIP {svc_name} ({category})"
    raise _deny("enip", f"{name}{detail} is not an allowed read-only identity request (only ListIdentity)")


def _cip_service(body: bytes) -> int | None:
    """First CIP service code of a SendRRData/SendUnitData body, for the refusal message."""
    if len(body) < 8:
        return None
    count = struct.unpack("<H", body[6:8])[0]
    pos = 8
    for _ in range(min(count, 4)):
        if pos + 4 > len(body):
            return None
        item, size = struct.unpack("<HH", body[pos : pos + 4])
        pos += 4
        if item in (0xB2, 0xB1) and size:
            return body[pos + (2 if item == 0xB1 else 0)] if pos + 2 < len(body) else None
        pos += size
    return None


# --------------------------------------------------------------------------------------------- BACnet
def check_bacnet(data: bytes) -> str:
    if len(data) < 6 or data[0] != 0x81:
        raise _deny("bacnet", "malformed: not BVLC")
    if data[1] != 0x0A:
        raise _deny(
            "bacnet", f"BVLC function 0x{data[1]:02x} is not original-unicast-NPDU (no broadcasts, no BBMD)"
        )
    if struct.unpack(">H", data[2:4])[0] != len(data):
        raise _deny("bacnet", "malformed: BVLC length does not match")
    npdu = data[4:]
    if npdu[0] != 1 or npdu[1] & 0xA8:  # version 1; no network-layer message, no DNET/SNET (not routed)
        raise _deny("bacnet", "NPDU is a network-layer message or routed; only local application requests")
    apdu = npdu[2:]
    if not apdu:
        raise _deny("bacnet", "malformed: empty APDU")
    pdu_type = apdu[0] >> 4
    if pdu_type == 1:
        service = apdu[1] if len(apdu) > 1 else -1
        if service == BACNET_WHO_IS:
            _check_tags(apdu, 2)
            return "BACnet unicast Who-Is"
        name = bacnet_tables.UNCONFIRMED_SERVICES.get(service, ("other", False))[0]
        raise _deny("bacnet", f"unconfirmed service {service} ({name}) is not allowed (only Who-Is)")
    if pdu_type != 0 or len(apdu) < 4 or apdu[0] & 0x08:  # no segmented requests
        raise _deny("bacnet", f"APDU type {pdu_type} is not an unsegmented confirmed request")
    service = apdu[3]
    if service in (BACNET_READ_PROPERTY, BACNET_READ_PROPERTY_MULTIPLE):
        properties = _device_properties(apdu[4:], multiple=service == BACNET_READ_PROPERTY_MULTIPLE)
        what = "ReadPropertyMultiple" if service == BACNET_READ_PROPERTY_MULTIPLE else "ReadProperty"
        return f"BACnet {what} device {', '.join(properties)}"
    name = bacnet_tables.SERVICE_NAMES.get(service, f"service {service}")
    category = bacnet_tables.CONFIRMED_CATEGORIES.get(service, "other")
    raise _deny("bacnet", f"confirmed service {service} ({name}, {category}) is not allowed")


def _check_tags(apdu: bytes, pos: int) -> None:
    try:
        while pos < len(apdu):
            _n, _c, length, pos, _k = bacnet_tables.read_tag(apdu, pos)
            pos += length
    except bacnet_tables.Malformed:
        raise _deny("bacnet", "malformed tags") from None
    if pos != len(apdu):
        raise _deny("bacnet", "malformed tags")


def _device_properties(body: bytes, multiple: bool) -> list[str]:
    """Property names of a ReadProperty(Multiple) on the device object; refuses any other object or property."""
    names: list[str] = []
    try:
        pos = 0
        while pos < len(body):
            number, context, length, pos, kind = bacnet_tables.read_tag(body, pos)
            if number != 0 or not context or length != 4:
                raise _deny("bacnet", "malformed: object identifier expected")
            obj_type, _instance = bacnet_tables.object_id(int.from_bytes(body[pos : pos + 4], "big"))
            pos += 4
            if obj_type != BACNET_DEVICE_OBJECT:
                raise _deny("bacnet", f"object type {obj_type} is not the device object")
            if multiple:
                number, _c, _l, pos, kind = bacnet_tables.read_tag(body, pos)
                if kind != "open" or number != 1:
                    raise _deny("bacnet", "malformed property list")
            while True:
                number, context, length, pos, kind = bacnet_tables.read_tag(body, pos)
                if multiple and kind == "close" and number == 1:
                    break
                if kind != "data" or number != (0 if multiple else 1) or not context or not 1 <= length <= 4:
                    raise _deny("bacnet", "malformed property reference (array indexes are not used)")
                prop = int.from_bytes(body[pos : pos + length], "big")
                pos += length
                if prop not in BACNET_IDENTITY_PROPERTIES:
                    raise _deny("bacnet", f"property {prop} is not a device identity property")
                names.append(BACNET_IDENTITY_PROPERTIES[prop])
                if not multiple:
                    break
            if not multiple and pos != len(body):
                raise _deny("bacnet", "malformed: trailing data after the property reference")
    except bacnet_tables.Malformed:
        raise _deny("bacnet", "malformed tags") from None
    if not names:
        raise _deny("bacnet", "no property requested")
    return names


# --------------------------------------------------------------------------------------------- DNP3
def check_dnp3(data: bytes) -> str:
    if len(data) < 10 or data[:2] != dnp3_tables.START:
        raise _deny("dnp3", "malformed: no DNP3 link header")
    if dnp3_tables.crc16(data[:8]) != struct.unpack("<H", data[8:10])[0]:
        raise _deny("dnp3", "malformed: link header CRC")
    length, control = data[2], data[3]
    primary, function = control & 0x40, control & 0x0F
    if (
        primary
        and function == DNP3_REQUEST_LINK_STATUS
        and length == 5
        and len(data) == 10
        and control & 0x80
    ):
        return "DNP3 request link status"
    detail = f"link function {function}"
    if primary and function in dnp3_tables.LINK_USER_DATA and len(data) >= 13:
        app_fc = data[12] if len(data) > 12 else -1  # first block: transport byte, app control, function
        name = dnp3_tables.FUNCTION_NAMES.get(app_fc, "read" if app_fc == 1 else f"function {app_fc}")
        detail += f" carrying application {name} ({dnp3_tables.FUNCTION_CATEGORIES.get(app_fc, 'other')})"
    raise _deny("dnp3", f"{detail} is not allowed (only request link status, no application layer)")


# --------------------------------------------------------------------------------------------- IEC 104
def check_iec104(data: bytes) -> str:
    if len(data) < 6 or data[0] != iec104_tables.START or data[1] != len(data) - 2:
        raise _deny("iec104", "malformed APCI")
    if len(data) == 6 and data[2] == IEC104_TESTFR_ACT and data[3:6] == b"\x00\x00\x00":
        return "IEC 104 TESTFR act"
    if data[2] & 0x03 == 0x03:
        name = iec104_tables.U_FUNCTIONS.get(data[2] & 0xFC, f"U 0x{data[2]:02x}")
        raise _deny("iec104", f"U-format {name} is not allowed (only TESTFR act; never STARTDT)")
    if data[2] & 0x01 == 0:
        type_id = data[6] if len(data) > 6 else -1
        name = iec104_tables.TYPE_NAMES.get(type_id, f"type {type_id}")
        raise _deny(
            "iec104",
            f"I-format ASDU {name} ({iec104_tables.TYPE_CATEGORIES.get(type_id, 'other')}) "
            "is not allowed (no commands, no interrogation)",
        )
    raise _deny("iec104", "S-format frames are not sent (no data transfer is started)")


# --------------------------------------------------------------------------------------------- OPC UA
def check_opcua(data: bytes) -> str:
    if len(data) < 8 or struct.unpack("<I", data[4:8])[0] != len(data) or data[3] != 0x46:
        raise _deny("opcua", "malformed: message header (type, final chunk, size)")
    kind = data[:3]
    if kind == b"HEL":
        if len(data) < 32:
            raise _deny("opcua", "malformed HEL")
        return "OPC UA Hello"
    if kind not in (b"OPN", b"MSG", b"CLO"):
        raise _deny("opcua", f"message type {kind!r} is not sent by a client probe")
    pos = 12
    if kind == b"OPN":  # asymmetric header: policy uri, sender certificate, receiver thumbprint
        policy, pos = _ua_bytes(data, pos)
        if policy != OPCUA_POLICY_NONE:
            raise _deny("opcua", "OpenSecureChannel with a policy other than None")
        for _ in range(2):
            _value, pos = _ua_bytes(data, pos)
    else:
        pos += 4  # token id
    pos += 8  # sequence number, request id
    if pos + 4 > len(data) or data[pos] != 0x01:
        raise _deny("opcua", "malformed: request type node id")
    node = struct.unpack("<H", data[pos + 2 : pos + 4])[0]
    expected = {b"OPN": OPCUA_OPEN_SECURE_CHANNEL, b"CLO": OPCUA_CLOSE_SECURE_CHANNEL}.get(kind)
    if expected is not None and node == expected:
        return f"OPC UA {opcua_tables.REQUESTS[node][0]}"
    if kind == b"MSG" and node == OPCUA_GET_ENDPOINTS:
        return "OPC UA GetEndpoints"
    name, category = opcua_tables.REQUESTS.get(node, (f"node {node}", "other"))
    raise _deny("opcua", f"{kind.decode()} {name} ({category}) is not allowed (only GetEndpoints)")


def _ua_bytes(data: bytes, pos: int) -> tuple[bytes | None, int]:
    if pos + 4 > len(data):
        raise _deny("opcua", "malformed: string runs past the end")
    size = struct.unpack("<i", data[pos : pos + 4])[0]
    pos += 4
    if size < 0:
        return None, pos
    if pos + size > len(data):
        raise _deny("opcua", "malformed: string runs past the end")
    return data[pos : pos + size], pos + size


# --------------------------------------------------------------------------------------------- SNMP
def check_snmp(data: bytes) -> str:
    try:
        tag, body, end = _ber(data, 0)
        if tag != 0x30 or end != len(data):
            raise ValueError
        tag, version, pos = _ber(data, body)
        if tag == 0x02 and version == b"\x03":
            return _check_snmpv3(data, pos)
        if tag != 0x02 or len(version) != 1 or version[0] not in (0, 1):
            raise _deny("snmp", "only SNMP v1/v2c messages and the SNMPv3 engine discovery are sent")
        tag, _community, pos = _ber(data, pos)
        if tag != 0x04:
            raise ValueError
        pdu_tag = data[pos]
    except (ValueError, IndexError):
        raise _deny("snmp", "malformed BER") from None
    if pdu_tag in SNMP_ALLOWED_PDUS:
        return f"SNMP {SNMP_ALLOWED_PDUS[pdu_tag]}"
    name, category, _ = snmp_tables.PDUS.get(pdu_tag, (f"PDU 0x{pdu_tag:02x}", "other", True))
    raise _deny("snmp", f"{name} ({category}) is not allowed (only get and get-next)")


def _check_snmpv3(data: bytes, pos: int) -> str:
    """The rest of a v3 message after msgVersion: allowed only as the engine discovery."""
    try:
        header, params, scoped = _v3_fields(data, pos, len(data), (0x30, 0x04, None))
        msg_id, max_size, flags, model = _v3_fields(data, *header[1:], (0x02, 0x02, 0x04, 0x02))
        (usm,) = _v3_fields(data, *params[1:], (0x30,))
        usm_fields = _v3_fields(data, *usm[1:], (0x04, 0x02, 0x02, 0x04, 0x04, 0x04))
        if scoped[0] == 0x04:
            raise _deny(
                "snmp", "SNMPv3 encrypted scoped PDU (privacy) is not sent: only the engine discovery"
            )
        if scoped[0] != 0x30:
            raise ber.BerError("msgData is neither a scoped PDU nor an encrypted one")
        context_engine, context_name, pdu = _v3_fields(data, *scoped[1:], (0x04, 0x04, None))
    except (ber.BerError, IndexError):
        raise _deny("snmp", "malformed SNMPv3 message") from None
    if pdu[0] != 0xA0:
        name, category, _ = snmp_tables.PDUS.get(pdu[0], (f"PDU 0x{pdu[0]:02x}", "other", True))
        raise _deny(
            "snmp", f"SNMPv3 {name} ({category}) is not allowed (only the engine discovery get-request)"
        )
    value = data[flags[1] : flags[2]]
    if value != bytes((SNMPV3_DISCOVERY_FLAGS,)):
        raise _deny(
            "snmp",
            f"SNMPv3 msgFlags {value.hex() or 'empty'} are not the discovery's reportable noAuthNoPriv (04)",
        )
    if _v3_int(data, model) != SNMPV3_USM:
        raise _deny("snmp", "SNMPv3 security model is not USM")
    if not 0 <= _v3_int(data, msg_id) <= 0x7FFFFFFF or not (
        SNMPV3_MIN_MAX_SIZE <= _v3_int(data, max_size) <= 0x7FFFFFFF
    ):
        raise _deny("snmp", "SNMPv3 msgID or msgMaxSize out of range")
    engine_id, boots, engine_time, user, auth, priv = usm_fields
    if any(e[1] != e[2] for e in (engine_id, user, auth, priv, context_engine, context_name)):
        raise _deny("snmp", "SNMPv3 discovery carries no engine id, user name, keys or context")
    if _v3_int(data, boots) or _v3_int(data, engine_time):
        raise _deny("snmp", "SNMPv3 discovery carries engine boots and time 0")
    try:
        _request_id, status, index, binds = _v3_fields(data, *pdu[1:], (0x02, 0x02, 0x02, 0x30))
    except (ber.BerError, IndexError):
        raise _deny("snmp", "malformed SNMPv3 get-request") from None
    if _v3_int(data, status) or _v3_int(data, index) or binds[1] != binds[2]:
        raise _deny("snmp", "SNMPv3 discovery get-request has error fields 0 and no varbinds")
    return "SNMP get-request (SNMPv3 engine discovery: noAuthNoPriv, empty user, no varbinds)"


def _v3_fields(data: bytes, start: int, end: int, tags: tuple[int | None, ...]) -> list[tuple[int, int, int]]:
    """(identifier octet, value start, value end) of exactly len(tags) elements filling [start, end),
    each with its identifier octet (None: any); an INTEGER has 1 to 5 octets."""
    out: list[tuple[int, int, int]] = []
    off = start
    for tag in tags:
        if off >= end or (tag is not None and data[off] != tag):
            raise ber.BerError("unexpected element")
        _bits, _number, vstart, vend = ber.read_tlv(data, off, end)
        if data[off] == 0x02 and not 1 <= vend - vstart <= 5:
            raise ber.BerError("bad INTEGER")
        out.append((data[off], vstart, vend))
        off = vend
    if off != end:
        raise ber.BerError("trailing data")
    return out


def _v3_int(data: bytes, element: tuple[int, int, int]) -> int:
    return ber.to_int(data, element[1], element[2])


def _ber(data: bytes, pos: int) -> tuple[int, int | bytes, int]:
    """(tag, content start for constructed tags or the content bytes, position after the element)."""
    tag = data[pos]
    size = data[pos + 1]
    pos += 2
    if size & 0x80:
        count = size & 0x7F
        if not 1 <= count <= 2:
            raise ValueError
        size = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + size > len(data):
        raise ValueError
    if tag & 0x20:
        return tag, pos, pos + size
    return tag, data[pos : pos + size], pos + size


# --------------------------------------------------------------------------------------------- banners
def check_banner(data: bytes) -> str:
    if data == HTTP_HEAD:
        return "HTTP HEAD /"
    raise _deny("banner", "a banner probe sends nothing or the fixed 'HEAD / HTTP/1.0' request")


CHECKS: dict[str, Callable[[bytes], str]] = {
    "modbus": check_modbus,
    "s7comm": check_s7comm,
    "enip": check_enip,
    "bacnet": check_bacnet,
    "dnp3": check_dnp3,
    "iec104": check_iec104,
    "opcua": check_opcua,
    "snmp": check_snmp,
    "banner": check_banner,
}


def check_request(protocol: str, data: bytes) -> str:
    """The purpose of an allowed request, or RequestDenied naming the rule."""
    check = CHECKS.get(protocol)
    if check is None:
        raise _deny(protocol, "no read-only request is known for this protocol")
    try:
        return check(bytes(data))
    except RequestDenied:
        raise
    except (IndexError, struct.error, ValueError):
        raise _deny(protocol, "malformed bytes") from None
