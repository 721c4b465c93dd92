"""BACnet/IP device on bacpypes3: a device object with vendor, model, firmware and application
software version, analog-value set-points (writable, as a BMS controller's are), and the fix for the
wildcard device instance 4194303 that bacpypes3 0.0.110 ignores (nse-baseline.md §6.2).
Every datagram is journaled: decoded services by name, anything bacpypes3 cannot decode as "other"."""

from __future__ import annotations

import asyncio
from typing import Any

from bacpypes3.app import Application
from bacpypes3.ipv4 import IPv4DatagramProtocol
from bacpypes3.ipv4.app import NormalApplication
from bacpypes3.local.analog import AnalogValueObject
from bacpypes3.local.device import DeviceObject
from bacpypes3.pdu import IPv4Address
from bacpypes3.primitivedata import ObjectType

from icsaudit.lab.bacnet_wire import send_loopback_peers_on_the_wire
from icsaudit.lab.devices.base import forever
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec
from icsaudit.lab.safety import require_loopback

WILDCARD_INSTANCE = 4194303
SERVICE_CATEGORIES: dict[str, str] = {
    "WhoIsRequest": "identify",
    "WhoHasRequest": "identify",
    "IAmRequest": "identify",
    "IHaveRequest": "identify",
    "ReadPropertyRequest": "read",
    "ReadPropertyMultipleRequest": "read",
    "ReadRangeRequest": "read",
    "SubscribeCOVRequest": "read",
    "SubscribeCOVPropertyRequest": "read",
    "WritePropertyRequest": "write",
    "WritePropertyMultipleRequest": "write",
    "AddListElementRequest": "write",
    "RemoveListElementRequest": "write",
    "CreateObjectRequest": "program",
    "DeleteObjectRequest": "program",
    "AtomicWriteFileRequest": "program",
    "AtomicReadFileRequest": "program",
    "ReinitializeDeviceRequest": "mode",
    "DeviceCommunicationControlRequest": "mode",
    "AcknowledgeAlarmRequest": "control",
    "TimeSynchronizationRequest": "other",
    "UTCTimeSynchronizationRequest": "other",
    "GetEventInformationRequest": "read",
    "GetAlarmSummaryRequest": "read",
}


class LabBacnetApplication(NormalApplication):
    journal: Journal

    async def indication(self, apdu: Any) -> None:
        service = apdu.__class__.__name__
        category = SERVICE_CATEGORIES.get(service, "other")
        oid = getattr(apdu, "objectIdentifier", None)
        if service == "ReadPropertyRequest" and oid is not None and oid[0] == ObjectType.device:
            category = "identify"
        peer = getattr(apdu.pduSource, "addrTuple", None) or ""
        extra: dict[str, Any] = {"object": str(oid)} if oid is not None else {}
        prop = getattr(apdu, "propertyIdentifier", None)
        if prop is not None:
            extra["property"] = str(prop)
        self.journal.record(peer, service, category, "accepted", **extra)
        await super().indication(apdu)

    async def do_ReadPropertyRequest(self, apdu: Any) -> None:
        oid = apdu.objectIdentifier
        if oid[0] == ObjectType.device and oid[1] == WILDCARD_INSTANCE:
            apdu.objectIdentifier = self.device_object.objectIdentifier
        return await super().do_ReadPropertyRequest(apdu)


def _journal_undecodable(journal: Journal) -> None:
    """Datagrams that are not BVLC (first byte 0x81) never reach the application: journal them here."""
    original = IPv4DatagramProtocol.datagram_received

    def datagram_received(self: IPv4DatagramProtocol, data: bytes, addr: tuple[str, int]) -> None:
        if not data or data[0] != 0x81:
            journal.record(addr, "not-bvlc", "other", "refused", length=len(data))
        return original(self, data, addr)

    IPv4DatagramProtocol.datagram_received = datagram_received  # type: ignore[method-assign]


def build_application(spec: DeviceSpec, port: int, journal: Journal) -> LabBacnetApplication:
    send_loopback_peers_on_the_wire()  # answers to a client on another 127.x:47808 go out, not back in
    ident = spec.identity
    device = DeviceObject(
        objectIdentifier=("device", ident.instance or 1000),
        objectName=ident.name or spec.name,
        vendorIdentifier=ident.vendor_id or 5,
        vendorName=ident.vendor,
        modelName=ident.model,
        firmwareRevision=ident.firmware,
        applicationSoftwareVersion=ident.app_software or ident.firmware,
        description=ident.description,
        location=ident.location,
    )
    # "/32" keeps bacpypes3 from opening a broadcast socket on the subnet.
    address = IPv4Address(f"{require_loopback(spec.address, 'bind address')}/32:{port}")
    app = LabBacnetApplication(device, address)
    app.journal = journal
    for index, point in enumerate(spec.options.get("points", []), start=1):
        app.add_object(
            AnalogValueObject(
                objectIdentifier=("analog-value", int(point.get("instance", index))),
                objectName=str(point["name"]),
                presentValue=float(point.get("value", 0.0)),
                units=str(point.get("units", "noUnits")),
                description=str(point.get("description", "")),
            )
        )
    return app


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    _journal_undecodable(journal)
    app = build_application(spec, port, journal)
    try:
        await forever()
    finally:
        app.close()
        await asyncio.sleep(0)


__all__ = ["serve", "Application"]
