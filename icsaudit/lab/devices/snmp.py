"""SNMP v1/v2c agent (scapy's ASN.1 codec) answering the system group with the device identity.
Requests with the configured community (default "public", the CT-03 fault) are answered; others are
journaled as refused and dropped, as real agents do."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from scapy.asn1.asn1 import ASN1_OID
from scapy.layers.snmp import SNMP, SNMPresponse, SNMPvarbind

from icsaudit.lab.devices.base import forever
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec
from icsaudit.lab.safety import require_loopback

PDU_CATEGORIES = {
    "SNMPget": "read",
    "SNMPnext": "read",
    "SNMPbulk": "read",
    "SNMPset": "write",
    "SNMPtrapv1": "other",
    "SNMPtrapv2": "other",
    "SNMPinform": "other",
}
NO_SUCH_NAME = 2


def system_group(spec: DeviceSpec, started: float) -> list[tuple[str, Any]]:
    ident = spec.identity
    descr = spec.options.get("sys_descr", f"{ident.vendor} {ident.model} firmware {ident.firmware}".strip())
    from scapy.asn1.asn1 import ASN1_STRING, ASN1_TIME_TICKS

    return [
        ("1.3.6.1.2.1.1.1.0", ASN1_STRING(descr.encode())),
        ("1.3.6.1.2.1.1.2.0", ASN1_OID(spec.options.get("sys_object_id", "1.3.6.1.4.1.4196.1.1.5.2.100"))),
        ("1.3.6.1.2.1.1.3.0", ASN1_TIME_TICKS(int((time.time() - started) * 100))),
        ("1.3.6.1.2.1.1.4.0", ASN1_STRING(spec.options.get("sys_contact", "ot-admin").encode())),
        ("1.3.6.1.2.1.1.5.0", ASN1_STRING((ident.name or spec.name).encode())),
        ("1.3.6.1.2.1.1.6.0", ASN1_STRING(ident.location.encode())),
    ]


def _oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in oid.split(".") if part)


class _Agent(asyncio.DatagramProtocol):
    def __init__(self, spec: DeviceSpec, journal: Journal) -> None:
        self.spec, self.journal = spec, journal
        self.community = str(spec.options.get("community", "public"))
        self.started = time.time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = SNMP(data)
            pdu = message.PDU
            kind = type(pdu).__name__
            community = bytes(message.community.val).decode(errors="replace")
            version = int(message.version.val)
        except Exception:  # noqa: BLE001 - garbage is still a request to journal
            self.journal.record(addr, "undecodable", "other", "refused", length=len(data))
            return
        category = PDU_CATEGORIES.get(kind, "other")
        function = kind.removeprefix("SNMP").lower()
        if community != self.community or kind not in ("SNMPget", "SNMPnext", "SNMPbulk"):
            self.journal.record(addr, function, category, "refused", community=community, version=version)
            return
        self.journal.record(addr, function, category, "accepted", community=community, version=version)
        table = sorted(system_group(self.spec, self.started), key=lambda item: _oid_key(item[0]))
        values = dict(table)
        answers, error, error_index = [], 0, 0
        for index, varbind in enumerate(pdu.varbindlist, start=1):
            oid = varbind.oid.val
            if kind == "SNMPget":
                found = (oid, values.get(oid))
            else:
                found = next(((o, v) for o, v in table if _oid_key(o) > _oid_key(oid)), (oid, None))
            if found[1] is None:
                error, error_index = NO_SUCH_NAME, error_index or index
                answers.append(SNMPvarbind(oid=ASN1_OID(oid)))
            else:
                answers.append(SNMPvarbind(oid=ASN1_OID(found[0]), value=found[1]))
        reply = SNMP(
            version=version,
            community=self.community,
            PDU=SNMPresponse(id=pdu.id.val, error=error, error_index=error_index, varbindlist=answers),
        )
        self.transport.sendto(bytes(reply), (require_loopback(addr[0], "reply address"), addr[1]))  # type: ignore[attr-defined]


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Agent(spec, journal), local_addr=(require_loopback(spec.address, "bind address"), port)
    )
    try:
        await forever()
    finally:
        transport.close()
