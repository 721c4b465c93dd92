"""IEC 60870-5-104 controlled station on c104 (lib60870-C binding): answers STARTDT, TESTFR and
general interrogation with its measured points. Commands to control points are refused (the station
has none). c104 hands raw APDUs to Python without the peer, so the peer is the last client c104
reported connecting (labs run one 104 master per station)."""

# No "from __future__ import annotations": c104 checks callback annotations as real types.
import c104

from icsaudit.lab.devices.base import forever
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec
from icsaudit.lab.safety import require_loopback

U_FUNCTIONS: dict[int, str] = {
    0x07: "startdt_act",
    0x0B: "startdt_con",
    0x13: "stopdt_act",
    0x23: "stopdt_con",
    0x43: "testfr_act",
    0x83: "testfr_con",
}


def type_category(type_id: int) -> str:
    if 45 <= type_id <= 51 or 58 <= type_id <= 64:
        return "control"  # single/double/step/set-point/bitstring commands
    if type_id in (100, 101, 102):
        return "read"  # interrogation, counter interrogation, read
    if type_id == 104:
        return "diagnostic"  # test command
    if type_id == 105:
        return "mode"  # reset process
    if type_id == 103 or type_id == 107:
        return "other"  # clock synchronisation
    if 110 <= type_id <= 113:
        return "write"  # parameter of measured value / activation
    if 120 <= type_id <= 127:
        return "firmware"  # file transfer
    return "other"


def categorize(apdu: bytes) -> tuple[str, str]:
    """(function key, category) of one APDU (start byte 0x68 included)."""
    if len(apdu) < 6 or apdu[0] != 0x68:
        return "malformed", "other"
    control = apdu[2]
    if control & 0x01 == 0:  # I-format
        type_id = apdu[6] if len(apdu) > 6 else 0
        return f"i/{type_id}", type_category(type_id)
    if control & 0x03 == 0x01:
        return "s", "other"
    return f"u/{U_FUNCTIONS.get(control, hex(control))}", "diagnostic" if control == 0x43 else "other"


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    server = c104.Server(
        ip=require_loopback(spec.address, "bind address"), port=port, tick_rate_ms=100, max_connections=8
    )
    station = server.add_station(common_address=int(spec.options.get("common_address", 1)))
    for offset, value in enumerate(spec.options.get("measurements", [230.1, 49.98, 12.0])):
        point = station.add_point(io_address=100 + offset, type=c104.Type.M_ME_NC_1)
        point.value = float(value)
    for offset, value in enumerate(spec.options.get("breakers", [True, False])):
        point = station.add_point(io_address=200 + offset, type=c104.Type.M_SP_NA_1)
        point.value = bool(value)
    last_peer = {"ip": ""}

    def on_connect(server: c104.Server, ip: str) -> bool:
        last_peer["ip"] = ip
        return True

    def on_receive_raw(server: c104.Server, data: bytes) -> None:
        function, category = categorize(bytes(data))
        refused = category in ("control", "write", "mode", "firmware")
        journal.record(last_peer["ip"], function, category, "refused" if refused else "accepted")

    server.on_connect(callable=on_connect)
    server.on_receive_raw(callable=on_receive_raw)
    server.start()
    try:
        await forever()
    finally:
        server.stop()
