"""EtherNet/IP encapsulation (TCP/UDP 44818), CIP explicit messaging, and class-1 I/O (UDP 2222).

Counting follows the corpus (tshark 4.0): one ``enip`` PDU per encapsulation message, key
``cmd/0x<command>``; one ``cip`` PDU per CIP service code, key ``svc/0x<7-bit service>``, requests and
responses alike. Services embedded in a Multiple Service Packet (0x0A) and the request wrapped by an
Unconnected Send (0x52 to the Connection Manager) count as well as the wrapper; the reply to an
Unconnected Send is the embedded service's own reply (one PDU). Class-1 I/O datagrams on UDP 2222 carry
no encapsulation header and no service code: tshark counts their frames under ``cip`` but no PDU, and
the flow records them under function ``io``.

Layout references (facts only): ODVA CIP Vol. 1/2; Wireshark epan/dissectors/packet-enip.c,
packet-cip.c, packet-cip.h (EPATH segment types, service names, vendor and device-type tables);
Rockwell 1756-PM020 (Logix data-table services 0x4C-0x55); Rockwell DF1 manual 1770-6.5.16 (PCCC).
"""

from __future__ import annotations

import struct
from typing import Any

from icsaudit.passive.protocols.base import Dissector, StreamBuffer
from icsaudit.passive.session import MAX_IDENTITY_CALLS

ENIP_PORT = 44818
IO_PORT = 2222
HEADER = 24
MAX_ENIP_LENGTH = 65511  # the length field is 16-bit; header + data fit one 64 KiB buffer

# Encapsulation commands (packet-enip.c). 0x0001-0x0003 are legacy codes still sent by RSLinx.
COMMAND_NAMES: dict[int, str] = {
    0x0000: "nop",
    0x0001: "list_targets",
    0x0002: "legacy_0x0002",
    0x0003: "legacy_0x0003",
    0x0004: "list_services",
    0x0063: "list_identity",
    0x0064: "list_interfaces",
    0x0065: "register_session",
    0x0066: "unregister_session",
    0x006F: "send_rr_data",
    0x0070: "send_unit_data",
    0x0072: "indicate_status",
    0x0073: "cancel",
}
COMMAND_CATEGORIES: dict[int, str] = {
    0x0001: "identify",
    0x0004: "identify",
    0x0063: "identify",
    0x0064: "identify",
}
# Commands whose payload is a CIP message: the CIP PDUs inside are the operations, so the wrapper is
# counted in functions only (not in the flow's operation categories, which would double count).
CIP_CARRIERS = frozenset((0x006F, 0x0070))

# Common Packet Format item types.
ITEM_CONNECTED_ADDRESS = 0x00A1
ITEM_CONNECTED_DATA = 0x00B1
ITEM_UNCONNECTED_DATA = 0x00B2
ITEM_LIST_IDENTITY = 0x000C

# CIP classes that change how a service is read.
CLASS_IDENTITY = 0x01
CLASS_MESSAGE_ROUTER = 0x02
CLASS_CONNECTION_MANAGER = 0x06
CLASS_PCCC = 0x67
CLASS_SYMBOL = 0x6B

SERVICE_MSP = 0x0A
SERVICE_UNCONNECTED_SEND = 0x52
SERVICE_EXECUTE_PCCC = 0x4B

# Common services (CIP Vol. 1 appendix A) and the Logix data-table services that apply to symbolic
# (tag) paths and the Symbol class (1756-PM020): service -> (name, category).
SERVICES: dict[int, tuple[str, str]] = {
    0x01: ("get_attributes_all", "read"),
    0x02: ("set_attributes_all", "write"),
    0x03: ("get_attribute_list", "read"),
    0x04: ("set_attribute_list", "write"),
    0x05: ("reset", "mode"),
    0x06: ("start", "mode"),
    0x07: ("stop", "mode"),
    0x08: ("create", "write"),
    0x09: ("delete", "write"),
    0x0A: ("multiple_service_packet", "other"),
    0x0D: ("apply_attributes", "write"),
    0x0E: ("get_attribute_single", "read"),
    0x10: ("set_attribute_single", "write"),
    0x11: ("find_next_object_instance", "read"),
    0x15: ("restore", "write"),
    0x16: ("save", "write"),
    0x17: ("nop", "other"),
    0x18: ("get_member", "read"),
    0x19: ("set_member", "write"),
    0x1A: ("insert_member", "write"),
    0x1B: ("remove_member", "write"),
    0x1C: ("group_sync", "other"),
    0x4C: ("read_tag", "read"),
    0x4D: ("write_tag", "write"),
    0x4E: ("read_modify_write_tag", "write"),
    0x52: ("read_tag_fragmented", "read"),
    0x53: ("write_tag_fragmented", "write"),
    0x55: ("get_instance_attribute_list", "read"),
}

# Class-specific services override the table above: (class, service) -> (name, category).
# Connection Manager 0x06 (CIP Vol. 1 3-5.5). Rockwell Logix objects, as seen in the ITI captures
# (iti__EIP-*, iti__cip_*) and Wireshark's Logix class names: 0x67 PCCC, 0x6A routine code (0x4F
# reads a routine = upload, 0x50 writes it = download/online edit), 0x74 controller edit lock
# (0x4B acquire, 0x4C release: RSLogix takes it before mode changes and edits).
CLASS_SERVICES: dict[tuple[int, int], tuple[str, str]] = {
    (CLASS_CONNECTION_MANAGER, 0x4E): ("forward_close", "other"),
    (CLASS_CONNECTION_MANAGER, 0x52): ("unconnected_send", "other"),
    (CLASS_CONNECTION_MANAGER, 0x54): ("forward_open", "other"),
    (CLASS_CONNECTION_MANAGER, 0x56): ("get_connection_data", "diagnostic"),
    (CLASS_CONNECTION_MANAGER, 0x57): ("search_connection_data", "diagnostic"),
    (CLASS_CONNECTION_MANAGER, 0x5A): ("get_connection_owner", "diagnostic"),
    (CLASS_CONNECTION_MANAGER, 0x5B): ("large_forward_open", "other"),
    (CLASS_PCCC, 0x4B): ("execute_pccc", "other"),
    (0x6A, 0x4F): ("read_routine", "program"),
    (0x6A, 0x50): ("write_routine", "program"),
    (0x74, 0x4B): ("acquire_lock", "auth"),
    (0x74, 0x4C): ("release_lock", "auth"),
}

# Every service on these classes has one meaning: Rockwell's firmware-update (ControlFLASH) object
# 0xA1 and the CIP File object 0x37 (EDS/firmware files).
CLASS_CATEGORIES: dict[int, str] = {0xA1: "firmware", 0x37: "firmware"}

# Request categories kept as single events: category -> event kind.
EVENT_KINDS: dict[str, str] = {
    "write": "write",
    "mode": "mode",
    "program": "program",
    "firmware": "firmware",
    "auth": "lock",
}
# What an event did, for the reader of a report: (class or None for any class, service) -> action.
ACTIONS: dict[tuple[int | None, int], str] = {
    (None, 0x05): "reset",
    (None, 0x06): "start",
    (None, 0x07): "stop",
    (0x6A, 0x4F): "upload",
    (0x6A, 0x50): "download",
    (0x74, 0x4B): "lock",
    (0x74, 0x4C): "unlock",
    (0xA1, 0x4B): "firmware_update",
    (0xA1, 0x4D): "firmware_update",
    (0xA1, 0x51): "firmware_update",
}

# PCCC (DF1 command set, 1770-6.5.16; names as Wireshark packet-cip.c) carried by Execute PCCC:
# (command, function or None for any) -> (name, category).
PCCC_FUNCTIONS: dict[tuple[int, int | None], tuple[str, str]] = {
    (0x00, None): ("protected_write", "write"),
    (0x01, None): ("unprotected_read", "read"),
    (0x02, None): ("protected_bit_write", "write"),
    (0x04, None): ("protected_read", "read"),
    (0x05, None): ("unprotected_bit_write", "write"),
    (0x06, 0x03): ("diagnostic_status", "identify"),
    (0x06, None): ("diagnostic", "diagnostic"),
    (0x08, None): ("unprotected_write", "write"),
    (0x0F, 0x11): ("get_edit_resource", "program"),
    (0x0F, 0x12): ("return_edit_resource", "program"),
    (0x0F, 0x17): ("read_bytes_physical", "read"),
    (0x0F, 0x18): ("write_bytes_physical", "write"),
    (0x0F, 0x26): ("read_modify_write", "write"),
    (0x0F, 0x3A): ("set_cpu_mode", "mode"),
    (0x0F, 0x50): ("download_all_request", "program"),
    (0x0F, 0x52): ("download_completed", "program"),
    (0x0F, 0x53): ("upload_all_request", "program"),
    (0x0F, 0x55): ("upload_completed", "program"),
    (0x0F, 0x67): ("typed_write", "write"),
    (0x0F, 0x68): ("typed_read", "read"),
    (0x0F, 0x80): ("change_cpu_mode", "mode"),
    (0x0F, 0xA1): ("typed_logical_read_2_address", "read"),
    (0x0F, 0xA2): ("typed_logical_read_3_address", "read"),
    (0x0F, 0xA9): ("typed_logical_write_2_address", "write"),
    (0x0F, 0xAA): ("typed_logical_write_3_address", "write"),
    (0x0F, 0xAB): ("typed_logical_masked_write_3_address", "write"),
}
# Change CPU mode (0x0F/0x80) target modes.
PCCC_CPU_MODES: dict[int, str] = {
    0x01: "program",
    0x06: "run",
    0x07: "test_continuous",
    0x08: "test_single",
    0x09: "test_debug",
}

# ODVA vendor ids of common ICS vendors (Wireshark cip_vendor_vals); the id is kept beside the name.
VENDORS: dict[int, str] = {
    1: "Rockwell Automation/Allen-Bradley",
    3: "Honeywell",
    5: "Rockwell Automation/Reliance Electric",
    8: "Molex",
    26: "Festo",
    40: "WAGO",
    44: "Yaskawa",
    46: "ABB",
    47: "Omron",
    48: "TURCK",
    50: "Real Time Automation",
    57: "Pepperl+Fuchs",
    68: "Eaton",
    82: "Mitsubishi Electric Automation",
    83: "Opto 22",
    90: "HMS Networks",
    108: "Beckhoff Automation",
    109: "National Instruments",
    143: "GE Industrial Systems",
    145: "Siemens Energy & Automation",
    161: "Mitsubishi Electric",
    181: "Pilz",
    243: "Schneider Electric",
    250: "Yokogawa",
    255: "Bosch Rexroth",
    259: "LS Electric",
    283: "Hilscher",
    309: "ProSoft Technology",
    315: "SEW Eurodrive",
    319: "Fuji Electric",
    345: "Endress+Hauser",
    356: "FANUC Robotics",
    674: "Phoenix Contact",
}

# CIP device profiles (Wireshark cip_devtype_vals).
DEVICE_TYPES: dict[int, str] = {
    0x00: "Generic Device (deprecated)",
    0x02: "AC Drive",
    0x03: "Motor Overload",
    0x04: "Limit Switch",
    0x05: "Inductive Proximity Switch",
    0x06: "Photoelectric Sensor",
    0x07: "General Purpose Discrete I/O",
    0x09: "Resolver",
    0x0C: "Communications Adapter",
    0x0E: "Programmable Logic Controller",
    0x10: "Position Controller",
    0x13: "DC Drive",
    0x15: "Contactor",
    0x16: "Motor Starter",
    0x17: "Soft Start",
    0x18: "Human-Machine Interface",
    0x1A: "Mass Flow Controller",
    0x1B: "Pneumatic Valve",
    0x1C: "Vacuum Pressure Gauge",
    0x1D: "Process Control Value",
    0x1E: "Residual Gas Analyzer",
    0x22: "Position Sensor",
    0x23: "Safety Discrete I/O Device",
    0x25: "CIP Motion Drive",
    0x2A: "Safety Analog I/O Device",
    0x2B: "Generic Device (keyable)",
    0x2C: "Managed Ethernet Switch",
    0x96: "Embedded Component",
}

# Identity object (class 1) attributes reported in the corpus truth: attribute id -> truth key.
IDENTITY_ATTRIBUTES: dict[int, str] = {
    1: "vendor_id",
    2: "device_type",
    3: "product_code",
    4: "revision",
    6: "serial_number",
    7: "product_name",
}
MAX_MSP_SERVICES = 256  # embedded services honoured per Multiple Service Packet
MAX_PENDING = 64  # outstanding requests remembered per flow for reply matching
MAX_PATH_MEMO = 1024  # distinct request paths remembered (module-wide) with their decoding
MAX_IDENTITY_MEMO = 256  # identity replies remembered per flow as already reported

_U32 = struct.Struct("<I")
# Interned function keys.
_CMD_KEYS = {command: f"cmd/0x{command:04x}" for command in COMMAND_NAMES}
_SVC_KEYS = tuple(f"svc/0x{service:02x}" for service in range(128))
_SERVICE_CATEGORIES = tuple(SERVICES.get(service, ("", "other"))[1] for service in range(128))


class PathInfo:
    """What a request path addresses: the last class/instance/attribute and any symbolic tag."""

    __slots__ = ("cls", "instance", "attribute", "tag")

    def __init__(self) -> None:
        self.cls: int | None = None
        self.instance: int | None = None
        self.attribute: int | None = None
        self.tag = ""


# Request path bytes -> decoded path: clients poll the same few paths, so each is decoded once. The
# PathInfo objects are shared and never modified after decoding.
_PATH_MEMO: dict[bytes, PathInfo | None] = {}


def _parse_path(data: bytes, off: int, end: int) -> PathInfo | None:
    raw = data[off:end]
    path = _PATH_MEMO.get(raw, False)
    if path is False:
        path = parse_epath(raw, 0, len(raw))
        if len(_PATH_MEMO) >= MAX_PATH_MEMO:
            _PATH_MEMO.clear()
        _PATH_MEMO[raw] = path
    return path


def parse_epath(data: bytes, off: int, end: int) -> PathInfo | None:
    """Decode a padded EPATH; None when a segment runs past ``end`` or is unknown."""
    info = PathInfo()
    tags: list[str] = []
    while off < end:
        seg = data[off]
        kind = seg & 0xE0
        if kind == 0x20:  # logical segment: type in bits 2-4, format in bits 0-1
            fmt = seg & 0x03
            if seg == 0x34:  # electronic key: key format byte + 8 bytes
                off += 10
                continue
            if fmt == 0:
                if off + 2 > end:
                    return None
                value = data[off + 1]
                off += 2
            elif fmt == 1:  # pad byte then 16-bit value
                if off + 4 > end:
                    return None
                value = data[off + 2] | (data[off + 3] << 8)
                off += 4
            elif fmt == 2:
                if off + 6 > end:
                    return None
                value = int.from_bytes(data[off + 2 : off + 6], "little")
                off += 6
            else:
                return None
            logical = seg & 0x1C
            if logical == 0x00:
                info.cls = value
                info.instance = info.attribute = None
            elif logical == 0x04:
                info.instance = value
            elif logical == 0x10:
                info.attribute = value
            elif logical == 0x08 and tags:  # member id after a tag = array element
                tags[-1] += f"[{value}]"
        elif seg == 0x91:  # ANSI extended symbolic segment: length, name, pad to even
            if off + 2 > end:
                return None
            size = data[off + 1]
            if off + 2 + size > end:
                return None
            tags.append(data[off + 2 : off + 2 + size].decode("latin-1"))
            off += 2 + size + (size & 1)
        elif kind == 0x00:  # port segment
            if seg & 0x10:  # extended link address: size byte, address, pad to even
                if off + 2 > end:
                    return None
                size = data[off + 1]
                off += 2 + size + (size & 1)
            else:
                off += 2
            if (seg & 0x0F) == 0x0F:
                off += 2  # 16-bit extended port id
        elif kind == 0x80:  # data segment: simple data = word count + words
            if off + 2 > end:
                return None
            off += 2 + 2 * data[off + 1] if seg == 0x80 else end - off
        elif kind == 0x60:  # symbolic segment: size in the low 5 bits
            size = seg & 0x1F
            if off + 1 + size > end:
                return None
            tags.append(data[off + 1 : off + 1 + size].decode("latin-1"))
            off += 1 + size + ((1 + size) & 1)
        else:
            return None
    if off > end:
        return None
    if tags:
        info.tag = ".".join(tags)
    return info


def classify(service: int, path: PathInfo | None) -> tuple[str, str]:
    """(name, category) of a request service on the addressed class."""
    cls = path.cls if path is not None else None
    if cls is not None:
        category = CLASS_CATEGORIES.get(cls)
        specific = CLASS_SERVICES.get((cls, service))
        if specific is not None:
            return specific if category is None else (specific[0], category)
        if category is not None:
            return f"service_0x{service:02x}", category
    known = SERVICES.get(service)
    if known is not None:
        return known
    return f"service_0x{service:02x}", "other"


def pccc_function(data: bytes, off: int, end: int) -> tuple[str, str, dict[str, Any]]:
    """(name, category, detail) of the PCCC command behind Execute PCCC: requestor id, CMD STS TNSW FNC."""
    if off >= end:
        return "execute_pccc", "other", {}
    pos = off + data[off]  # the requestor id starts with its own length
    if data[off] < 7 or pos + 4 > end:
        return "execute_pccc", "other", {}
    command = data[pos] & 0x0F
    function = data[pos + 4] if pos + 4 < end else None
    known = PCCC_FUNCTIONS.get((command, function)) or PCCC_FUNCTIONS.get((command, None))
    detail: dict[str, Any] = {"pccc_command": f"0x{command:02x}"}
    if function is not None and command in (0x06, 0x07, 0x0F):
        detail["pccc_function"] = f"0x{function:02x}"
    if (command, function) == (0x0F, 0x80) and pos + 5 < end:
        detail["cpu_mode"] = PCCC_CPU_MODES.get(data[pos + 5], f"0x{data[pos + 5]:02x}")
    if known is None:
        return "execute_pccc", "other", detail
    return known[0], known[1], detail


def vendor_name(vendor_id: int) -> str:
    return VENDORS.get(vendor_id, f"vendor {vendor_id}")


class Request:
    """A request remembered until its reply: what it addressed and how it was classified."""

    __slots__ = ("service", "path", "category", "embedded")

    def __init__(self, service: int, path: PathInfo | None, category: str) -> None:
        self.service = service
        self.path = path
        self.category = category
        self.embedded: list[Request] = []


class EnipCipDissector(Dissector):
    name = "enip"
    tcp_ports = frozenset((ENIP_PORT,))
    udp_ports = frozenset((ENIP_PORT, IO_PORT))
    stats_protocols = ("enip", "cip")
    sniff_priority = 40

    def __init__(self, session) -> None:
        super().__init__(session)
        self.buffers = (StreamBuffer(), StreamBuffer())
        # replies are matched by service code: explicit messaging has one request outstanding per
        # connection in practice, and MSP replies are matched element by element.
        self.pending: dict[int, Request] = {}
        self.answered = False
        # Identity replies already reported (and remembered by the recorder, so a repeat is a no-op).
        self.identities_reported: set[tuple] = set()

    # -- transport ---------------------------------------------------------------------------
    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        if len(data) < HEADER:
            return False
        command = data[0] | (data[1] << 8)
        length = data[2] | (data[3] << 8)
        options = data[20:24]
        if command not in COMMAND_NAMES or options != b"\x00\x00\x00\x00":
            return False
        return len(data) == HEADER + length or (len(data) > HEADER + length and command in CIP_CARRIERS)

    @staticmethod
    def _pdu_length(buf: bytes) -> int | None:
        if len(buf) < 4:
            return None
        command = buf[0] | (buf[1] << 8)
        if command not in COMMAND_NAMES:
            return 0  # not an encapsulation header: resync on the next segment
        return HEADER + (buf[2] | (buf[3] << 8))

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        buffer = self.buffers[0 if from_client else 1]
        if not buffer.buf:
            # Fast path: nothing buffered, so whole messages are taken in place from the segment
            # (usually exactly one); only a partial or bad remainder goes through the stream buffer.
            off, size = 0, len(data)
            while size - off >= 4 and (data[off] | (data[off + 1] << 8)) in COMMAND_NAMES:
                end = off + HEADER + (data[off + 2] | (data[off + 3] << 8))
                if end > size:
                    break
                self._message(data if end == size and not off else data[off:end], from_client)
                off = end
            if off == size:
                return
            if off:
                data = data[off:]
        before = buffer.dropped
        for message in buffer.feed(data, self._pdu_length):
            self._message(message, from_client)
        if buffer.dropped != before:
            self.session.error("enip: bytes without a valid encapsulation header dropped")

    def on_gap(self, from_client: bool) -> None:
        self.buffers[0 if from_client else 1].reset()

    def on_udp(self, data: bytes, from_client: bool) -> None:
        session = self.session
        if session.server_port == IO_PORT or session.client_port == IO_PORT:
            self._io(data)
            return
        if len(data) < HEADER or len(data) < HEADER + (data[2] | (data[3] << 8)):
            session.error("enip: truncated encapsulation datagram")
            return
        self._message(data, from_client)

    def _io(self, data: bytes) -> None:
        """Class-1 I/O: no service code to count; tshark's cipio frame still counts as a cip frame."""
        session = self.session
        session.frame_only("cip")
        functions = session.agg.functions
        functions["io"] = functions.get("io", 0) + 1

    # -- encapsulation -----------------------------------------------------------------------
    def _message(self, msg: bytes, from_client: bool) -> None:
        session = self.session
        command = msg[0] | (msg[1] << 8)
        status = _U32.unpack_from(msg, 8)[0]
        end = HEADER + (msg[2] | (msg[3] << 8))
        is_request = from_client
        category = "other" if command in CIP_CARRIERS else COMMAND_CATEGORIES.get(command, "other")
        session.pdu(
            _CMD_KEYS.get(command) or f"cmd/0x{command:04x}",
            category,
            protocol="enip",
            request=is_request and command not in CIP_CARRIERS,
            exception=status != 0,
        )
        if status or end <= HEADER:
            return
        if command in CIP_CARRIERS:
            self._cpf_cip(msg, HEADER + 6, end, from_client)
        elif command == 0x0063 and not from_client:
            self._list_identity(msg, HEADER, end)
        elif command == 0x0004 and not from_client:
            session.service(protocol="enip", details={"list_services": True})

    def _cpf_cip(self, msg: bytes, off: int, end: int, from_client: bool) -> None:
        """Common Packet Format after interface handle + timeout: the data item holds the CIP message."""
        if off + 2 > end:
            self.session.error("enip: truncated common packet format")
            return
        count = msg[off] | (msg[off + 1] << 8)
        off += 2
        for _ in range(min(count, 8)):
            if off + 4 > end:
                self.session.error("enip: truncated CPF item")
                return
            item_type = msg[off] | (msg[off + 1] << 8)
            length = msg[off + 2] | (msg[off + 3] << 8)
            start = off + 4
            off = start + length
            if off > end:
                self.session.error("enip: CPF item longer than its message")
                return
            if item_type == ITEM_UNCONNECTED_DATA and length:
                self._cip(msg, start, off, from_client, 0)
            elif item_type == ITEM_CONNECTED_DATA and length > 2:  # 16-bit sequence count first
                self._cip(msg, start + 2, off, from_client, 0)

    def _list_identity(self, msg: bytes, off: int, end: int) -> None:
        """ListIdentity reply: CPF item 0x0C with the device's identity."""
        session = self.session
        if off + 2 > end:
            return
        count = msg[off] | (msg[off + 1] << 8)
        off += 2
        for _ in range(min(count, 8)):
            if off + 4 > end:
                return
            item_type = msg[off] | (msg[off + 1] << 8)
            length = msg[off + 2] | (msg[off + 3] << 8)
            start = off + 4
            off = start + length
            if item_type != ITEM_LIST_IDENTITY or off > end:
                continue
            # protocol version (2) + sockaddr (16), then the identity fields
            pos = start + 18
            if pos + 15 > off:
                session.error("enip: truncated ListIdentity item")
                continue
            vendor = msg[pos] | (msg[pos + 1] << 8)
            device_type = msg[pos + 2] | (msg[pos + 3] << 8)
            product_code = msg[pos + 4] | (msg[pos + 5] << 8)
            major, minor = msg[pos + 6], msg[pos + 7]
            status = msg[pos + 8] | (msg[pos + 9] << 8)
            serial = int.from_bytes(msg[pos + 10 : pos + 14], "little")
            name_length = msg[pos + 14]
            name_end = pos + 15 + name_length
            if name_end > off:
                session.error("enip: ListIdentity product name overruns its item")
                continue
            name = msg[pos + 15 : name_end].decode("latin-1").strip(" \x00")
            state = msg[name_end] if name_end < off else None
            raw: dict[str, Any] = {
                "src": session.src_ip,
                "vendor": vendor,
                "devtype": device_type,
                "prodcode": product_code,
                "revision": (major << 8) | minor,  # tshark shows major.minor as one big-endian uint16
                "status": status,
                "serial": serial,
                "name": name,
            }
            if state is not None:
                raw["state"] = state
            fields = {
                "vendor": vendor_name(vendor),
                "vendor_id": vendor,
                "model": name,
                "product_code": product_code,
                "firmware": f"{major}.{minor}",
                "serial": f"0x{serial:08x}",
                "device_type": DEVICE_TYPES.get(device_type, f"device type {device_type}"),
            }
            session.identity(raw, fields, protocol="enip")
            session.service(
                protocol="enip", banner=name, details={"vendor_id": vendor, "product_code": product_code}
            )

    # -- CIP ---------------------------------------------------------------------------------
    def _cip(self, msg: bytes, off: int, end: int, from_client: bool, depth: int) -> Request | None:
        """One CIP message router request or reply; returns the request (for MSP bookkeeping)."""
        session = self.session
        if off >= end:
            session.error("cip: empty message", protocol="cip")
            return None
        code = msg[off]
        service = code & 0x7F
        function = _SVC_KEYS[service]
        if off + 2 > end:  # tshark still shows the service code of a one-byte message
            session.pdu(function, _SERVICE_CATEGORIES[service], protocol="cip", request=not code & 0x80)
            session.error("cip: message shorter than its header", protocol="cip")
            return None
        if not code & 0x80:
            return self._request(msg, off, end, service, function, depth)
        if off + 4 > end:
            session.pdu(function, "other", protocol="cip", request=False)
            session.error("cip: truncated reply header", protocol="cip")
            return None
        general_status = msg[off + 2]
        body = off + 4 + 2 * msg[off + 3]
        request = self.pending.pop(service, None) if depth == 0 else None
        category = request.category if request is not None else _SERVICE_CATEGORIES[service]
        # 0x06 "partial transfer" still carries data; real errors are exceptions
        session.pdu(function, category, protocol="cip", request=False, exception=general_status not in (0, 6))
        if not self.answered:
            self.answered = True  # once per flow: Session.service hashes its key on every call
            session.service(protocol="cip", details={"explicit_messaging": True})
        if body > end:
            session.error("cip: reply status overruns the message", protocol="cip")
            return None
        if general_status not in (0, 6, 0x1E):  # 0x1E: MSP with an embedded error still lists replies
            return None
        self._reply_body(msg, body, end, service, request, depth)
        return None

    def _request(
        self, msg: bytes, off: int, end: int, service: int, function: str, depth: int
    ) -> Request | None:
        session = self.session
        path_end = off + 2 + 2 * msg[off + 1]
        path = _parse_path(msg, off + 2, path_end) if path_end <= end else None
        name, category = classify(service, path)
        extra: dict[str, Any] = {}
        if path is not None and path.cls == CLASS_PCCC and service == SERVICE_EXECUTE_PCCC:
            name, category, extra = pccc_function(msg, path_end, end)
        session.pdu(function, category, protocol="cip", request=True)
        if path is None:
            session.error(f"cip: bad request path in service 0x{service:02x}", protocol="cip")
            return None
        request = Request(service, path, category)
        kind = EVENT_KINDS.get(category)
        if kind is not None:
            self._event(kind, category, function, name, request, extra)
        if depth < 4:
            if service == SERVICE_MSP and path.cls in (CLASS_MESSAGE_ROUTER, None):
                request.embedded = self._msp(msg, path_end, end, True, depth, None)
            elif service == SERVICE_UNCONNECTED_SEND and path.cls == CLASS_CONNECTION_MANAGER:
                # priority/tick, timeout ticks, embedded message size, embedded message, route path
                if path_end + 4 <= end:
                    size = msg[path_end + 2] | (msg[path_end + 3] << 8)
                    inner_end = path_end + 4 + size
                    if inner_end <= end:
                        inner = self._cip(msg, path_end + 4, inner_end, True, depth + 1)
                        if inner is not None:
                            self._remember(inner)  # its reply comes back unwrapped
                        return request
                session.error("cip: truncated Unconnected Send", protocol="cip")
                return request
        if depth == 0:
            self._remember(request)
        return request

    def _remember(self, request: Request) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.pending.clear()
        self.pending[request.service] = request

    def _msp(
        self, msg: bytes, off: int, end: int, is_request: bool, depth: int, request: Request | None
    ) -> list[Request]:
        """Multiple Service Packet body: count, offsets (from the count field), embedded messages."""
        session = self.session
        if off + 2 > end:
            session.error("cip: truncated Multiple Service Packet", protocol="cip")
            return []
        count = msg[off] | (msg[off + 1] << 8)
        if off + 2 + 2 * count > end or count > MAX_MSP_SERVICES:
            session.error("cip: Multiple Service Packet offsets overrun the message", protocol="cip")
            return []
        offsets = [off + (msg[off + 2 + 2 * i] | (msg[off + 3 + 2 * i] << 8)) for i in range(count)]
        embedded: list[Request] = []
        for index, start in enumerate(offsets):
            stop = offsets[index + 1] if index + 1 < count else end
            if not start < stop <= end:  # a bad next offset must not hide this service
                stop = end
            if not off + 2 + 2 * count <= start < stop <= end:
                session.error("cip: bad Multiple Service Packet offset", protocol="cip")
                continue
            if is_request:
                inner = self._cip(msg, start, stop, True, depth + 1)
                if inner is not None:
                    embedded.append(inner)
            else:
                self._embedded_reply(msg, start, stop, depth, request, index)
        return embedded

    def _embedded_reply(
        self, msg: bytes, start: int, stop: int, depth: int, request: Request | None, index: int
    ) -> None:
        session = self.session
        code = msg[start]
        service = code & 0x7F
        match = None
        if request is not None and index < len(request.embedded):
            candidate = request.embedded[index]
            if candidate.service == service:
                match = candidate
        category = match.category if match is not None else _SERVICE_CATEGORIES[service]
        status = msg[start + 2] if start + 2 < stop else 0
        session.pdu(
            _SVC_KEYS[service], category, protocol="cip", request=False, exception=status not in (0, 6)
        )
        if start + 4 <= stop and status in (0, 6):
            body = start + 4 + 2 * msg[start + 3]
            if body <= stop:
                self._reply_body(msg, body, stop, service, match, depth + 1)

    def _reply_body(
        self, msg: bytes, body: int, end: int, service: int, request: Request | None, depth: int
    ) -> None:
        if service == SERVICE_MSP and depth < 4:
            self._msp(msg, body, end, False, depth, request)
            return
        if request is None or request.path is None or request.path.cls != CLASS_IDENTITY:
            return
        if service == 0x01:
            attribute = None
        elif service == 0x0E and request.path.attribute in IDENTITY_ATTRIBUTES:
            attribute = request.path.attribute
        else:
            return
        # Devices answer the same identity polls with the same bytes: once reported from this side of
        # the flow (same MACs), a repeat would change nothing, so it is not decoded again. Only
        # remembered while the recorder still remembers identity calls (then its repeat is a no-op).
        session = self.session
        key = (session.from_client, session.client_mac, session.server_mac, attribute, msg[body:end])
        reported = self.identities_reported
        if key in reported:
            return
        if len(reported) < MAX_IDENTITY_MEMO and len(session.recorder.identity_calls) < MAX_IDENTITY_CALLS:
            reported.add(key)
        if attribute is None:
            self._identity_all(msg, body, end)
        else:
            self._identity_attributes(msg, body, end, [attribute])

    def _identity_all(self, msg: bytes, off: int, end: int) -> None:
        """Identity object Get_Attributes_All reply: vendor, type, code, revision, status, serial, name."""
        if off + 15 > end:
            return
        name_length = msg[off + 14]
        name = msg[off + 15 : min(end, off + 15 + name_length)].decode("latin-1").strip(" \x00")
        self._report_cip_identity(
            {
                "vendor_id": msg[off] | (msg[off + 1] << 8),
                "device_type": msg[off + 2] | (msg[off + 3] << 8),
                "product_code": msg[off + 4] | (msg[off + 5] << 8),
                "major_rev": msg[off + 6],
                "minor_rev": msg[off + 7],
                "serial_number": int.from_bytes(msg[off + 10 : off + 14], "little"),
                "product_name": name,
            }
        )

    def _identity_attributes(self, msg: bytes, off: int, end: int, attributes: list[int]) -> None:
        values: dict[str, Any] = {}
        for attribute in attributes:
            key = IDENTITY_ATTRIBUTES[attribute]
            if key == "product_name":
                if off < end:
                    values[key] = msg[off + 1 : min(end, off + 1 + msg[off])].decode("latin-1").strip(" \x00")
            elif key == "serial_number" and off + 4 <= end:
                values[key] = int.from_bytes(msg[off : off + 4], "little")
            elif key == "revision" and off + 2 <= end:
                values["major_rev"], values["minor_rev"] = msg[off], msg[off + 1]
            elif off + 2 <= end:
                values[key] = msg[off] | (msg[off + 1] << 8)
        if values:
            self._report_cip_identity(values)

    def _report_cip_identity(self, values: dict[str, Any]) -> None:
        session = self.session
        raw = {"src": session.src_ip, **values}
        fields: dict[str, Any] = {}
        if "vendor_id" in values:
            fields["vendor"] = vendor_name(values["vendor_id"])
            fields["vendor_id"] = values["vendor_id"]
        if "device_type" in values:
            fields["device_type"] = DEVICE_TYPES.get(
                values["device_type"], f"device type {values['device_type']}"
            )
        if "product_code" in values:
            fields["product_code"] = values["product_code"]
        if "major_rev" in values:
            fields["firmware"] = f"{values['major_rev']}.{values['minor_rev']}"
        if "serial_number" in values:
            fields["serial"] = f"0x{values['serial_number']:08x}"
        if values.get("product_name"):
            fields["model"] = values["product_name"]
        session.identity(raw, fields, protocol="cip")

    def _event(
        self, kind: str, category: str, function: str, name: str, request: Request, extra: dict[str, Any]
    ) -> None:
        path = request.path
        detail: dict[str, Any] = {"service": name, **extra}
        if path is not None:
            if path.cls is not None:
                detail["class"] = f"0x{path.cls:02x}"
            if path.instance is not None:
                detail["instance"] = path.instance
            if path.attribute is not None:
                detail["attribute"] = path.attribute
            if path.tag:
                detail["tag"] = path.tag
            action = ACTIONS.get((path.cls, request.service)) or ACTIONS.get((None, request.service))
        else:
            action = ACTIONS.get((None, request.service))
        if action:
            detail["action"] = action
        self.session.event(kind, category, function, detail, protocol="cip")


DISSECTOR = EnipCipDissector
