"""Modbus/TCP (MBAP over TCP 502) with Schneider UMAS (function 90) keys.

One MBAP frame = 7-byte header (transaction, protocol id 0, length, unit) + PDU (function code, data).
Function keys follow the corpus: ``fc<n>`` (exception bit masked, as tshark does), ``fc43/<mei>`` when
the MEI type byte is present (exception replies to 43 carry none, so they stay ``fc43``). UMAS PDUs are
counted a second time under protocol "umas" with key ``0x<byte 1 of data>``: the UMAS code in requests,
0xfe/0xfd status in replies, ``unknown`` when the data is too short.
"""

from __future__ import annotations

from typing import Any

from icsaudit.passive.protocols.base import Dissector, StreamBuffer

MBAP_HEADER = 7
# Bytes a TCP Modbus length field may announce (unit + function + 253 data bytes in the spec; we
# tolerate larger vendor frames up to what one Ethernet frame carries, anything beyond is garbage).
MAX_MBAP_LENGTH = 1500

# Public function code -> operation category. Unknown codes are "other".
FUNCTION_CATEGORIES: dict[int, str] = {
    1: "read",  # read coils
    2: "read",  # read discrete inputs
    3: "read",  # read holding registers
    4: "read",  # read input registers
    5: "write",  # write single coil
    6: "write",  # write single register
    7: "diagnostic",  # read exception status (serial line)
    8: "diagnostic",  # diagnostics (sub-functions below may raise it to "mode")
    11: "diagnostic",  # get comm event counter
    12: "diagnostic",  # get comm event log
    15: "write",  # write multiple coils
    16: "write",  # write multiple registers
    17: "identify",  # report server id
    20: "read",  # read file record
    21: "write",  # write file record
    22: "write",  # mask write register
    23: "write",  # read/write multiple registers: the write is what matters
    24: "read",  # read FIFO queue
    43: "other",  # encapsulated interface transport (MEI decides, below)
    90: "other",  # UMAS (sub-code decides, below)
}

FUNCTION_NAMES: dict[int, str] = {
    1: "read_coils",
    2: "read_discrete_inputs",
    3: "read_holding_registers",
    4: "read_input_registers",
    5: "write_single_coil",
    6: "write_single_register",
    7: "read_exception_status",
    8: "diagnostics",
    11: "get_comm_event_counter",
    12: "get_comm_event_log",
    15: "write_multiple_coils",
    16: "write_multiple_registers",
    17: "report_server_id",
    20: "read_file_record",
    21: "write_file_record",
    22: "mask_write_register",
    23: "read_write_multiple_registers",
    24: "read_fifo_queue",
    43: "encapsulated_interface_transport",
    90: "umas",
}

# MEI types of function 43.
MEI_CATEGORIES: dict[int, str] = {
    13: "other",  # CANopen general reference
    14: "identify",  # read device identification
}

# Diagnostics (function 8) sub-functions that change the server's state rather than just report it.
DIAGNOSTIC_MODE_SUBFUNCTIONS: dict[int, str] = {
    0x01: "restart_communications",
    0x04: "force_listen_only",
}

# UMAS codes (Schneider Unity/EcoStruxure; public research: Kaspersky 2017 "lirasenlared", Armis,
# Black Hat EU 2024). Schneider's "upload" is PC -> PLC (a program write), "download" PLC -> PC.
UMAS_FUNCTIONS: dict[int, tuple[str, str]] = {
    0x01: ("init_comm", "other"),
    0x02: ("read_id", "identify"),
    0x03: ("read_project_info", "identify"),
    0x04: ("read_plc_info", "diagnostic"),
    0x05: ("read_loader_info", "diagnostic"),
    0x06: ("read_card_info", "diagnostic"),
    0x07: ("read_block_info", "read"),
    0x0A: ("repeat", "other"),
    0x10: ("take_plc_reservation", "auth"),
    0x11: ("release_plc_reservation", "auth"),
    0x12: ("keep_alive", "other"),
    0x20: ("read_memory_block", "read"),
    0x21: ("write_memory_block", "write"),
    0x22: ("read_variables", "read"),
    0x23: ("write_variables", "write"),
    0x24: ("read_coils_registers", "read"),
    0x25: ("write_coils_registers", "write"),
    0x26: ("data_dictionary", "read"),
    0x27: ("data_dictionary_preload", "read"),
    0x28: ("read_physical_address", "read"),
    0x29: ("write_physical_address", "write"),
    0x2A: ("browse_events", "read"),
    0x30: ("initialize_upload", "program"),  # PC -> PLC
    0x31: ("upload_block", "program"),
    0x32: ("end_strategy_upload", "program"),
    0x33: ("initialize_download", "program"),  # PLC -> PC
    0x34: ("download_block", "program"),
    0x35: ("end_strategy_download", "program"),
    0x36: ("backup", "program"),
    0x37: ("preload_blocks", "program"),
    0x38: ("signed_message", "auth"),
    0x39: ("read_eth_master_data", "read"),
    0x40: ("start_plc", "mode"),
    0x41: ("stop_plc", "mode"),
    0x42: ("init_plc", "mode"),
    0x43: ("swap_blocks", "program"),
    0x50: ("monitor_plc", "read"),
    0x51: ("get_auto_modif", "read"),
    0x52: ("get_forced_bits", "read"),
    0x53: ("get_selected_blocks", "read"),
    0x58: ("check_plc", "diagnostic"),
    0x60: ("breakpoint_set", "program"),
    0x61: ("breakpoint_delete", "program"),
    0x62: ("step_over", "program"),
    0x63: ("step_in", "program"),
    0x64: ("step_out", "program"),
    0x65: ("get_call_stack", "diagnostic"),
    0x66: ("check_debug_allowed", "diagnostic"),
    0x6C: ("process_message", "other"),
    0x6D: ("private_message", "other"),
    0x6E: ("reservation_nonces", "auth"),
    0x70: ("read_io_object", "read"),
    0x71: ("write_io_object", "write"),
    0x72: ("read_rack", "read"),
    0x73: ("get_status_module", "diagnostic"),
    0x74: ("read_device_data", "read"),
}

# UMAS requests kept as events: the start/end of a program transfer (the blocks in between are only
# counted, a download has hundreds), deletes, run/stop/init and variable/memory writes.
UMAS_EVENT_KINDS: dict[int, str] = {
    0x21: "write",
    0x23: "write",
    0x25: "write",
    0x29: "write",
    0x71: "write",
    0x30: "program",
    0x32: "program",
    0x33: "program",
    0x35: "program",
    0x36: "program",
    0x43: "program",
    0x40: "mode",
    0x41: "mode",
    0x42: "mode",
}

# Read Device Identification object ids -> normalized identity field.
DEVICE_ID_FIELDS: dict[int, str] = {
    0: "vendor",  # VendorName
    1: "product_code",  # ProductCode
    2: "firmware",  # MajorMinorRevision
    3: "vendor_url",  # VendorUrl
    4: "product_name",  # ProductName
    5: "model",  # ModelName
    6: "name",  # UserApplicationName
}

# Function codes whose requests are kept as "write" events, with how to read their detail.
WRITE_EVENT_FUNCTIONS = frozenset((5, 6, 15, 16, 21, 22, 23))
MAX_UNITS_PER_SESSION = 256  # bound on the per-flow device-identification accumulator

_KEYS = {code: f"fc{code}" for code in range(128)}
_CATEGORIES = tuple(FUNCTION_CATEGORIES.get(code, "other") for code in range(128))
_UMAS_KEYS = {code: f"0x{code:02x}" for code in range(256)}


def _mbap_length(buf: bytes) -> int | None:
    """Total MBAP frame length, None when the header is incomplete, -1 when it is not Modbus."""
    if len(buf) < 6:
        return None
    if buf[2] or buf[3]:
        return -1  # protocol identifier must be 0
    length = (buf[4] << 8) | buf[5]
    if length < 2 or length > MAX_MBAP_LENGTH:
        return -1  # must hold unit id + function code
    return 6 + length


def _printable(raw: bytes) -> str:
    return raw.decode("latin-1").strip(" \x00\t\r\n")


class ModbusDissector(Dissector):
    name = "modbus"
    tcp_ports = frozenset({502})
    stats_protocols = ("modbus", "umas")
    sniff_priority = 40

    def __init__(self, session) -> None:
        super().__init__(session)
        self.buffers = (StreamBuffer(), StreamBuffer())  # client, server
        self.device_ids: dict[tuple[str, int], dict[str, str]] = {}
        self.service_seen = False

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        if len(data) < 8:
            return False
        length = _mbap_length(data)
        if length is None or length <= 0 or length > len(data):
            return False
        code = data[7] & 0x7F
        return code in FUNCTION_CATEGORIES

    # -- stream -------------------------------------------------------------------------------
    def on_tcp(self, data: bytes, from_client: bool) -> None:
        buffer = self.buffers[0 if from_client else 1]
        if not buffer.buf:
            # Fast path: nothing buffered, so whole frames are taken in place from the segment
            # (usually exactly one); only a partial or bad remainder goes through the stream buffer.
            off, size = 0, len(data)
            while size - off >= 6 and not (data[off + 2] or data[off + 3]):
                length = (data[off + 4] << 8) | data[off + 5]
                end = off + 6 + length
                if length < 2 or length > MAX_MBAP_LENGTH or end > size:
                    break
                code = data[off + 7]
                if code < 5 and (from_client or self.service_seen):
                    # Reads (codes 1-4, most traffic) only count a PDU: done here, without _frame.
                    self.session.pdu(_KEYS[code], _CATEGORIES[code], request=from_client)
                else:
                    self._frame(data if end == size and not off else data[off:end], from_client)
                off = end
            if off == size:
                return
            if off:
                data = data[off:]
        before = buffer.dropped
        for frame in buffer.feed(data, _mbap_length):
            self._frame(frame, from_client)
        if buffer.dropped != before:
            self.session.error(f"modbus: {buffer.dropped - before} bytes without a valid MBAP header skipped")

    def on_gap(self, from_client: bool) -> None:
        self.buffers[0 if from_client else 1].reset()

    def on_close(self) -> None:
        session = self.session
        for (src, unit_id), objects in self.device_ids.items():
            raw = {
                "src": src,
                "unit_id": unit_id,
                "objects": dict(sorted(objects.items(), key=lambda kv: int(kv[0]))),
            }
            session.identity(raw, {}, ip=src)

    # -- one MBAP frame -----------------------------------------------------------------------
    def _frame(self, frame: bytes, from_client: bool) -> None:
        session = self.session
        if len(frame) < 8:
            session.error("modbus: MBAP frame without function code")
            return
        unit_id = frame[6]
        raw_code = frame[7]
        code = raw_code & 0x7F
        exception = raw_code >= 0x80
        request = from_client
        category = _CATEGORIES[code]
        key = _KEYS[code]
        if code < 8:  # reads and single writes, most traffic: no sub-code to look at
            session.pdu(key, category, request=request, exception=exception)
            if exception:
                return
            if request:
                if code == 5 or code == 6:
                    self._write_event(code, key, unit_id, frame[8:])
            elif not self.service_seen:
                self.service_seen = True
                session.service(banner="modbus", details={"unit_id": unit_id})
            return
        data = frame[8:]
        if code == 43:
            if data and not exception:
                mei = data[0]
                key = f"fc43/{mei}"
                category = MEI_CATEGORIES.get(mei, "other")
            else:
                category = "identify"
        elif code == 8 and len(data) >= 2 and not exception:
            subfunction = (data[0] << 8) | data[1]
            if subfunction in DIAGNOSTIC_MODE_SUBFUNCTIONS:
                category = "mode"
                if request and not session.event_capped("mode", key):
                    session.event(
                        "mode",
                        "mode",
                        key,
                        {
                            "unit_id": unit_id,
                            "subfunction": subfunction,
                            "operation": DIAGNOSTIC_MODE_SUBFUNCTIONS[subfunction],
                        },
                    )
        elif code == 90:
            category = self._umas(data, unit_id, request, exception)
        session.pdu(key, category, request=request, exception=exception)
        if exception:
            return
        if request:
            if code in WRITE_EVENT_FUNCTIONS:
                self._write_event(code, key, unit_id, data)
        else:
            if not self.service_seen:
                self.service_seen = True
                session.service(banner="modbus", details={"unit_id": unit_id})
            if code == 43 and data and data[0] == 14:
                self._device_identification(unit_id, data)
            elif code == 17:
                self._server_id(unit_id, data)

    def _umas(self, data: bytes, unit_id: int, request: bool, exception: bool) -> str:
        """Count the UMAS PDU under "umas"; return the operation category for the Modbus PDU.

        The flow's operation counts come from the Modbus PDU alone (one operation per request), so
        the UMAS count passes request=False.
        """
        session = self.session
        if exception or len(data) < 2:
            session.pdu(
                "unknown", "other", protocol="umas", request=False
            )  # exception counted once, on the Modbus PDU
            return "other"
        umas_code = data[1]
        key = _UMAS_KEYS[umas_code]
        if not request:
            session.pdu(key, "other", protocol="umas", request=False, exception=umas_code == 0xFD)
            return "other"
        name, category = UMAS_FUNCTIONS.get(umas_code, ("unknown", "other"))
        session.pdu(key, category, protocol="umas", request=False)
        kind = UMAS_EVENT_KINDS.get(umas_code)
        if kind is not None and not session.event_capped(kind, key):
            detail = {"unit_id": unit_id, "umas_code": umas_code, "operation": name, "session_key": data[0]}
            session.event(kind, category, key, detail, protocol="umas")
        return category

    def _write_event(self, code: int, key: str, unit_id: int, data: bytes) -> None:
        if self.session.event_capped("write", key):
            return  # not kept: its detail is not built
        detail: dict[str, Any] = {"unit_id": unit_id, "operation": FUNCTION_NAMES[code]}
        if code == 23 and len(data) >= 8:
            detail["address"] = (data[4] << 8) | data[5]
            detail["quantity"] = (data[6] << 8) | data[7]
            detail["read_address"] = (data[0] << 8) | data[1]
        elif code == 21 and data:
            detail["byte_count"] = data[0]
            if len(data) >= 8:  # first sub-request: reference type, file, record, length
                detail["file"] = (data[2] << 8) | data[3]
                detail["address"] = (data[4] << 8) | data[5]
                detail["quantity"] = (data[6] << 8) | data[7]
        elif len(data) >= 4:
            detail["address"] = (data[0] << 8) | data[1]
            if code in (5, 6):
                detail["quantity"] = 1
                detail["value"] = (data[2] << 8) | data[3]
            elif code == 22 and len(data) >= 6:
                detail["quantity"] = 1
                detail["and_mask"] = (data[2] << 8) | data[3]
                detail["or_mask"] = (data[4] << 8) | data[5]
            else:
                detail["quantity"] = (data[2] << 8) | data[3]
        else:
            detail["truncated"] = True
        self.session.event("write", "write", key, detail)

    def _device_identification(self, unit_id: int, data: bytes) -> None:
        """FC 43/14 response: MEI, read code, conformity, more-follows, next id, count, objects."""
        session = self.session
        if len(data) < 6:
            session.error("modbus: truncated read device identification response")
            return
        count = data[5]
        pos = 6
        objects: dict[str, str] = {}
        for _ in range(count):
            if pos + 2 > len(data):
                session.error("modbus: device identification object list truncated")
                break
            object_id = data[pos]
            length = data[pos + 1]
            value = data[pos + 2 : pos + 2 + length]
            if len(value) < length:
                session.error("modbus: device identification object value truncated")
                break
            objects[str(object_id)] = _printable(value)
            pos += 2 + length
        if not objects:
            return
        src = session.src_ip
        merged = self.device_ids.get((src, unit_id))
        if merged is None:
            if len(self.device_ids) >= MAX_UNITS_PER_SESSION:
                return
            merged = self.device_ids[(src, unit_id)] = {}
        merged.update(objects)
        fields: dict[str, Any] = {"unit_id": unit_id}
        for object_id, value in merged.items():
            field = DEVICE_ID_FIELDS.get(int(object_id))
            if field is not None:
                fields[field] = value
        # Model: the model name if given, else the product name, else the product code.
        fields["model"] = fields.get("model") or fields.get("product_name") or fields.get("product_code")
        # The raw merged object is emitted once at close (the truth merges all responses per unit).
        session.identity(None, fields)

    def _server_id(self, unit_id: int, data: bytes) -> None:
        """FC 17 response: byte count, then a device-specific server id, run indicator and extra data
        whose split is not standardized: keep the whole field, as text when it reads as text."""
        if not data or data[0] == 0 or len(data) < 1 + data[0]:
            self.session.error("modbus: truncated report server id response")
            return
        body = data[1 : 1 + data[0]]
        readable = sum(32 <= ch < 127 for ch in body)
        server_id = _printable(body) if readable >= 4 and readable * 4 >= len(body) * 3 else body.hex()
        self.session.identity(None, {"unit_id": unit_id, "server_id": server_id})


DISSECTOR = ModbusDissector
