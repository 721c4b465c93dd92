"""Types shared by the probe modules: what a probe is asked to do, what it plans, what it found."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from icsaudit.probes.guard import Reply


@dataclass(frozen=True)
class ProbeTarget:
    """One service to probe, with what the site declares about the device behind it."""

    ip: str
    port: int
    unit_ids: tuple[int, ...] = (1,)  # Modbus unit ids: the declared ones, never a sweep
    dnp3_addresses: tuple[int, ...] = ()  # DNP3 outstation addresses: declared ones only
    snmp_community: str | None = None  # from the credentials file given by path, never the command line
    service: str = ""  # the probe named in the port spec (banner probes: telnet, ftp, ssh, http, vnc)


@dataclass(frozen=True)
class Planned:
    """A request as it would be sent (dry run); ``payload`` None means the probe only listens."""

    payload: bytes | None
    purpose: str


@dataclass
class ProbeResult:
    probe: str
    protocol: str
    ip: str
    port: int
    transport: str
    fields: dict[str, str] = field(default_factory=dict)  # normalized identity fields
    raw: dict[str, Any] = field(default_factory=dict)  # protocol-shaped identity
    banner: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # service details (security modes, versions)
    line: int = 0  # transcript line of the reply that identified the device
    ts: float = 0.0


def answered(
    found: list[ProbeResult],
    probe: tuple[str, str, str],
    target: ProbeTarget,
    reply: Reply,
    raw: dict[str, Any],
    fields: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> ProbeResult:
    """Append what ``reply`` identified at ``target`` to ``found``; ``probe`` is (name, protocol, transport).

    The result is tied to the reply's transcript line and time."""
    name, protocol, transport = probe
    result = ProbeResult(
        name,
        protocol,
        target.ip,
        target.port,
        transport,
        raw=raw,
        line=reply.line,
        ts=reply.ts,
        fields={} if fields is None else fields,
        details={} if details is None else details,
    )
    found.append(result)
    return result


class Malformed(ValueError):
    """A reply that does not parse: the guard backs the target off."""


def need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise Malformed(f"{what}: {len(data)} bytes, need {size}")


def tpkt_length(buf: bytes) -> int | None:
    """TPKT framing (S7comm): total length from the header."""
    if len(buf) < 4:
        return None
    if buf[0] != 3:
        raise Malformed("not a TPKT reply")
    length = struct.unpack(">H", buf[2:4])[0]
    if length < 7:
        raise Malformed("TPKT length too small")
    return length


def text(raw: bytes) -> str:
    """Printable text of a fixed-size or NUL-terminated field."""
    end = raw.find(b"\x00")
    if end >= 0:
        raw = raw[:end]
    return raw.decode("latin-1").strip(" \t\r\n")


def clean(fields: dict[str, Any]) -> dict[str, str]:
    """Identity fields as non-empty strings."""
    return {k: str(v) for k, v in fields.items() if v not in (None, "")}
