"""SNMP agent (scapy's ASN.1 codec) answering the system group with the device identity.

v1/v2c: requests with the configured community (default "public", the CT-03 fault) are answered;
others are journaled as refused and dropped, as real agents do.

v3: the agent has an engine id and no users. As RFC 3414 section 4 prescribes, a reportable message
with an unknown (empty) engine id, the engine discovery, gets a Report of usmStatsUnknownEngineIDs
that carries the engine id, boots and time in its USM parameters; one with this engine id gets a
Report of usmStatsUnknownUserNames (no user exists). Nothing else is answered over v3. The engine id
is an RFC 3411 one as the device's vendor would build it: the vendor's IANA enterprise number, format
3 (MAC) and a MAC in one of the vendor's IEEE OUIs (option ``engine_id`` overrides it, as hex)."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any

from scapy.asn1.asn1 import ASN1_COUNTER32, ASN1_OID, ASN1_Codecs
from scapy.asn1fields import (
    ASN1F_CHOICE,
    ASN1F_INTEGER,
    ASN1F_SEQUENCE,
    ASN1F_SEQUENCE_OF,
    ASN1F_STRING,
    ASN1F_enum_INTEGER,
)
from scapy.asn1packet import ASN1_Packet
from scapy.layers.snmp import (
    SNMP,
    SNMP_error,
    SNMPbulk,
    SNMPget,
    SNMPinform,
    SNMPnext,
    SNMPresponse,
    SNMPset,
    SNMPtrapv1,
    SNMPtrapv2,
    SNMPvarbind,
)

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

# vendor -> (IANA enterprise number, an IEEE OUI registered to it), checked against the IANA registry
# (Wireshark's enterprises.tsv) and the IEEE OUI registry (netaddr); the engine id's MAC ends in the
# device address's last three octets
ENGINE_VENDORS: dict[str, tuple[int, str]] = {
    "schneider electric": (3833, "00:00:54"),
    "hirschmann": (248, "00:80:63"),
}
NET_SNMP = 8072  # any other vendor: net-snmp's number, a locally administered MAC
USM_UNKNOWN_USER_NAMES = "1.3.6.1.6.3.15.1.1.3.0"
USM_UNKNOWN_ENGINE_IDS = "1.3.6.1.6.3.15.1.1.4.0"
FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE = 0x01, 0x02, 0x04


class SNMPreport(ASN1_Packet):
    """Report-PDU (RFC 3416, tag 0xA8), which scapy's SNMP layer lacks."""

    ASN1_codec = ASN1_Codecs.BER
    ASN1_root = ASN1F_SEQUENCE(
        ASN1F_INTEGER("id", 0),
        ASN1F_enum_INTEGER("error", 0, SNMP_error),
        ASN1F_INTEGER("error_index", 0),
        ASN1F_SEQUENCE_OF("varbindlist", [], SNMPvarbind),
        implicit_tag=0xA8,
    )


class USMSecurityParameters(ASN1_Packet):
    """UsmSecurityParameters (RFC 3414), carried BER-encoded in msgSecurityParameters."""

    ASN1_codec = ASN1_Codecs.BER
    ASN1_root = ASN1F_SEQUENCE(
        ASN1F_STRING("engine_id", b""),
        ASN1F_INTEGER("engine_boots", 0),
        ASN1F_INTEGER("engine_time", 0),
        ASN1F_STRING("user_name", b""),
        ASN1F_STRING("auth_params", b""),
        ASN1F_STRING("priv_params", b""),
    )


class SNMPv3(ASN1_Packet):
    """SNMPv3Message (RFC 3412) with a plaintext scoped PDU (encrypted ones do not decode)."""

    ASN1_codec = ASN1_Codecs.BER
    ASN1_root = ASN1F_SEQUENCE(
        ASN1F_INTEGER("version", 3),
        ASN1F_SEQUENCE(
            ASN1F_INTEGER("msg_id", 0),
            ASN1F_INTEGER("msg_max_size", 65507),
            ASN1F_STRING("msg_flags", b"\x00"),
            ASN1F_INTEGER("msg_security_model", 3),
        ),
        ASN1F_STRING("msg_security_parameters", b""),
        ASN1F_SEQUENCE(
            ASN1F_STRING("context_engine_id", b""),
            ASN1F_STRING("context_name", b""),
            ASN1F_CHOICE(
                "PDU",
                SNMPget(),
                SNMPget,
                SNMPnext,
                SNMPresponse,
                SNMPset,
                SNMPtrapv1,
                SNMPbulk,
                SNMPinform,
                SNMPtrapv2,
                SNMPreport,
            ),
        ),
    )


def _vendor_numbers(spec: DeviceSpec) -> tuple[int, str]:
    """(IANA enterprise number, OUI) of the device's vendor; net-snmp's and a local OUI otherwise."""
    vendor = spec.identity.vendor.lower()
    return next(
        (numbers for name, numbers in ENGINE_VENDORS.items() if vendor.startswith(name)),
        (NET_SNMP, "02:00:00"),
    )


def engine_id(spec: DeviceSpec) -> bytes:
    """The agent's snmpEngineID (RFC 3411): enterprise | 0x80000000, format 3, a vendor MAC."""
    if spec.options.get("engine_id"):
        return bytes.fromhex(str(spec.options["engine_id"]))
    enterprise, oui = _vendor_numbers(spec)
    tail = ipaddress.ip_address(spec.address).packed[-3:]
    mac = bytes.fromhex(oui.replace(":", "")) + tail
    return (0x80000000 | enterprise).to_bytes(4, "big") + b"\x03" + mac


def system_group(spec: DeviceSpec, started: float) -> list[tuple[str, Any]]:
    ident = spec.identity
    descr = spec.options.get("sys_descr", f"{ident.vendor} {ident.model} firmware {ident.firmware}".strip())
    from scapy.asn1.asn1 import ASN1_STRING, ASN1_TIME_TICKS

    return [
        ("1.3.6.1.2.1.1.1.0", ASN1_STRING(descr.encode())),
        # sysObjectID under the vendor's own enterprise arc, as the engine id (a product arc ".1")
        (
            "1.3.6.1.2.1.1.2.0",
            ASN1_OID(spec.options.get("sys_object_id", f"1.3.6.1.4.1.{_vendor_numbers(spec)[0]}.1")),
        ),
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
        self.engine_id = engine_id(spec)
        self.engine_boots = int(spec.options.get("engine_boots", 1))
        self.reports: dict[str, int] = {USM_UNKNOWN_ENGINE_IDS: 0, USM_UNKNOWN_USER_NAMES: 0}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = SNMP(data)
            pdu = message.PDU
            kind = type(pdu).__name__
            community = bytes(message.community.val).decode(errors="replace")
            version = int(message.version.val)
        except Exception:  # noqa: BLE001 - not v1/v2c: v3, or garbage (still a request to journal)
            self._v3(data, addr)
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

    def _v3(self, data: bytes, addr: tuple[str, int]) -> None:
        """USM processing up to the Reports an agent without users sends (RFC 3414 sections 3.2, 4)."""
        try:
            message = SNMPv3(data)
            if int(message.version.val) != 3 or int(message.msg_security_model.val) != 3:
                raise ValueError("not SNMPv3 with USM")
            usm = USMSecurityParameters(bytes(message.msg_security_parameters.val))
            flags = bytes(message.msg_flags.val)
            if len(flags) != 1:
                raise ValueError("msgFlags is one octet")
            kind = type(message.PDU).__name__
        except Exception:  # noqa: BLE001 - garbage (or an encrypted PDU: no user can decrypt it)
            self.journal.record(addr, "undecodable", "other", "refused", length=len(data))
            return
        function = kind.removeprefix("SNMP").lower()
        category = PDU_CATEGORIES.get(kind, "other")
        user = bytes(usm.user_name.val).decode(errors="replace")
        unknown_engine = bytes(usm.engine_id.val) != self.engine_id
        # an unknown engine id is reported before anything else; a known one finds no user
        report = USM_UNKNOWN_ENGINE_IDS if unknown_engine else USM_UNKNOWN_USER_NAMES
        detail = {"version": 3, "user": user, "security_level": _level(flags[0]), "report": report}
        if not flags[0] & FLAG_REPORTABLE:
            self.journal.record(addr, function, category, "refused", **detail)
            return
        # the discovery's get is the only request that "succeeds": it is answered with the engine id
        discovery = unknown_engine and kind == "SNMPget" and not user and not flags[0] & FLAG_AUTH
        self.journal.record(addr, function, category, "accepted" if discovery else "refused", **detail)
        self.reports[report] += 1
        reply = SNMPv3(
            msg_id=int(message.msg_id.val),
            msg_max_size=65507,
            msg_flags=b"\x00",  # a Report is never reportable; noAuthNoPriv: no user to sign it
            msg_security_parameters=bytes(
                USMSecurityParameters(
                    engine_id=self.engine_id,
                    engine_boots=self.engine_boots,
                    engine_time=int(time.time() - self.started),
                    user_name=bytes(usm.user_name.val),
                )
            ),
            context_engine_id=self.engine_id,
            context_name=b"",
            PDU=SNMPreport(
                id=int(message.PDU.id.val) if hasattr(message.PDU, "id") else 0,
                varbindlist=[SNMPvarbind(oid=ASN1_OID(report), value=ASN1_COUNTER32(self.reports[report]))],
            ),
        )
        self.transport.sendto(bytes(reply), (require_loopback(addr[0], "reply address"), addr[1]))  # type: ignore[attr-defined]


def _level(flags: int) -> str:
    return "authPriv" if flags & FLAG_PRIV else "authNoPriv" if flags & FLAG_AUTH else "noAuthNoPriv"


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Agent(spec, journal), local_addr=(require_loopback(spec.address, "bind address"), port)
    )
    try:
        await forever()
    finally:
        transport.close()
