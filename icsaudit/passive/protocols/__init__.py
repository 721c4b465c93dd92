"""Registry of protocol dissectors: one module per protocol, each defining ``DISSECTOR``.

The core looks up dissectors by TCP/UDP port and EtherType, and asks ``sniff`` on unexpected ports.
Modules that fail to import are reported, never fatal (a broken module must not stop an audit).
"""

from __future__ import annotations

import importlib
import logging
from functools import cache

from icsaudit._compiled import prefer_compiled

prefer_compiled(__path__, __name__)  # before any module of this package is imported (see _compiled)

from icsaudit.passive.protocols.base import Dissector  # noqa: E402

log = logging.getLogger(__name__)

# Order matters for sniffing ties only; each module is small and alike.
MODULES = (
    "modbus",
    "s7comm",
    "enip_cip",
    "dnp3",
    "iec104",
    "bacnet",
    "opcua",
    "iec61850",
    "profinet_dcp",
    "fins",
    "it_services",
)


class Registry:
    def __init__(self, dissectors: list[type[Dissector]]) -> None:
        self.dissectors = dissectors
        self.by_tcp_port: dict[int, type[Dissector]] = {}
        self.by_udp_port: dict[int, type[Dissector]] = {}
        self.by_ethertype: dict[int, type[Dissector]] = {}
        for cls in dissectors:
            for port in cls.tcp_ports:
                self.by_tcp_port.setdefault(port, cls)
            for port in cls.udp_ports:
                self.by_udp_port.setdefault(port, cls)
            for ethertype in cls.ethertypes:
                self.by_ethertype.setdefault(ethertype, cls)
        self.sniffers = sorted(dissectors, key=lambda c: c.sniff_priority)
        self.stats_protocols = sorted({p for c in dissectors for p in (c.stats_protocols or (c.name,))})

    def sniff(self, data: bytes, from_client: bool) -> type[Dissector] | None:
        for cls in self.sniffers:
            try:
                if cls.sniff(data, from_client):
                    return cls
            except Exception:  # a sniffer must never break the pipeline
                continue
        return None


@cache
def default_registry() -> Registry:
    dissectors: list[type[Dissector]] = []
    for name in MODULES:
        try:
            module = importlib.import_module(f"icsaudit.passive.protocols.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"icsaudit.passive.protocols.{name}":
                continue  # not built yet
            raise
        found = getattr(module, "DISSECTORS", None) or [module.DISSECTOR]
        dissectors.extend(found)
    return Registry(dissectors)
