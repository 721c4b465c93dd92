"""Scenario, device and traffic definitions as read from lab/scenarios/*.yaml."""

from __future__ import annotations

import os
from typing import Any

import msgspec

from icsaudit.engine.model import Site

# Standard port of each device protocol, and its transport(s).
STANDARD_PORTS: dict[str, tuple[int, str]] = {
    "modbus": (502, "tcp"),
    "s7comm": (102, "tcp"),
    "enip": (44818, "tcp+udp"),
    "bacnet": (47808, "udp"),
    "opcua": (4840, "tcp"),
    "dnp3": (20000, "tcp"),
    "iec104": (2404, "tcp"),
    "telnet": (23, "tcp"),
    "ftp": (21, "tcp"),
    "http": (80, "tcp"),
    "snmp": (161, "udp"),
    "ssh": (22, "tcp"),
    "vnc": (5900, "tcp"),
}
# Ports below 1024 need root (or a lowered ip_unprivileged_port_start); otherwise they move up by this.
UNPRIVILEGED_OFFSET = 10000


class Identity(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What the device says about itself through its protocol."""

    vendor: str = ""
    vendor_id: int = 0  # numeric vendor id where the protocol has one (CIP, BACnet)
    model: str = ""  # model / product name
    order_number: str = ""  # order number (MLFB) / catalogue number
    firmware: str = ""
    serial: str = ""
    name: str = ""  # device / station / object name
    plant_id: str = ""
    location: str = ""
    description: str = ""
    product_code: int = 0
    device_type: int = 0
    instance: int = 0  # BACnet device instance
    application_uri: str = ""
    product_uri: str = ""
    app_software: str = ""


class DeviceSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    protocol: str  # a key of STANDARD_PORTS
    address: str
    port: int = 0  # 0: the standard port (with the offset when not root)
    role: str = "plc"
    identity: Identity = msgspec.field(default_factory=Identity)
    options: dict[str, Any] = {}  # protocol specific: unit ids, tags, community, credentials ...


class TrafficSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    kind: str  # a key of icsaudit.lab.traffic.ACTIONS
    source: str  # the client's own 127.x address
    target: str  # device name
    interval: float = 2.0  # seconds between rounds
    options: dict[str, Any] = {}


class FaultSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    description: str
    devices: list[DeviceSpec] = []
    traffic: list[TrafficSpec] = []


class Scenario(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    title: str
    description: str = ""
    site: Site
    devices: list[DeviceSpec]
    traffic: list[TrafficSpec] = []
    faults: dict[str, FaultSpec] = {}


def effective_port(spec: DeviceSpec, privileged: bool | None = None) -> int:
    """The port a device listens on: its own, else the standard one (moved up when not root)."""
    port = spec.port or STANDARD_PORTS[spec.protocol][0]
    if privileged is None:
        privileged = can_bind_low_ports()
    if port < 1024 and not privileged:
        port += UNPRIVILEGED_OFFSET
    return port


def can_bind_low_ports() -> bool:
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as fh:
            return int(fh.read().strip()) <= 21
    except (OSError, ValueError):
        return False
