"""Modbus/TCP device on pymodbus: holding/input registers, coils, FC 43/14 device identification
and FC 17 report server id from the configured identity. Every MBAP frame is journaled with its peer."""

from __future__ import annotations

import struct
from typing import Any

from pymodbus import ModbusDeviceIdentification
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec
from icsaudit.lab.safety import require_loopback

# Function code -> operation category (as the passive dissector maps them).
CATEGORIES: dict[int, str] = {
    1: "read",
    2: "read",
    3: "read",
    4: "read",
    5: "write",
    6: "write",
    7: "diagnostic",
    8: "diagnostic",
    11: "diagnostic",
    12: "diagnostic",
    15: "write",
    16: "write",
    17: "identify",
    20: "read",
    21: "write",
    22: "write",
    23: "write",
    24: "read",
    43: "identify",
    90: "program",
}
# FC 8 sub-functions that restart the device or silence it are mode changes.
MODE_DIAGNOSTIC_SUBFUNCTIONS = {0x0001, 0x0004}
# What pymodbus answers; anything else gets exception 01 (illegal function).
ANSWERED = {1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 15, 16, 17, 20, 21, 22, 23, 24, 43}


def categorize(pdu: bytes) -> tuple[str, str]:
    """(function key, category) of a request PDU (function code + data)."""
    if not pdu:
        return "empty", "other"
    fc = pdu[0]
    if fc == 43 and len(pdu) > 1:
        return f"fc43/{pdu[1]}", "identify" if pdu[1] == 14 else "other"
    if fc == 8 and len(pdu) >= 3:
        sub = struct.unpack(">H", pdu[1:3])[0]
        return f"fc8/{sub}", "mode" if sub in MODE_DIAGNOSTIC_SUBFUNCTIONS else "diagnostic"
    return f"fc{fc}", CATEGORIES.get(fc, "other")


class _JournaledHandler(ServerRequestHandler):
    """Splits the received stream into MBAP frames to journal each one before pymodbus decodes it."""

    journal: Journal

    def data_received(self, data: bytes) -> None:
        self._mbap = getattr(self, "_mbap", b"") + data
        while len(self._mbap) >= 8:
            length = struct.unpack(">H", self._mbap[4:6])[0]
            if len(self._mbap) < 6 + length:
                break
            frame, self._mbap = self._mbap[: 6 + length], self._mbap[6 + length :]
            function, category = categorize(frame[7:])
            peer = self.transport.get_extra_info("peername") if self.transport else None
            answered = bool(frame[7:]) and frame[7] in ANSWERED
            self.journal.record(
                peer, function, category, "accepted" if answered else "refused", unit=frame[6]
            )
        super().data_received(data)


class _JournaledServer(ModbusTcpServer):
    def __init__(self, *args: Any, journal: Journal, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._journal = journal

    def callback_new_connection(self) -> ServerRequestHandler:
        handler = _JournaledHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)
        handler.journal = self._journal
        return handler


def identity_of(spec: DeviceSpec) -> ModbusDeviceIdentification:
    ident = spec.identity
    return ModbusDeviceIdentification(
        info_name={
            "VendorName": ident.vendor,
            "ProductCode": ident.order_number or ident.model,
            "MajorMinorRevision": ident.firmware,
            "VendorUrl": spec.options.get("vendor_url", ""),
            "ProductName": ident.model,
            "ModelName": ident.order_number or ident.model,
            "UserApplicationName": ident.name,
        }
    )


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    registers = int(spec.options.get("registers", 200))
    values = [int(v) for v in spec.options.get("initial_registers", [])] or 0
    devices = [
        SimDevice(
            id=int(unit),
            simdata=[
                SimData(address=0, count=registers, values=values, datatype=DataType.REGISTERS),
            ],
        )
        for unit in spec.options.get("unit_ids", [1])
    ]
    server = _JournaledServer(
        devices if len(devices) > 1 else devices[0],
        identity=identity_of(spec),
        address=(require_loopback(spec.address, "bind address"), port),
        journal=journal,
    )
    await server.serve_forever(background=True)
    try:
        await server.serving
    finally:
        await server.shutdown()
