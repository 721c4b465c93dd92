"""Siemens S7comm and S7comm-plus over ISO-on-TCP (TCP 102): TPKT -> COTP -> S7.

TPKT (RFC 1006, version 3) frames COTP (ISO 8073) TPDUs; COTP DT payloads are reassembled until the
EOT bit. A payload starting 0x32 is S7comm (ROSCTR job 1 / ack 2 / ack_data 3 / userdata 7), one
starting 0x72 is S7comm-plus (S7-1200/1500). Keys follow the corpus truth (tshark 4.0):
``job/0x<func>``, ``ack_data/0x<func>``, ``ack``, ``userdata/<funcgroup>/<subfunc>`` (decimal, and
``userdata/0`` for mode-transition pushes, whose subfunction tshark files under another field), and
for S7comm-plus ``v<version>/0x<opcode>/0x<function>``.

Read-SZL responses for xx11 (module identification) and xx1C (component identification) give the
device identity (order number, firmware, serial, CPU type, names); xx24 gives the operating mode and
xx32 index 4 the protection level. Userdata responses split over several PDUs ("last data unit" 0x01,
same data unit reference) are reassembled before the SZL is read, as tshark does.
"""

from __future__ import annotations

from typing import Any

from icsaudit.passive.protocols.base import MAX_BUFFER, Dissector, StreamBuffer
from icsaudit.passive.session import MAX_IDENTITY_CALLS

# -- S7comm job functions (ROSCTR 1 and 3) ------------------------------------------------------
JOB_FUNCTIONS: dict[int, tuple[str, str]] = {
    0x00: ("cpu_services", "other"),
    0x04: ("read_var", "read"),
    0x05: ("write_var", "write"),
    0x1A: ("request_download", "program"),
    0x1B: ("download_block", "program"),
    0x1C: ("download_ended", "program"),
    0x1D: ("start_upload", "program"),  # upload = program read from the PLC: still a program transfer
    0x1E: ("upload", "program"),
    0x1F: ("end_upload", "program"),
    0x28: ("pi_service", "program"),  # refined by the PI service name, below
    0x29: ("plc_stop", "mode"),
    0xF0: ("setup_communication", "other"),
}

# Job functions kept as events, and the event kind; the download/upload blocks in between are counted.
JOB_EVENT_KINDS: dict[int, str] = {
    0x05: "write",
    0x1A: "program",
    0x1C: "program",
    0x1D: "program",
    0x1F: "program",
    0x28: "program",
    0x29: "mode",
}

# PI (program invocation) services by name prefix -> category.
PI_SERVICES: dict[str, tuple[str, str]] = {
    "_INSE": ("insert_block", "program"),  # activate downloaded block(s)
    "_DELE": ("delete_block", "program"),
    "_MODU": ("copy_ram_to_rom", "program"),
    "_GARB": ("compress_memory", "program"),
    "_EXEC": ("execute", "program"),
    "P_PROGRAM": ("start_program", "mode"),  # warm/cold restart (argument "C" = cold)
    "_N_": ("nc_program_service", "program"),
}

ROSCTR_NAMES: dict[int, str] = {1: "job", 2: "ack", 3: "ack_data", 7: "userdata"}

# -- S7comm userdata: (function group, subfunction) -> (name, category) ------------------------
USERDATA_FUNCTIONS: dict[tuple[int, int], tuple[str, str]] = {
    # 1: programmer commands (test and installation, "tis")
    (1, 1): ("block_status", "read"),
    (1, 2): ("variable_status", "read"),
    (1, 3): ("output_istack", "diagnostic"),
    (1, 4): ("output_bstack", "diagnostic"),
    (1, 5): ("output_lstack", "diagnostic"),
    (1, 6): ("time_measurement", "diagnostic"),
    (1, 7): ("force_selection", "read"),
    (1, 8): ("modify_variable", "write"),
    (1, 9): ("force", "write"),
    (1, 10): ("breakpoint", "program"),
    (1, 11): ("exit_hold", "mode"),
    (1, 12): ("memory_reset", "mode"),
    (1, 13): ("disable_job", "diagnostic"),
    (1, 14): ("enable_job", "diagnostic"),
    (1, 15): ("delete_job", "diagnostic"),
    (1, 16): ("read_job_list", "diagnostic"),
    (1, 17): ("read_job", "diagnostic"),
    (1, 18): ("replace_job", "diagnostic"),
    (1, 19): ("block_status_v2", "read"),
    (1, 22): ("flash_led", "diagnostic"),
    # 2: cyclic services
    (2, 1): ("cyclic_transfer", "read"),
    (2, 4): ("unsubscribe", "read"),
    (2, 5): ("change_driven_transfer", "read"),
    (2, 7): ("change_driven_transfer_modify", "read"),
    (2, 8): ("rdrec", "read"),
    # 3: block functions
    (3, 1): ("list_blocks", "read"),
    (3, 2): ("list_blocks_of_type", "read"),
    (3, 3): ("get_block_info", "read"),
    # 4: CPU functions
    (4, 1): ("read_szl", "diagnostic"),  # "identify" for module/component identification SZLs
    (4, 2): ("message_service", "other"),
    (4, 3): ("diagnostic_message", "diagnostic"),
    (4, 5): ("alarm8_indication", "diagnostic"),
    (4, 6): ("notify_indication", "diagnostic"),
    (4, 7): ("alarm8_lock", "control"),
    (4, 8): ("alarm8_unlock", "control"),
    (4, 9): ("scan_indication", "diagnostic"),
    (4, 11): ("alarm_ack", "control"),
    (4, 12): ("alarm_ack_indication", "diagnostic"),
    (4, 13): ("alarm_lock_indication", "diagnostic"),
    (4, 14): ("alarm_unlock_indication", "diagnostic"),
    (4, 17): ("alarm_sq_indication", "diagnostic"),
    (4, 18): ("alarm_s_indication", "diagnostic"),
    (4, 19): ("alarm_query", "diagnostic"),
    (4, 22): ("notify8_indication", "diagnostic"),
    # 5: security
    (5, 1): ("plc_password", "auth"),
    # 7: time functions
    (7, 1): ("read_clock", "read"),
    (7, 2): ("set_clock", "control"),
    (7, 3): ("read_clock_following", "read"),
    (7, 4): ("set_clock", "control"),
    # 15: NC programming
    (15, 1): ("nc_request_download", "program"),
    (15, 2): ("nc_download_block", "program"),
    (15, 3): ("nc_continue_download", "program"),
    (15, 4): ("nc_download_ended", "program"),
    (15, 6): ("nc_start_upload", "program"),
    (15, 7): ("nc_upload", "program"),
    (15, 8): ("nc_continue_upload", "program"),
}

# Category of a function group when the subfunction is not in the table above.
USERDATA_GROUP_CATEGORIES: dict[int, str] = {
    0: "mode",  # mode-transition indications pushed by the CPU
    1: "diagnostic",
    2: "read",
    3: "read",
    4: "diagnostic",
    5: "auth",
    6: "other",  # PBC BSEND/BRECV
    7: "other",
    15: "program",
}

# Userdata requests kept as events: (group, subfunction) -> event kind.
USERDATA_EVENT_KINDS: dict[tuple[int, int], str] = {
    (1, 8): "write",
    (1, 9): "force",
    (1, 10): "program",
    (1, 11): "mode",
    (1, 12): "mode",
    (4, 11): "control",
    (5, 1): "auth",
    (7, 2): "control",
    (7, 4): "control",
    (15, 1): "program",
    (15, 4): "program",
    (15, 6): "program",
}

USERDATA_PUSH, USERDATA_REQUEST, USERDATA_RESPONSE = 0, 4, 8
TIS_FORCE = 9  # programmer-command subfunction "force", also referenced by job requests (13-18)
TIS_JOB_SUBFUNCTIONS = frozenset(range(13, 19))

# Memory areas of read/write var items.
AREAS: dict[int, str] = {
    0x03: "system_info",
    0x05: "system_flags",
    0x06: "analog_inputs",
    0x07: "analog_outputs",
    0x1C: "counter",
    0x1D: "timer",
    0x1E: "iec_counter",
    0x1F: "iec_timer",
    0x80: "peripheral",
    0x81: "inputs",
    0x82: "outputs",
    0x83: "flags",
    0x84: "data_block",
    0x85: "instance_db",
    0x86: "local",
    0x87: "previous_local",
}

BLOCK_TYPES: dict[str, str] = {
    "08": "OB",
    "0A": "DB",
    "0B": "SDB",
    "0C": "FC",
    "0D": "SFC",
    "0E": "FB",
    "0F": "SFB",
}

CPU_MODES: dict[int, str] = {
    0x01: "STOP (update)",
    0x02: "STOP (memory reset)",
    0x03: "STOP (self initialization)",
    0x04: "STOP (internal)",
    0x05: "STARTUP (complete restart)",
    0x06: "STARTUP (cold restart)",
    0x07: "STARTUP (restart)",
    0x08: "RUN",
    0x0A: "HOLD",
    0x0D: "DEFECT",
}

MODE_SWITCH: dict[int, str] = {1: "RUN", 2: "RUN-P", 3: "STOP", 4: "MRES"}

# SZL xx1C (component identification): record index -> (field, kind, length). Strings stop at NUL.
SZL_1C_FIELDS: dict[int, tuple[tuple[str, str, int], ...]] = {
    1: (("name", "str", 24),),
    2: (("name", "str", 24),),
    3: (("tag", "str", 32),),
    4: (("copyright", "str", 26),),
    5: (("serialn", "str", 24),),
    7: (("cputypname", "str", 32),),
    8: (("snmcmmc", "str", 32),),
    9: (("manufacturer_id", "u16", 2), ("profile_id", "u16", 2), ("profile_spec_typ", "u16", 2)),
    10: (("oem_copyright_string", "str", 26), ("oem_id", "u16", 2), ("oem_add_id", "u32", 4)),
    11: (("loc_id", "str", 32),),
}

# S7comm-plus opcodes and functions.
PLUS_REQUEST, PLUS_RESPONSE = 0x31, 0x32
PLUS_FUNCTIONS: dict[int, tuple[str, str]] = {
    0x04BB: ("explore", "read"),
    0x04CA: ("create_object", "other"),  # session set-up
    0x04D4: ("delete_object", "other"),
    0x04F2: ("set_variable", "write"),
    0x04FC: ("get_variable", "read"),
    0x0524: ("add_link", "other"),
    0x0542: ("set_multi_variables", "write"),
    0x054C: ("get_multi_variables", "read"),
    0x0556: ("begin_sequence", "program"),
    0x0560: ("end_sequence", "program"),
    0x056B: ("invoke", "control"),
    0x0586: ("get_var_substreamed", "read"),
}
PLUS_EVENT_KINDS: dict[int, str] = {0x04F2: "write", 0x0542: "write", 0x0556: "program", 0x056B: "control"}

COTP_DT, COTP_CR, COTP_CC, COTP_DR = 0xF0, 0xE0, 0xD0, 0x80
MAX_PENDING_FRAGMENTS = 16  # userdata data-unit references reassembled at once per direction
MAX_WRITE_ITEMS_IN_EVENT = 20

_JOB_KEYS = {code: f"job/0x{code:02x}" for code in range(256)}
_ACK_DATA_KEYS = {code: f"ack_data/0x{code:02x}" for code in range(256)}
_USERDATA_KEYS = tuple(f"userdata/{code >> 8}/{code & 0xFF}" for code in range(16 << 8))  # group << 8 | sub
MAX_SZL_MEMO = 256  # SZL answers remembered per flow as already reported


def _tpkt_length(buf: bytes) -> int | None:
    if len(buf) < 4:
        return None
    if buf[0] != 3:
        return -1  # TPKT version 3 only: anything else means we lost the framing
    length = (buf[2] << 8) | buf[3]
    return length if length >= 7 else -1


def _text(raw: bytes) -> str:
    end = raw.find(b"\x00")
    if end >= 0:
        raw = raw[:end]
    return raw.decode("ascii", "replace").strip(" \t\r\n")


def _szl_records(szl_id: int, body: bytes) -> tuple[dict[str, dict[str, Any]], int]:
    """Records of an xx11 / xx1C SZL answer as tshark names their fields; returns (records, count)."""
    if len(body) < 4:
        return {}, 0
    record_length = (body[0] << 8) | body[1]
    count = (body[2] << 8) | body[3]
    records: dict[str, dict[str, Any]] = {}
    if record_length < 2:
        return records, count
    kind = szl_id & 0xFF
    pos = 4
    for _ in range(count):
        record = body[pos : pos + record_length]
        if len(record) < record_length:
            break
        pos += record_length
        index = (record[0] << 8) | record[1]
        fields: dict[str, Any] = {}
        if kind == 0x11 and record_length >= 28:
            fields = {
                "anz": _text(record[2:22]),
                "bgtyp": (record[22] << 8) | record[23],
                "ausbg": (record[24] << 8) | record[25],
                "ausbe": (record[26] << 8) | record[27],
            }
        elif kind == 0x1C:
            off = 2
            for name, field_kind, size in SZL_1C_FIELDS.get(index, ()):
                raw = record[off : off + size]
                if len(raw) < size:
                    break
                fields[name] = _text(raw) if field_kind == "str" else int.from_bytes(raw, "big")
                off += size
        records[f"0x{index:04x}"] = fields
    return records, count


class S7commDissector(Dissector):
    name = "s7comm"
    tcp_ports = frozenset({102})
    stats_protocols = ("s7comm", "s7comm_plus")
    sniff_priority = 40

    def __init__(self, session) -> None:
        super().__init__(session)
        self.tpkt = (StreamBuffer(), StreamBuffer())  # client, server
        self.cotp = [b"", b""]  # COTP DT payload awaiting its EOT fragment, per direction
        # (direction, data unit reference) -> userdata data of the fragments seen so far
        self.fragments: dict[tuple[int, int], bytes] = {}
        self.plus_frame = -1  # S7comm-plus is counted once per frame, as the corpus does
        self.szl_reported: set[tuple] = set()  # SZL answers whose identity was reported (see _szl_response)

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        # Only a COTP DT carrying an S7 / S7-plus header decides. A connection request/confirm cannot
        # tell S7 from MMS (both use TSAPs freely), so walk past CR/CC TPDUs in ``data`` (the core
        # passes a contested port's held bytes plus the new payload) and judge the first DT.
        off, size = 0, len(data)
        while size - off >= 7 and data[off] == 3 and data[off + 1] == 0:
            length = (data[off + 2] << 8) | data[off + 3]
            li = data[off + 4]
            if length < 7 or li < 2 or length > size - off + MAX_BUFFER:
                return False
            tpdu = data[off + 5] & 0xF0
            if tpdu == COTP_DT:
                start = off + 5 + li
                return start < size and data[start] in (0x32, 0x72)
            if tpdu not in (COTP_CR, COTP_CC):
                return False
            off += length
        return False

    # -- stream -------------------------------------------------------------------------------
    def on_tcp(self, data: bytes, from_client: bool) -> None:
        direction = 0 if from_client else 1
        buffer = self.tpkt[direction]
        if not buffer.buf:
            # Fast path: nothing buffered, so whole TPKTs are taken in place from the segment
            # (usually exactly one); only a partial or bad remainder goes through the stream buffer.
            off, size = 0, len(data)
            while size - off >= 4 and data[off] == 3:
                length = (data[off + 2] << 8) | data[off + 3]
                end = off + length
                if length < 7 or end > size:
                    break
                self._cotp(data if end == size and not off else data[off:end], direction, from_client)
                off = end
            if off == size:
                return
            if off:
                data = data[off:]
        before = buffer.dropped
        for packet in buffer.feed(data, _tpkt_length):
            self._cotp(packet, direction, from_client)
        if buffer.dropped != before:
            self.session.error(f"s7comm: {buffer.dropped - before} bytes without a TPKT header skipped")
            self.cotp[direction] = b""

    def on_gap(self, from_client: bool) -> None:
        direction = 0 if from_client else 1
        self.tpkt[direction].reset()
        self.cotp[direction] = b""

    def _cotp(self, packet: bytes, direction: int, from_client: bool) -> None:
        session = self.session
        li = packet[4]
        if li < 1 or 5 + li > len(packet):
            session.error("s7comm: COTP header length beyond the TPKT")
            return
        tpdu = packet[5] & 0xF0
        if tpdu == COTP_DT:
            if li < 2:
                session.error("s7comm: COTP DT without TPDU number")
                return
            payload = packet[5 + li :]
            pending = self.cotp[direction]
            if not packet[6] & 0x80:  # not the last fragment
                if len(pending) + len(payload) > MAX_BUFFER:
                    session.error("s7comm: COTP fragments exceed the reassembly bound, dropped")
                    self.cotp[direction] = b""
                else:
                    self.cotp[direction] = pending + payload
                return
            if pending:
                payload = pending + payload
                self.cotp[direction] = b""
            if not payload:
                return
            first = payload[0]
            if first == 0x32:
                self._s7(payload, direction, from_client)
            elif first == 0x72:
                self._s7plus(payload, from_client)
        elif tpdu == COTP_CC and not from_client:
            session.service(banner="iso-tsap", details=self._tsaps(packet, li))
        elif tpdu == COTP_CR and from_client:
            self.session.state["cotp_cr"] = self._tsaps(packet, li)

    @staticmethod
    def _tsaps(packet: bytes, li: int) -> dict[str, str]:
        """Calling/called TSAPs of a connection request/confirm (they encode rack/slot)."""
        out: dict[str, str] = {}
        pos, end = 11, 5 + li  # TPKT 4, LI, type, dst ref 2, src ref 2, class: parameters follow
        while pos + 2 <= end:
            code, size = packet[pos], packet[pos + 1]
            value = packet[pos + 2 : pos + 2 + size]
            if code == 0xC1:
                out["src_tsap"] = value.hex()
            elif code == 0xC2:
                out["dst_tsap"] = value.hex()
            pos += 2 + size
        return out

    # -- S7comm -------------------------------------------------------------------------------
    def _s7(self, pdu: bytes, direction: int, from_client: bool) -> None:
        session = self.session
        if len(pdu) < 10:
            return  # tshark's heuristic needs the 10-byte header: not S7comm
        rosctr = pdu[1]
        if rosctr < 1 or rosctr > 7:
            return
        header = 12 if rosctr in (2, 3) else 10
        param_length = (pdu[6] << 8) | pdu[7]
        data_length = (pdu[8] << 8) | pdu[9]
        param = pdu[header : header + param_length]
        data = pdu[header + param_length : header + param_length + data_length]
        if len(pdu) < header or len(param) < param_length or len(data) < data_length:
            session.error(f"s7comm: PDU shorter than its header announces (rosctr {rosctr})")
        if rosctr == 1:
            self._job(param, data)
        elif rosctr == 3:
            failed = len(pdu) >= 12 and (pdu[10] or pdu[11])
            if param:
                function = param[0]
                category = JOB_FUNCTIONS.get(function, ("unknown", "other"))[1]
                session.pdu(_ACK_DATA_KEYS[function], category, request=False, exception=bool(failed))
            else:
                session.pdu("ack_data", "other", request=False, exception=bool(failed))
        elif rosctr == 2:
            failed = len(pdu) >= 12 and (pdu[10] or pdu[11])
            session.pdu("ack", "other", request=False, exception=bool(failed))
        elif rosctr == 7:
            self._userdata(param, data, direction)
        else:
            session.pdu(f"rosctr/{rosctr}", "other", request=from_client)

    def _job(self, param: bytes, data: bytes) -> None:
        session = self.session
        if not param:
            session.pdu("job", "other", request=True)
            return
        function = param[0]
        name, category = JOB_FUNCTIONS.get(function, ("unknown", "other"))
        key = _JOB_KEYS[function]
        kind = JOB_EVENT_KINDS.get(function)
        if kind is None:  # reads and the like: counted, no event detail to decode
            session.pdu(key, category, request=True)
            return
        detail: dict[str, Any] = {"operation": name}
        if function == 0x28 or function == 0x29:
            service, argument = self._pi_service(param, function)
            prefix = next((p for p in PI_SERVICES if service.startswith(p)), None)
            # PLC stop also names P_PROGRAM; only a 0x28 PI service is refined by the name
            if prefix is not None and function == 0x28:
                detail["operation"], category = PI_SERVICES[prefix]
            detail["pi_service"] = service
            if argument:
                detail["argument"] = argument
        elif function in (0x1A, 0x1B, 0x1C, 0x1D):
            block = self._block_name(param)
            if block:
                detail.update(block)
        elif function == 0x05:
            detail["items"] = self._var_items(param)
        session.pdu(key, category, request=True)
        if category == "mode":
            kind = "mode"
        session.event(kind, category, key, detail)

    @staticmethod
    def _pi_service(param: bytes, function: int) -> tuple[str, str]:
        """PI service name and its argument block: 0x28 has 7 unknown bytes, a parameter block and
        the name; 0x29 (PLC stop) 5 unknown bytes, then the name."""
        try:
            if function == 0x29:
                size = param[6]
                return _text(param[7 : 7 + size]), ""
            block_length = (param[8] << 8) | param[9]
            argument = param[10 : 10 + block_length]
            pos = 10 + block_length
            size = param[pos]
            return _text(param[pos + 1 : pos + 1 + size]), argument.decode("ascii", "replace")
        except IndexError:
            return "", ""

    @staticmethod
    def _block_name(param: bytes) -> dict[str, Any]:
        """Download/upload file name: '_' + block type (2 hex digits) + number (5) + file system."""
        # func, status, 2 unknown, 4 upload id (1d: 4 bytes, 1a-1c: 4 bytes), name length, name
        if len(param) < 9:
            return {}
        size = param[8]
        name = param[9 : 9 + size].decode("ascii", "replace")
        if len(name) < 8 or name[0] != "_":
            return {"file": name} if name else {}
        out: dict[str, Any] = {"file": name, "block_type": BLOCK_TYPES.get(name[1:3], name[1:3])}
        if name[3:8].isdigit():
            out["block_number"] = int(name[3:8])
        return out

    @staticmethod
    def _var_items(param: bytes) -> list[dict[str, Any]]:
        """Items of a read/write var job: S7ANY addresses (area, DB, byte.bit start, length)."""
        items: list[dict[str, Any]] = []
        if len(param) < 2:
            return items
        pos = 2
        for _ in range(param[1]):
            if pos + 2 > len(param):
                break
            spec_length = param[pos + 1]
            item = param[pos : pos + 2 + spec_length]
            pos += 2 + spec_length
            if len(items) >= MAX_WRITE_ITEMS_IN_EVENT:
                continue
            if len(item) >= 12 and item[2] == 0x10:  # S7ANY syntax
                address = (item[9] << 16) | (item[10] << 8) | item[11]
                items.append(
                    {
                        "area": AREAS.get(item[8], f"0x{item[8]:02x}"),
                        "db": (item[6] << 8) | item[7],
                        "start": address >> 3,
                        "bit": address & 7,
                        "length": (item[4] << 8) | item[5],
                        "transport_size": item[3],
                    }
                )
            else:
                items.append({"syntax": f"0x{item[2]:02x}" if len(item) > 2 else "truncated"})
        return items

    def _userdata(self, param: bytes, data: bytes, direction: int) -> None:
        session = self.session
        if len(param) < 6:
            session.pdu("userdata", "other", request=False)
            return
        method_type = param[5] >> 4
        group = param[5] & 0x0F
        request = method_type == USERDATA_REQUEST
        if len(param) < 7 or group == 0:
            # Mode-transition pushes: tshark files their subfunction under s7comm.param.modetrans.
            session.pdu(f"userdata/{group}", USERDATA_GROUP_CATEGORIES.get(group, "other"), request=request)
            return
        subfunction = param[6]
        key = _USERDATA_KEYS[group << 8 | subfunction]
        name, category = USERDATA_FUNCTIONS.get((group, subfunction), ("unknown", None))
        if category is None:
            category = USERDATA_GROUP_CATEGORIES.get(group, "other")
        body = data[4:] if len(data) >= 4 else b""
        if group == 4 and subfunction == 1 and len(body) >= 2:
            szl_id = (body[0] << 8) | body[1]
            if (szl_id & 0xFF) in (0x11, 0x1C) and (method_type != USERDATA_RESPONSE or len(param) < 12):
                category = "identify"
        failed = len(param) >= 12 and bool(param[10] or param[11])
        session.pdu(key, category, request=request, exception=failed and not request)
        if request:
            kind = USERDATA_EVENT_KINDS.get((group, subfunction))
            if (
                group == 1
                and subfunction in TIS_JOB_SUBFUNCTIONS
                and self._tis_job_function(body) == TIS_FORCE
            ):
                kind = "force"  # a job that installs/replaces a force request
            if kind is not None:
                detail: dict[str, Any] = {"operation": name, "group": group, "subfunction": subfunction}
                session.event(kind, "write" if kind == "force" else category, key, detail)
        elif method_type == USERDATA_RESPONSE and group == 4 and subfunction == 1 and not failed:
            self._szl_response(param, data, direction)

    @staticmethod
    def _tis_job_function(body: bytes) -> int | None:
        """Programmer-command job requests (13-18) name the job's subfunction in their last data bytes."""
        if len(body) < 4:
            return None
        param_size = (body[0] << 8) | body[1]
        data_size = (body[2] << 8) | body[3]
        pos = 4 + param_size + data_size - 2
        if data_size < 2 or pos < 4 or pos >= len(body):
            return None
        return body[pos]

    # -- SZL -----------------------------------------------------------------------------------
    def _szl_response(self, param: bytes, data: bytes, direction: int) -> None:
        if len(data) < 4 or data[0] != 0xFF:
            return  # return code other than success
        body = data[4:]
        if len(param) >= 12:
            key = (direction, param[8])
            more = param[9] != 0
            if more:
                pending = self.fragments.get(key)
                if pending is None and len(self.fragments) >= MAX_PENDING_FRAGMENTS:
                    self.session.error("s7comm: too many fragmented userdata responses pending, dropped")
                    return
                combined = (pending or b"") + body
                if len(combined) > MAX_BUFFER:
                    self.fragments.pop(key, None)
                    self.session.error("s7comm: fragmented userdata response exceeds the bound, dropped")
                    return
                self.fragments[key] = combined
                return
            pending = self.fragments.pop(key, None)
            if pending is not None:
                body = pending + body
        if len(body) < 4:
            return
        szl_id = (body[0] << 8) | body[1]
        kind = szl_id & 0xFF
        if kind not in (0x11, 0x1C, 0x24, 0x32):
            return
        # CPUs answer the same SZL polls with the same bytes: once reported from this side of the
        # flow (same MACs) without a decode error, a repeat would change nothing, so it is not decoded
        # again. Only remembered while the recorder still remembers identity calls (repeats no-ops).
        session = self.session
        memo = (direction, session.client_mac, session.server_mac, body)
        reported = self.szl_reported
        if memo in reported:
            return
        recorder = session.recorder
        remember = len(reported) < MAX_SZL_MEMO and len(recorder.identity_calls) < MAX_IDENTITY_CALLS
        errors = recorder.decode_errors
        if kind == 0x24:
            self._cpu_mode(body[4:])
        elif kind == 0x32:
            self._protection(body[4:])
        else:
            self._identity(szl_id, body[4:])
        if remember and recorder.decode_errors == errors:
            reported.add(memo)

    def _identity(self, szl_id: int, body: bytes) -> None:
        records, count = _szl_records(szl_id, body)
        if len(records) < count and szl_id >> 8 != 0x0F:  # 0x0Fxx: header (record count) only
            self.session.error(
                f"s7comm: SZL 0x{szl_id:04x} answer truncated ({len(records)}/{count} records)"
            )
        if not records:
            return
        session = self.session
        raw = {"src": session.src_ip, "szl_id": f"0x{szl_id:04x}", "records": records}
        fields: dict[str, Any] = {}
        if szl_id & 0xFF == 0x11:
            module = records.get("0x0001")
            if module and module.get("anz"):
                fields["model"] = module["anz"]
            hardware = records.get("0x0006")
            if hardware and hardware.get("ausbe"):
                fields["hardware_version"] = str(hardware["ausbe"])
            firmware = records.get("0x0007")
            if firmware:
                high, low = firmware["ausbg"], firmware["ausbe"]
                if high >> 8 == 0x56:  # 'V' + major, minor.patch in the next word
                    fields["firmware"] = f"V{high & 0xFF}.{low >> 8}.{low & 0xFF}"
            if str(fields.get("model", "")).startswith("6ES7"):
                fields["vendor"] = "Siemens"
        else:
            names = {index: record for index, record in records.items() if record}
            plant = names.get("0x0001", {}).get("name")
            module_name = names.get("0x0002", {}).get("name")
            fields["name"] = module_name or plant
            fields["plant"] = plant
            fields["plant_id"] = names.get("0x0003", {}).get("tag")
            fields["serial"] = names.get("0x0005", {}).get("serialn")
            fields["device_type"] = names.get("0x0007", {}).get("cputypname")
            fields["memory_card_serial"] = names.get("0x0008", {}).get("snmcmmc")
            copyright_text = names.get("0x0004", {}).get("copyright", "")
            if "Siemens" in copyright_text:
                fields["vendor"] = "Siemens"
        session.identity(raw, fields)

    def _cpu_mode(self, body: bytes) -> None:
        """SZL xx24 records (20 bytes): event id, ae, mode byte (low nibble: mode entered), ..."""
        if len(body) < 4 + 20:
            return
        mode = body[4 + 3] & 0x0F
        self.session.identity(None, {"cpu_mode": CPU_MODES.get(mode, f"0x{mode:02x}")})

    def _protection(self, body: bytes) -> None:
        """SZL xx32 index 4: key-switch protection, assigned, valid level, mode switch position."""
        if len(body) < 4:
            return
        record_length = (body[0] << 8) | body[1]
        count = (body[2] << 8) | body[3]
        pos = 4
        for _ in range(count):
            record = body[pos : pos + record_length]
            pos += record_length
            if len(record) < 10:
                return
            if (record[0] << 8) | record[1] == 4:
                mode_switch = (record[8] << 8) | record[9]
                self.session.identity(
                    None,
                    {
                        "protection_level": str((record[6] << 8) | record[7]),
                        "mode_switch": MODE_SWITCH.get(mode_switch, str(mode_switch)),
                    },
                )
                return

    # -- S7comm-plus ---------------------------------------------------------------------------
    def _s7plus(self, payload: bytes, from_client: bool) -> None:
        session = self.session
        frame = session.frame
        if frame == self.plus_frame:
            return  # one count per frame, as the corpus truth (tshark has no S7comm-plus dissector)
        self.plus_frame = frame
        if len(payload) < 2:
            session.pdu("v", "other", protocol="s7comm_plus", request=from_client)
            return
        version = payload[1]
        opcode_at = 5 + payload[4] if version == 3 and len(payload) > 4 else 4
        if opcode_at >= len(payload):
            session.pdu(f"v{version}", "other", protocol="s7comm_plus", request=from_client)
            return
        opcode = payload[opcode_at]
        if opcode not in (PLUS_REQUEST, PLUS_RESPONSE) or opcode_at + 5 > len(payload):
            session.pdu(f"v{version}/0x{opcode:02x}", "other", protocol="s7comm_plus", request=False)
            return
        function = (payload[opcode_at + 3] << 8) | payload[opcode_at + 4]
        key = f"v{version}/0x{opcode:02x}/0x{function:04x}"
        name, category = PLUS_FUNCTIONS.get(function, ("unknown", "other"))
        request = opcode == PLUS_REQUEST
        session.pdu(key, category, protocol="s7comm_plus", request=request)
        if request:
            kind = PLUS_EVENT_KINDS.get(function)
            if kind is not None:
                session.event(kind, category, key, {"operation": name}, protocol="s7comm_plus")


DISSECTOR = S7commDissector
