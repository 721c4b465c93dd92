"""DNP3 (IEEE 1815) over TCP/UDP 20000: link frames, transport reassembly, application fragments.

One ``pdu()`` per link frame (as tshark counts ``dnp3`` layers); the function key is ``fc<n>`` when the
frame completes an application fragment, ``link/pri/<n>`` / ``link/sec/<n>`` for link-only frames, and
empty for a transport segment that completes nothing. Link data blocks carry a CRC each: a bad CRC is
a decode error and the frame's user data is dropped (as tshark does), never fatal.
"""

from __future__ import annotations

import struct
from typing import Any

from icsaudit.passive.protocols.base import MAX_BUFFER, Dissector, StreamBuffer

START = b"\x05\x64"
HEADER_LEN = 10
BLOCK = 16  # user data bytes per CRC-protected block
MAX_FRAGMENT = 1 << 16  # bound on a reassembled application fragment
MAX_OBJECTS = 8  # object headers kept in one event
MAX_POINTS = 16  # point values kept per object header

# Application function code -> operation category.
FUNCTION_CATEGORIES: dict[int, str] = {
    0: "other",  # confirm
    1: "read",
    2: "write",
    3: "control",  # select
    4: "control",  # operate
    5: "control",  # direct operate
    6: "control",  # direct operate, no ack
    7: "control",  # immediate freeze
    8: "control",
    9: "control",  # freeze and clear
    10: "control",
    11: "control",  # freeze at time
    12: "control",
    13: "mode",  # cold restart
    14: "mode",  # warm restart
    15: "mode",  # initialize data
    16: "mode",  # initialize application
    17: "mode",  # start application
    18: "mode",  # stop application
    19: "program",  # save configuration
    20: "other",  # enable unsolicited
    21: "other",  # disable unsolicited
    22: "other",  # assign class
    23: "diagnostic",  # delay measurement
    24: "diagnostic",  # record current time (LAN time sync, pairs with 23)
    25: "program",  # open file
    26: "program",  # close file
    27: "program",  # delete file
    28: "program",  # get file info
    29: "program",  # authenticate file
    30: "program",  # abort file
    31: "program",  # activate configuration
    32: "auth",  # authentication request (SAv5)
    33: "auth",  # authentication request, no ack
    129: "other",  # response
    130: "other",  # unsolicited response
    131: "auth",  # authentication response
}

# Which request functions are kept as individual events, and under which kind.
EVENT_KINDS: dict[int, str] = {
    2: "write",
    **dict.fromkeys(range(3, 13), "control"),
    **dict.fromkeys(range(13, 19), "mode"),
    19: "program",
    **dict.fromkeys(range(25, 32), "program"),
}

FUNCTION_NAMES: dict[int, str] = {
    2: "write",
    3: "select",
    4: "operate",
    5: "direct_operate",
    6: "direct_operate_no_ack",
    7: "immediate_freeze",
    8: "immediate_freeze_no_ack",
    9: "freeze_clear",
    10: "freeze_clear_no_ack",
    11: "freeze_at_time",
    12: "freeze_at_time_no_ack",
    13: "cold_restart",
    14: "warm_restart",
    15: "initialize_data",
    16: "initialize_application",
    17: "start_application",
    18: "stop_application",
    19: "save_configuration",
    25: "open_file",
    26: "close_file",
    27: "delete_file",
    28: "get_file_info",
    29: "authenticate_file",
    30: "abort_file",
    31: "activate_configuration",
}

# Link function (PRM set) -> category; user data (3, 4) is keyed by its application function instead.
LINK_PRIMARY_CATEGORIES: dict[int, str] = {0: "other", 1: "other", 2: "diagnostic", 9: "diagnostic"}
LINK_USER_DATA = frozenset({3, 4})
# Link functions that carry no transport/application data (tshark skips them by number, PRM or not).
LINK_NO_DATA = frozenset({0, 9, 11})

# Internal indications worth a service detail (bit in the 16-bit IIN, first octet high).
IIN_DETAILS: dict[int, str] = {
    0x8000: "iin_device_restart",
    0x4000: "iin_device_trouble",
    0x2000: "iin_local_control",
    0x1000: "iin_need_time",
    0x0020: "iin_config_corrupt",
    0x0001: "iin_function_not_supported",
}

CROB_OPS: dict[int, str] = {0: "nul", 1: "pulse_on", 2: "pulse_off", 3: "latch_on", 4: "latch_off"}
CROB_TCC: dict[int, str] = {0: "nul", 1: "close", 2: "trip", 3: "reserved"}

# Fixed object sizes (group, variation) -> bytes, for the objects in write/control requests.
OBJECT_SIZES: dict[tuple[int, int], int] = {
    (12, 1): 11,
    (12, 2): 11,
    (41, 1): 5,
    (41, 2): 3,
    (41, 3): 5,
    (41, 4): 9,
    (50, 1): 6,
    (50, 3): 6,
    (34, 1): 2,
    (34, 2): 4,
    (34, 3): 4,
    (60, 1): 0,
    (60, 2): 0,
    (60, 3): 0,
    (60, 4): 0,
}
PACKED_BITS = frozenset({(80, 1), (10, 1), (12, 3)})
AUTH_GROUP = 120
INDEX_SIZES = (0, 1, 2, 4, 1, 2, 4, 0)  # qualifier prefix code -> bytes of index/size prefix


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()
# CRC verdicts of header/block + CRC bytes already checked. Polls, their link headers and unchanged
# replies repeat byte for byte, and the bytewise CRC loop is the costliest step per frame; bounded.
_CRC_MEMO: dict[bytes, bool] = {}
MAX_CRC_MEMO = 4096
# sav5 verdict of read/poll request objects (what the requests without events need), by object bytes.
_SAV5_MEMO: dict[bytes, bool] = {}
MAX_SAV5_MEMO = 1024


def crc16(data: bytes) -> int:
    """DNP3 CRC (polynomial 0x3D65, reflected, complemented), as sent little-endian."""
    crc = 0
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return ~crc & 0xFFFF


def _crc_ok(chunk: bytes) -> bool:
    """Whether ``chunk`` (a header or data block followed by its 2-byte CRC) is intact."""
    ok = _CRC_MEMO.get(chunk)
    if ok is None:
        ok = crc16(chunk[:-2]) == chunk[-2] | (chunk[-1] << 8)
        if len(_CRC_MEMO) >= MAX_CRC_MEMO:
            _CRC_MEMO.clear()
        _CRC_MEMO[chunk] = ok
    return ok


def _wire_length(length: int) -> int:
    user = length - 5
    if user <= 0:
        return HEADER_LEN  # a length below 5 is malformed: the header alone is taken
    return length + 5 + 2 * ((user + BLOCK - 1) // BLOCK)


# Link length byte -> frame length on the wire (header, user data, block CRCs).
_WIRE_LENGTHS = tuple(_wire_length(n) for n in range(256))
# Interned function keys.
_KEYS = tuple(f"fc{n}" for n in range(256))
_LINK_SEC_KEYS = tuple(f"link/sec/{n}" for n in range(16))
_LINK_PRI_KEYS = tuple(f"link/pri/{n}" for n in range(16))
_IIN_MASK = sum(IIN_DETAILS)


def frame_length(buf: bytes) -> int | None:
    """Total on-wire length of the link frame at the start of ``buf`` (None: need more, 0: not DNP3).

    Like tshark, a frame whose start bytes or header CRC are wrong is not DNP3: the bytes are dropped.
    """
    if len(buf) < HEADER_LEN:
        return None
    if not header_ok(buf):
        return 0
    return _WIRE_LENGTHS[buf[2]]


def header_ok(data: bytes) -> bool:
    return len(data) >= HEADER_LEN and data[0] == 0x05 and data[1] == 0x64 and _crc_ok(data[:HEADER_LEN])


def parse_objects(body: bytes, offset: int) -> tuple[list[dict[str, Any]], bool]:
    """Object headers (and, where sizes are known, point values) of a request; returns (objects, sav5)."""
    objects: list[dict[str, Any]] = []
    sav5 = False
    end = len(body)
    while offset + 3 <= end and len(objects) < MAX_OBJECTS:
        group, variation, qualifier = body[offset], body[offset + 1], body[offset + 2]
        offset += 3
        if group == AUTH_GROUP:
            sav5 = True
        prefix, code = (qualifier >> 4) & 0x7, qualifier & 0x0F
        entry: dict[str, Any] = {"group": group, "variation": variation, "qualifier": qualifier}
        objects.append(entry)
        if code <= 2:  # start/stop indices of 1, 2, 4 octets
            width = (1, 2, 4)[code]
            if offset + 2 * width > end:
                entry["truncated"] = True
                break
            start = int.from_bytes(body[offset : offset + width], "little")
            stop = int.from_bytes(body[offset + width : offset + 2 * width], "little")
            offset += 2 * width
            entry["start"], entry["stop"] = start, stop
            count = stop - start + 1 if stop >= start else 0
        elif code <= 5:  # absolute address
            width = (1, 2, 4)[code - 3]
            if offset + width > end:
                entry["truncated"] = True
                break
            entry["address"] = int.from_bytes(body[offset : offset + width], "little")
            offset += width
            count = 1
        elif code == 6:  # all points, no range field
            continue
        elif code in (7, 8, 9, 0x0B):  # count of 1, 2, 4 octets (11: free format, 1-octet count)
            width = 1 if code in (7, 0x0B) else 2 if code == 8 else 4
            if offset + width > end:
                entry["truncated"] = True
                break
            count = int.from_bytes(body[offset : offset + width], "little")
            offset += width
        else:
            entry["truncated"] = True
            break
        entry["count"] = count
        offset = _skip_points(body, offset, group, variation, prefix, count, entry)
        if offset < 0:
            break
    return objects, sav5


def _skip_points(
    body: bytes, offset: int, group: int, variation: int, prefix: int, count: int, entry: dict[str, Any]
) -> int:
    """Walk the points of one object header; -1 when their size is unknown or the data is short."""
    key = (group, variation)
    if key in PACKED_BITS and prefix == 0:
        size = (count + 7) // 8
        if offset + size > len(body):
            entry["truncated"] = True
            return -1
        return offset + size
    size = OBJECT_SIZES.get(key)
    prefix_width = INDEX_SIZES[prefix]
    if size is None and prefix < 4:
        return -1  # object size unknown: the header is recorded, the rest is not walked
    points: list[dict[str, Any]] = []
    for _ in range(count):
        if offset + prefix_width > len(body):
            entry["truncated"] = True
            return -1
        index = int.from_bytes(body[offset : offset + prefix_width], "little") if prefix_width else None
        offset += prefix_width
        point_size = index if prefix >= 4 else size  # size-prefixed (free-format) objects
        if point_size is None or offset + point_size > len(body):
            entry["truncated"] = True
            return -1
        if len(points) < MAX_POINTS:
            point = _point_value(group, variation, body[offset : offset + point_size])
            if index is not None and prefix < 4:
                point["index"] = index
            points.append(point)
        offset += point_size
    if points:
        entry["points"] = points
    return offset


def _point_value(group: int, variation: int, value: bytes) -> dict[str, Any]:
    if group == 12 and variation in (1, 2) and len(value) >= 11:
        code = value[0]
        return {
            "crob_code": code,
            "op_type": CROB_OPS.get(code & 0x0F, f"reserved_{code & 0x0F}"),
            "tcc": CROB_TCC[code >> 6],
            "clear": bool(code & 0x20),
            "count": value[1],
            "on_ms": int.from_bytes(value[2:6], "little"),
            "off_ms": int.from_bytes(value[6:10], "little"),
        }
    if group == 41 and value:
        if variation == 1:
            return {"value": int.from_bytes(value[0:4], "little", signed=True)}
        if variation == 2:
            return {"value": int.from_bytes(value[0:2], "little", signed=True)}
        if variation == 3:
            return {"value": struct.unpack("<f", value[0:4])[0]}
        if variation == 4:
            return {"value": struct.unpack("<d", value[0:8])[0]}
    return {"size": len(value)}


class _Direction:
    """Transport reassembly of one direction: FIR starts, consecutive sequence numbers, FIN completes."""

    __slots__ = ("stream", "parts", "size", "next_seq")

    def __init__(self) -> None:
        self.stream = StreamBuffer()
        self.parts: list[bytes] = []
        self.size = 0
        self.next_seq = -1

    def add(self, transport: int, data: bytes) -> bytes | None:
        seq = transport & 0x3F
        if transport & 0x40:  # FIR: a new fragment starts, whatever was pending is abandoned
            self.parts = [data]
            self.size = len(data)
        elif self.parts and seq == self.next_seq and self.size + len(data) <= MAX_FRAGMENT:
            self.parts.append(data)
            self.size += len(data)
        else:
            self.parts = []
            self.size = 0
            return None
        self.next_seq = (seq + 1) & 0x3F
        if transport & 0x80:  # FIN
            fragment = b"".join(self.parts)
            self.parts = []
            self.size = 0
            return fragment
        return None


class Dnp3Dissector(Dissector):
    name = "dnp3"
    tcp_ports = frozenset({20000})
    udp_ports = frozenset({20000})
    sniff_priority = 40

    def __init__(self, session) -> None:
        super().__init__(session)
        self.dirs = (_Direction(), _Direction())
        self.seen_addresses: set[tuple[str, int, int, bool]] = set()

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        return header_ok(data)

    # -- feeding -----------------------------------------------------------------------------
    def on_tcp(self, data: bytes, from_client: bool) -> None:
        direction = self.dirs[0 if from_client else 1]
        stream = direction.stream
        if not stream.buf:
            # Fast path: nothing buffered, so frames are taken in place from the segment (usually it
            # holds whole frames); only a partial or bad remainder goes through the stream buffer.
            off, size = 0, len(data)
            while size - off >= HEADER_LEN:
                if data[off] != 0x05 or data[off + 1] != 0x64 or not _crc_ok(data[off : off + HEADER_LEN]):
                    break
                end = off + _WIRE_LENGTHS[data[off + 2]]
                if end > size:
                    break
                self._frame(data if end == size and not off else data[off:end], direction)
                off = end
            if off == size:
                return
            if off:
                data = data[off:]
        dropped = stream.dropped
        for frame in stream.feed(data, frame_length):
            self._frame(frame, direction)
        if stream.dropped != dropped:
            self.session.error("dnp3: bytes without a valid link header (0x0564, header CRC) dropped")

    def on_gap(self, from_client: bool) -> None:
        direction = self.dirs[0 if from_client else 1]
        direction.stream.reset()
        direction.parts = []
        direction.size = 0

    def on_udp(self, data: bytes, from_client: bool) -> None:
        direction = self.dirs[0 if from_client else 1]
        offset = 0
        # A datagram may carry several link frames back to back.
        while offset < len(data):
            length = frame_length(data[offset:])
            if not length:
                self.session.error("dnp3: datagram without a 0x0564 link frame")
                return
            self._frame(data[offset : offset + length], direction)
            offset += length

    # -- link layer --------------------------------------------------------------------------
    def _frame(self, frame: bytes, direction: _Direction) -> None:
        session = self.session
        if len(frame) < HEADER_LEN or frame[2] < 5:
            session.pdu("", "other", request=False)
            session.error("dnp3: link frame shorter than its header")
            return
        control = frame[3]
        link_function = control & 0x0F
        # Each (sender, addresses, role) is reported once per flow; the set lookup is the common case.
        src_ip = session.client_ip if session.from_client else session.server_ip
        src = frame[6] | (frame[7] << 8)
        dst = frame[4] | (frame[5] << 8)
        if (src_ip, src, dst, control >= 0x80) not in self.seen_addresses:
            self._identity(src, dst, control >= 0x80)
        fragment = None
        if link_function not in LINK_NO_DATA:
            user = self._user_data(frame)
            if user:
                fragment = direction.add(user[0], user[1:])
        # The key is the application function when this frame completes a fragment (whatever the
        # link function), else the link function for link-only frames (tshark's rule).
        if fragment is not None and len(fragment) >= 2:
            self._application(fragment)
        elif not control & 0x40:
            session.pdu(_LINK_SEC_KEYS[link_function], "other", request=False)
        elif link_function not in LINK_USER_DATA:
            category = LINK_PRIMARY_CATEGORIES.get(link_function, "other")
            session.pdu(_LINK_PRI_KEYS[link_function], category, request=True)
        else:
            session.pdu("", "other", request=False)  # a transport segment that completes nothing

    def _user_data(self, frame: bytes) -> bytes | None:
        """User data with the block CRCs checked and removed; None on a bad CRC."""
        remaining = frame[2] - 5
        offset = HEADER_LEN
        blocks: list[bytes] = []
        while remaining > 0:
            size = BLOCK if remaining > BLOCK else remaining
            chunk = frame[offset : offset + size + 2]  # the block and its CRC
            if len(chunk) < size + 2:
                self.session.error("dnp3: truncated link data block")
                return None
            if not _crc_ok(chunk):
                self.session.error("dnp3: bad link data CRC")
                return None
            blocks.append(chunk[:size])
            offset += size + 2
            remaining -= size
        return blocks[0] if len(blocks) == 1 else b"".join(blocks)

    def _identity(self, src: int, dst: int, from_master: bool) -> None:
        session = self.session
        key = (session.src_ip, src, dst, from_master)
        if key in self.seen_addresses or len(self.seen_addresses) > 1024:
            return
        self.seen_addresses.add(key)
        session.identity(
            {"src_ip": session.src_ip, "src": src, "dst_ip": session.dst_ip, "dst": dst},
            {"dnp3_address": src, "dnp3_role": "master" if from_master else "outstation"},
        )

    # -- application layer -------------------------------------------------------------------
    def _application(self, fragment: bytes) -> None:
        session = self.session
        function = fragment[1]
        key = _KEYS[function]
        category = FUNCTION_CATEGORIES.get(function, "other")
        if function >= 0x80:
            session.pdu(key, category, request=False)
            self._response(fragment, function)
            return
        session.pdu(key, category, request=True)
        kind = EVENT_KINDS.get(function)
        if kind is None:
            # Reads and polls repeat the same objects: only their sav5 verdict matters, memoised.
            body = fragment[2:]
            sav5 = _SAV5_MEMO.get(body)
            if sav5 is None:
                sav5 = parse_objects(body, 0)[1]
                if len(_SAV5_MEMO) >= MAX_SAV5_MEMO:
                    _SAV5_MEMO.clear()
                _SAV5_MEMO[body] = sav5
            if sav5 or function in (32, 33):
                session.service(details={"sav5": True})
            return
        objects, sav5 = parse_objects(fragment, 2)
        if sav5 or function in (32, 33):
            session.service(details={"sav5": True})
        if kind is not None:
            detail: dict[str, Any] = {"function": FUNCTION_NAMES.get(function, str(function))}
            if objects:
                detail["objects"] = objects
            if len(fragment) > MAX_BUFFER:
                detail["fragment_bytes"] = len(fragment)
            session.event(kind, category, key, detail)

    def _response(self, fragment: bytes, function: int) -> None:
        session = self.session
        details: dict[str, Any] = {}
        if function == 131:
            details["sav5"] = True
        if len(fragment) >= 4:
            iin = (fragment[2] << 8) | fragment[3]
            if iin & _IIN_MASK:  # usually none of the reported bits is set
                for bit, name in IIN_DETAILS.items():
                    if iin & bit:
                        details[name] = True
            if len(fragment) > 6 and fragment[4] == AUTH_GROUP:
                details["sav5"] = True
        if details:
            session.service(details=details)


DISSECTOR = Dnp3Dissector
