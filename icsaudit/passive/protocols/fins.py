"""Omron FINS over UDP 9600 and FINS/TCP (TCP 9600, "FINS" framing).

A FINS frame is a 10-byte header (ICF, RSV, GCT, DNA/DA1/DA2, SNA/SA1/SA2, SID) and a command code
(MRC, SRC); responses (ICF bit 6) add a 2-byte end code. The key is ``cmd/0x<MRC SRC>`` for requests and
responses alike, and ``tcp/<command>`` for FINS/TCP frames that carry no FINS frame (node address
exchange, error notification), as tshark keys them.
"""

from __future__ import annotations

from icsaudit.passive.protocols.base import MAX_BUFFER, Dissector, StreamBuffer

# command code -> (name, category)
FINS_COMMANDS: dict[int, tuple[str, str]] = {
    0x0101: ("memory_area_read", "read"),
    0x0102: ("memory_area_write", "write"),
    0x0103: ("memory_area_fill", "write"),
    0x0104: ("multiple_memory_area_read", "read"),
    0x0105: ("memory_area_transfer", "write"),
    0x0201: ("parameter_area_read", "read"),
    0x0202: ("parameter_area_write", "write"),
    0x0203: ("parameter_area_clear", "write"),
    0x0220: ("data_link_table_read", "read"),
    0x0221: ("data_link_table_write", "write"),
    0x0304: ("program_area_protect", "auth"),
    0x0305: ("program_area_protect_clear", "auth"),
    0x0306: ("program_area_read", "program"),
    0x0307: ("program_area_write", "program"),
    0x0308: ("program_area_clear", "program"),
    0x0401: ("run", "mode"),
    0x0402: ("stop", "mode"),
    0x0501: ("controller_data_read", "identify"),
    0x0502: ("connection_data_read", "identify"),
    0x0601: ("controller_status_read", "diagnostic"),
    0x0602: ("network_status_read", "diagnostic"),
    0x0603: ("data_link_status_read", "diagnostic"),
    0x0620: ("cycle_time_read", "diagnostic"),
    0x0701: ("clock_read", "read"),
    0x0702: ("clock_write", "write"),
    0x0801: ("loopback_test", "diagnostic"),
    0x0802: ("broadcast_test_results_read", "diagnostic"),
    0x0803: ("broadcast_test_data_send", "diagnostic"),
    0x0920: ("message_read_clear", "diagnostic"),
    0x0C01: ("access_right_acquire", "auth"),
    0x0C02: ("access_right_forced_acquire", "control"),
    0x0C03: ("access_right_release", "auth"),
    0x2101: ("error_clear", "control"),
    0x2102: ("error_log_read", "diagnostic"),
    0x2103: ("error_log_clear", "write"),
    0x2201: ("file_name_read", "program"),
    0x2202: ("single_file_read", "program"),
    0x2203: ("single_file_write", "program"),
    0x2204: ("file_memory_format", "program"),
    0x2205: ("file_delete", "program"),
    0x2206: ("volume_label_create_delete", "program"),
    0x2207: ("file_copy", "program"),
    0x2208: ("file_name_change", "program"),
    0x2209: ("file_data_check", "program"),
    0x220A: ("memory_area_file_transfer", "program"),
    0x220B: ("parameter_area_file_transfer", "program"),
    0x220C: ("program_area_file_transfer", "program"),
    0x220F: ("file_memory_index_read", "program"),
    0x2210: ("file_memory_read", "program"),
    0x2211: ("file_memory_write", "program"),
    0x2215: ("directory_create_delete", "program"),
    0x2301: ("forced_set_reset", "control"),
    0x2302: ("forced_set_reset_cancel", "control"),
    0x230A: ("multiple_forced_status_read", "read"),
    0x2601: ("name_set", "write"),
    0x2602: ("name_delete", "write"),
    0x2603: ("name_read", "read"),
}
# Requests kept as single events: command -> event kind. Listing reads (file names, index) is not an event.
FINS_EVENT_KINDS: dict[int, str] = {
    0x0102: "write",
    0x0103: "write",
    0x0105: "write",
    0x0202: "write",
    0x0203: "write",
    0x0221: "write",
    0x0702: "write",
    0x2103: "write",
    0x2601: "write",
    0x2602: "write",
    0x0306: "program",
    0x0307: "program",
    0x0308: "program",
    0x2202: "program",
    0x2203: "program",
    0x2204: "program",
    0x2205: "program",
    0x2207: "program",
    0x2208: "program",
    0x220A: "program",
    0x220B: "program",
    0x220C: "program",
    0x2210: "program",
    0x2211: "program",
    0x2215: "program",
    0x0401: "mode",
    0x0402: "mode",
    0x0C02: "control",
    0x2101: "control",
    0x2301: "force",
    0x2302: "force",
    0x0304: "auth",
    0x0305: "auth",
}
# Commands whose parameters start with a memory area code, a word address and a bit.
MEMORY_COMMANDS = frozenset({0x0101, 0x0102, 0x0103, 0x0105})
RUN_MODES: dict[int, str] = {0x02: "monitor", 0x04: "run"}
FINS_TCP_HEADER = 16  # "FINS", length, command, error code
FINS_TCP_FRAME_SEND = 2
RESPONSE_BIT = 0x40


def _fins_tcp_length(buf: bytes) -> int | None:
    if len(buf) < 8:
        return None
    if buf[:4] != b"FINS":
        return 0
    length = int.from_bytes(buf[4:8], "big") + 8
    return length if FINS_TCP_HEADER - 4 <= length <= MAX_BUFFER else 0


def _text(value: bytes) -> str:
    return value.split(b"\x00", 1)[0].decode("latin-1").strip()


class Fins(Dissector):
    name = "fins"
    tcp_ports = frozenset({9600})
    udp_ports = frozenset({9600})

    def __init__(self, session) -> None:
        super().__init__(session)
        self._streams = (StreamBuffer(), StreamBuffer())

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        return len(data) >= FINS_TCP_HEADER and data[:4] == b"FINS" and _fins_tcp_length(data) is not None

    def on_udp(self, data: bytes, from_client: bool) -> None:  # noqa: ARG002
        if data:  # empty datagrams (port probes) carry nothing to decode
            self._frame(data, "")

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        stream = self._streams[0 if from_client else 1]
        dropped = stream.dropped
        for message in stream.feed(data, _fins_tcp_length):
            command = int.from_bytes(message[8:12], "big") if len(message) >= 12 else -1
            if command == FINS_TCP_FRAME_SEND and len(message) > FINS_TCP_HEADER:
                self._frame(message[FINS_TCP_HEADER:], "tcp/2")
            else:
                key = f"tcp/{command}" if command >= 0 else "tcp"
                error = int.from_bytes(message[12:16], "big") if len(message) >= 16 else 0
                self.session.pdu(key, "other", request=command in (0, 2), exception=bool(error))
        if stream.dropped != dropped:
            self.session.error(f"FINS/TCP: {stream.dropped - dropped} bytes without a FINS header skipped")

    def on_gap(self, from_client: bool) -> None:
        self._streams[0 if from_client else 1].reset()

    def _frame(self, frame: bytes, short_key: str) -> None:
        session = self.session
        if len(frame) < 12:
            session.error("FINS: frame shorter than header and command code")
            if short_key:
                session.pdu(short_key, "other")
            return
        is_response = bool(frame[0] & RESPONSE_BIT)
        command = (frame[10] << 8) | frame[11]
        name, category = FINS_COMMANDS.get(command, ("unknown", "other"))
        key = f"cmd/0x{command:04x}"
        if is_response:
            end_code = ((frame[12] & 0x7F) << 8 | (frame[13] & 0x3F)) if len(frame) >= 14 else 0
            session.pdu(key, category, request=False, exception=end_code not in (0, 0x0040))
            if command == 0x0501 and end_code == 0 and len(frame) >= 34:
                self._controller_data(frame[14:])
            return
        session.pdu(key, category, request=True)
        kind = FINS_EVENT_KINDS.get(command)
        if kind is not None:
            session.event(kind, category, key, self._detail(frame, command, name))

    def _detail(self, frame: bytes, command: int, name: str) -> dict:
        detail: dict[str, object] = {
            "command": name,
            "destination": f"{frame[3]}.{frame[4]}.{frame[5]}",  # network.node.unit
            "source": f"{frame[6]}.{frame[7]}.{frame[8]}",
        }
        params = frame[12:]
        if command in MEMORY_COMMANDS and len(params) >= 4:
            detail["area"] = f"0x{params[0]:02x}"
            detail["address"] = (params[1] << 8) | params[2]
            detail["bit"] = params[3]
            if len(params) >= 6:
                detail["count"] = (params[4] << 8) | params[5]
        elif command == 0x0401 and len(params) >= 3:
            detail["mode"] = RUN_MODES.get(params[2], f"0x{params[2]:02x}")
        elif command in (0x2301, 0x2302) and len(params) >= 2:
            detail["count"] = (params[0] << 8) | params[1]
        return detail

    def _controller_data(self, data: bytes) -> None:
        """Controller Data Read (0501) response: model (20 bytes) and version (20 bytes), NUL padded."""
        model = _text(data[:20])
        version = _text(data[20:40])
        if not model:
            return
        session = self.session
        session.identity(None, {"vendor": "Omron", "model": model, "firmware": version, "device_type": "plc"})
        session.service(banner=f"Omron {model} {version}".strip())


DISSECTOR = Fins
