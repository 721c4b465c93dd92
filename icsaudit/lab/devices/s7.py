"""S7comm device on python-snap7's server, with SZL 0x0011/0x001C answers rebuilt so nmap s7-info
and real engineering tools read the configured order number, firmware, serial and plant id
(the stock answers are too short for s7-info: nse-baseline.md §6.1). Every S7 PDU is journaled."""

from __future__ import annotations

import struct

import snap7.server
from snap7.type import SrvArea

from icsaudit.lab.devices.base import forever
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec
from icsaudit.lab.safety import require_loopback
from icsaudit.passive.protocols import s7comm

# The dissector's job functions, but a PI service counts as a mode change unless it names a program
# service (below): the lab journals what reached the device without the dissector's PI name lookup.
JOB_FUNCTIONS: dict[int, tuple[str, str]] = {**s7comm.JOB_FUNCTIONS, 0x28: ("pi_service", "mode")}
# PI services that change program content rather than the run mode.
PROGRAM_PI_SERVICES = (b"_INSE", b"_DELE", b"_GARB", b"_MODU", b"_N_")
USERDATA_GROUPS: dict[int, tuple[str, str]] = {
    0x1: ("programmer", "diagnostic"),
    0x2: ("cyclic", "read"),
    0x3: ("block", "diagnostic"),
    0x4: ("szl", "diagnostic"),
    0x5: ("security", "auth"),
    0x6: ("pbc", "other"),
    0x7: ("time", "read"),
}
IDENTITY_SZL = {0x0011, 0x0111, 0x001C, 0x011C, 0x0424}


def categorize(pdu: bytes) -> tuple[str, str]:
    """(function key, category) of one S7 PDU as received by the server."""
    if len(pdu) < 10 or pdu[0] != 0x32:
        return "malformed", "other"
    rosctr = pdu[1]
    param_len = struct.unpack(">H", pdu[6:8])[0]
    header = 12 if rosctr in (2, 3) else 10
    params = pdu[header : header + param_len]
    data = pdu[header + param_len :]
    if rosctr == 1 and params:
        fn = params[0]
        name, category = JOB_FUNCTIONS.get(fn, (f"0x{fn:02x}", "other"))
        if fn == 0x28 and any(tag in params for tag in PROGRAM_PI_SERVICES):
            category = "program"
        return f"job/0x{fn:02x}", category if name else "other"
    if rosctr == 7 and len(params) >= 7:
        group, sub = params[5] & 0x0F, params[6]
        _name, category = USERDATA_GROUPS.get(group, ("", "other"))
        if group == 0x4 and len(data) >= 6:
            szl_id = struct.unpack(">H", data[4:6])[0]
            category = "identify" if szl_id in IDENTITY_SZL else "diagnostic"
        elif group == 0x7 and sub in (0x02, 0x04):  # set clock
            category = "write"
        return f"userdata/{group:x}/{sub:02x}", category
    if rosctr == 3:
        return "ack_data", "other"
    return f"rosctr/{rosctr}", "other"


def _text(value: str, size: int) -> bytes:
    return value.encode("latin-1", "replace")[:size].ljust(size, b" " if size == 20 else b"\x00")


def _firmware_triple(firmware: str) -> tuple[int, int, int]:
    digits = [int(p) for p in firmware.lstrip("Vv ").split(".") if p.isdigit()][:3]
    return tuple(digits + [0] * (3 - len(digits)))  # type: ignore[return-value]


class LabS7Server(snap7.server.Server):
    """snap7 server whose identity lists come from the scenario and whose requests are journaled."""

    def __init__(self, spec: DeviceSpec, journal: Journal) -> None:
        super().__init__(log=False)
        self.spec = spec
        self.journal = journal

    def _get_szl_data(self, szl_id: int, szl_index: int) -> bytes | None:
        ident = self.spec.identity
        order = (ident.order_number or ident.model).ljust(20)[:20]
        if szl_id in (0x0011, 0x0111):  # module identification: order numbers and firmware
            major, minor, patch = _firmware_triple(ident.firmware)
            records = [
                struct.pack(">H20sHHH", 1, _text(order, 20), 0xC0, 3, 1),
                struct.pack(">H20sHHH", 6, _text(order, 20), 0xC0, 3, 1),
                struct.pack(">H20sHBBBB", 7, b" " * 20, 0xC0, ord("V"), major, minor, patch),
            ]
            return struct.pack(">HH", 28, len(records)) + b"".join(records)
        if szl_id in (0x001C, 0x011C):  # component identification: names, plant id, serial
            opts = self.spec.options
            fields = [
                (1, opts.get("station_name", ident.name)),
                (2, opts.get("module_name", ident.name)),
                (3, ident.plant_id),
                (4, opts.get("copyright", "Original Siemens Equipment")),
                (5, ident.serial),
                (7, ident.model),
                (8, ""),
                (9, ""),
                (0x0A, ""),
                (0x0B, ident.location),
            ]
            records = [struct.pack(">H32s", index, _text(value, 32)) for index, value in fields]
            return struct.pack(">HH", 34, len(records)) + b"".join(records)
        return super()._get_szl_data(szl_id, szl_index)

    def _process_request(self, request_data: bytes, client_address: tuple[str, int]) -> bytes | None:
        function, category = categorize(request_data)
        response = super()._process_request(request_data, client_address)
        refused = response is None or _is_error_response(response)
        self.journal.record(client_address, function, category, "refused" if refused else "accepted")
        return response


def _is_error_response(response: bytes) -> bool:
    """ACK_DATA with a non-zero error class/code."""
    return len(response) >= 12 and response[1] == 3 and response[10:12] != b"\x00\x00"


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    server = LabS7Server(spec, journal)
    # Data blocks and merkers the HMI and the historian read (sizes from the scenario).
    for db in spec.options.get("data_blocks", [1]):
        server.register_area(SrvArea.DB, int(db), bytearray(int(spec.options.get("db_size", 256))))
    server.register_area(SrvArea.MK, 0, bytearray(256))
    server.start_to(require_loopback(spec.address, "bind address"), port)
    try:
        await forever()
    finally:
        server.stop()
        server.destroy()
