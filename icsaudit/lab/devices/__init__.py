"""Simulated lab devices, one module per protocol. Each exposes ``async serve(spec, port, journal)``
which binds ``spec.address`` (checked by icsaudit.lab.safety), journals every request and runs until
cancelled."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec

# protocol -> module under icsaudit.lab.devices
MODULES: dict[str, str] = {
    "modbus": "modbus",
    "s7comm": "s7",
    "enip": "enip",
    "bacnet": "bacnet",
    "opcua": "opcua",
    "dnp3": "dnp3",
    "iec104": "iec104",
    "telnet": "telnet",
    "ftp": "ftp",
    "http": "http",
    "snmp": "snmp",
    "ssh": "remote_access",
    "vnc": "remote_access",
}

Serve = Callable[[DeviceSpec, int, Journal], Awaitable[None]]


def server_for(protocol: str) -> Serve:
    module = importlib.import_module(f"icsaudit.lab.devices.{MODULES[protocol]}")
    return module.serve
