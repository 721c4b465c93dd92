"""DNP3 outstation on dnp3py (pure-Python IEEE 1815 outstation): binary and analog inputs for
class 0 reads; its default command handler refuses controls (select/operate/direct operate) and
restarts. Our own asyncio listener hands each connection to dnp3py's protocol stack through a channel
that journals every link frame and application request on the way in."""

from __future__ import annotations

import asyncio
import struct

from dnp3.outstation.config import OutstationConfig
from dnp3.outstation.outstation import Outstation
from dnp3.outstation.tcp_runner import OutstationTcpRunner

from icsaudit.lab.devices.base import IDLE_TIMEOUT, peer_of, serve_tcp
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec

# Application function code -> (name, category).
APP_FUNCTIONS: dict[int, tuple[str, str]] = {
    0x00: ("confirm", "other"),
    0x01: ("read", "read"),
    0x02: ("write", "write"),
    0x03: ("select", "control"),
    0x04: ("operate", "control"),
    0x05: ("direct_operate", "control"),
    0x06: ("direct_operate_nr", "control"),
    0x07: ("immediate_freeze", "control"),
    0x08: ("immediate_freeze_nr", "control"),
    0x09: ("freeze_clear", "control"),
    0x0A: ("freeze_clear_nr", "control"),
    0x0D: ("cold_restart", "mode"),
    0x0E: ("warm_restart", "mode"),
    0x0F: ("initialize_data", "mode"),
    0x10: ("initialize_application", "mode"),
    0x11: ("start_application", "mode"),
    0x12: ("stop_application", "mode"),
    0x14: ("enable_unsolicited", "other"),
    0x15: ("disable_unsolicited", "other"),
    0x17: ("delay_measure", "diagnostic"),
    0x18: ("record_current_time", "other"),
    0x19: ("open_file", "firmware"),
    0x1A: ("close_file", "firmware"),
    0x1B: ("delete_file", "firmware"),
    0x20: ("authenticate_request", "auth"),
    0x21: ("authenticate_error", "auth"),
}
LINK_FUNCTIONS: dict[int, str] = {
    0: "reset_link_states",
    2: "test_link_states",
    3: "confirmed_user_data",
    4: "unconfirmed_user_data",
    9: "request_link_status",
}
# dnp3py's default handler refuses these (the lab outstation accepts no controls or restarts).
REFUSED = {0x03, 0x04, 0x05, 0x06, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x19, 0x1A, 0x1B}


def categorize_frame(frame: bytes) -> tuple[str, str]:
    """(function key, category) of one DNP3 link frame sent by a master."""
    control = frame[3]
    link_fc = control & 0x0F
    if link_fc in (3, 4) and len(frame) >= 13:
        transport = frame[10]
        if not transport & 0x40:  # not the first segment: the function came with the first one
            return "transport/continuation", "other"
        fc = frame[12]
        name, category = APP_FUNCTIONS.get(fc, (f"0x{fc:02x}", "other"))
        return f"fc{fc}", category
    return f"link/{LINK_FUNCTIONS.get(link_fc, link_fc)}", "diagnostic" if link_fc == 9 else "other"


def frame_length(buffer: bytes) -> int | None:
    """Bytes of the first complete link frame in buffer (header 10 + data blocks with CRCs)."""
    if len(buffer) < 10:
        return None
    user = buffer[2] - 5
    blocks, rest = divmod(user, 16)
    total = 10 + blocks * 18 + (rest + 2 if rest else 0)
    return total if len(buffer) >= total else None


class _JournalingChannel:
    """The channel dnp3py's runner reads from: journals whole frames, passes bytes through."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, journal: Journal) -> None:
        self.reader, self.writer, self.journal = reader, writer, journal
        self.peer = peer_of(writer)
        self.buffer = b""

    async def read(self, size: int) -> bytes:
        data = await asyncio.wait_for(self.reader.read(size), IDLE_TIMEOUT)
        self.buffer += data
        while True:
            if self.buffer and not self.buffer.startswith(b"\x05\x64"):
                self.journal.record(self.peer, "not-dnp3", "other", "refused", length=len(self.buffer))
                self.buffer = b""
            length = frame_length(self.buffer)
            if length is None:
                break
            frame, self.buffer = self.buffer[:length], self.buffer[length:]
            function, category = categorize_frame(frame)
            fc = int(function[2:]) if function.startswith("fc") else -1
            self.journal.record(
                self.peer,
                function,
                category,
                "refused" if fc in REFUSED else "accepted",
                destination=struct.unpack("<H", frame[4:6])[0],
            )
        return data

    async def write_all(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()


def build_outstation(spec: DeviceSpec) -> Outstation:
    address = int(spec.options.get("dnp3_address", 10))
    outstation = Outstation(config=OutstationConfig(address=address, time_sync_required=False))
    for index, value in enumerate(spec.options.get("binary_inputs", [True, False, True])):
        outstation.database.add_binary_input(index, value=bool(value))
    for index, value in enumerate(spec.options.get("analog_inputs", [12.5, 7.2, 0.4])):
        outstation.database.add_analog_input(index, value=float(value))
    return outstation


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    runner = OutstationTcpRunner(outstation=build_outstation(spec), host=spec.address, port=port)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await runner._handle_connection(_JournalingChannel(reader, writer, journal))  # noqa: SLF001

    await serve_tcp(spec.address, port, connection)
