"""Which probe runs on which port: the probe modules by name and the standard ICS/IT port list."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from icsaudit.errors import InputError
from icsaudit.probes import bacnet, banner, dnp3, enip, iec104, modbus, opcua, s7, snmp

PROBES: dict[str, ModuleType] = {
    "modbus": modbus,
    "s7": s7,
    "enip": enip,
    "bacnet": bacnet,
    "dnp3": dnp3,
    "iec104": iec104,
    "opcua": opcua,
    "snmp": snmp,
    "telnet": banner,
    "ftp": banner,
    "ssh": banner,
    "http": banner,
    "vnc": banner,
}
STANDARD_PORTS: dict[int, str] = {
    502: "modbus",
    102: "s7",
    44818: "enip",
    47808: "bacnet",
    20000: "dnp3",
    2404: "iec104",
    4840: "opcua",
    161: "snmp",
    21: "ftp",
    22: "ssh",
    23: "telnet",
    80: "http",
    5900: "vnc",
}
DEFAULT_PORTS = ",".join(str(p) for p in STANDARD_PORTS)


@dataclass(frozen=True)
class PortSpec:
    port: int
    probe: str

    @property
    def transport(self) -> str:
        return PROBES[self.probe].TRANSPORT

    @property
    def module(self) -> ModuleType:
        return PROBES[self.probe]


def parse_ports(text: str) -> list[PortSpec]:
    """ "502,102,10502:modbus": standard ports name their probe; others need PORT:PROBE."""
    specs: list[PortSpec] = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        port_text, _, probe = item.partition(":")
        try:
            port = int(port_text)
        except ValueError:
            raise InputError(
                f"port {item!r} is not a number", hint="--ports 502,102 or --ports 10502:modbus"
            ) from None
        if not 1 <= port <= 65535:
            raise InputError(f"port {port} is out of range 1-65535")
        probe = probe or STANDARD_PORTS.get(port, "")
        if not probe:
            raise InputError(
                f"port {port} has no standard probe; name one as {port}:PROBE",
                hint=f"probes: {', '.join(PROBES)}",
            )
        if probe not in PROBES:
            raise InputError(f"unknown probe {probe!r} for port {port}", hint=f"probes: {', '.join(PROBES)}")
        spec = PortSpec(port, probe)
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise InputError("no port given", hint=f"--ports {DEFAULT_PORTS}")
    return specs
