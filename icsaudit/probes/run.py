"""Run the probes: per target, one service after the other (one connection at a time), targets in
parallel under the guard's global rate cap; or plan them all (dry run) without sending anything."""

from __future__ import annotations

import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from icsaudit.errors import InputError, SafetyRefusal
from icsaudit.probes.base import Malformed, ProbeResult, ProbeTarget
from icsaudit.probes.guard import Guard, ProbeStopped
from icsaudit.probes.registry import PortSpec, parse_ports

MAX_WORKERS = 16
PARSE_ERRORS = (Malformed, IndexError, struct.error, UnicodeError, ValueError, KeyError)


@dataclass
class Declared:
    """What the site says about one address: Modbus unit ids, DNP3 outstation addresses and the
    services (ports and their probes) it serves."""

    unit_ids: tuple[int, ...] = ()
    dnp3_addresses: tuple[int, ...] = ()
    services: tuple[PortSpec, ...] = ()  # empty: the site does not say which ports the asset serves


@dataclass
class RunReport:
    results: list[ProbeResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # one line per unreachable/backed-off target
    notes: list[str] = field(default_factory=list)  # skipped probes and why
    closed: list[tuple[str, int]] = field(default_factory=list)


def declared_from_site(site_model: Any) -> dict[str, Declared]:
    out: dict[str, Declared] = {}
    for asset in site_model.site.assets if site_model is not None else ():
        if asset.ip:
            try:
                services = parse_ports(",".join(str(s) for s in asset.services)) if asset.services else []
            except InputError as exc:
                raise InputError(
                    f"site asset {asset.name or asset.ip}: services: {exc.message}", exc.hint
                ) from None
            out[asset.ip] = Declared(tuple(asset.unit_ids), tuple(asset.dnp3_addresses), tuple(services))
    return out


def host_specs(
    specs: list[PortSpec], declared: Declared | None, ports_given: bool
) -> tuple[list[PortSpec], str]:
    """The services to probe on one host, and a note on the ports left out.

    A host whose services the site declares is asked on those ports only: a connection to a port the
    site says is closed is a packet the device need not see. An explicit --ports list narrows them
    further (by port number); without one, the declared services stand, non-standard ports included."""
    if declared is None or not declared.services:
        return list(specs), ""
    wanted = {s.port for s in specs}
    chosen = [s for s in declared.services if not ports_given or s.port in wanted]
    left = sorted(wanted - {s.port for s in chosen}) if ports_given else []  # the default list asked nothing
    note = f"ports {','.join(map(str, left))} not probed: the site declares other services" if left else ""
    return chosen, note


def make_target(
    ip: str,
    spec: PortSpec,
    declared: Declared | None,
    default_units: tuple[int, ...],
    default_dnp3: tuple[int, ...],
    community: str | None,
) -> ProbeTarget:
    units = declared.unit_ids if declared and declared.unit_ids else default_units
    dnp3 = declared.dnp3_addresses if declared and declared.dnp3_addresses else default_dnp3
    return ProbeTarget(
        ip=ip,
        port=spec.port,
        unit_ids=units,
        dnp3_addresses=dnp3,
        snmp_community=community,
        service=spec.probe if spec.module.NAME == "banner" else "",
    )


def _skip_reason(spec: PortSpec, target: ProbeTarget) -> str:
    if spec.probe == "dnp3" and not target.dnp3_addresses:
        return "no declared DNP3 outstation address (addresses are never swept)"
    if spec.probe == "modbus" and not target.unit_ids:
        return "no Modbus unit id"
    return ""


def probe_host(
    guard: Guard,
    ip: str,
    specs: list[PortSpec],
    make: Callable[[str, PortSpec], ProbeTarget],
    report: RunReport,
    progress: Callable[[], None] | None = None,
) -> None:
    """All services of one target, TCP before UDP; stops at the first error the guard backs it off for.

    UDP services go last: a UDP probe cannot tell a silent agent from no agent, and its reply timeout
    backs the target off, which must not cost the target's TCP identity probes."""
    for spec in sorted(specs, key=lambda s: s.transport == "udp"):
        try:
            if ip in guard.backed_off:
                break
            target = make(ip, spec)
            reason = _skip_reason(spec, target)
            if reason:
                report.notes.append(f"{ip}:{spec.port} {spec.probe} not probed: {reason}")
                continue
            found: list[ProbeResult] = []
            try:
                with guard.connect(ip, spec.port, spec.transport, spec.probe) as conn:
                    try:
                        spec.module.run(conn, target, found)
                    except PARSE_ERRORS as exc:
                        conn.negative(f"malformed reply: {exc}")
            except ProbeStopped as exc:
                if exc.closed_port:
                    report.closed.append((ip, spec.port))
            except SafetyRefusal as exc:
                report.warnings.append(exc.message)
            report.results.extend(found)
        finally:
            if progress:
                progress()
    if ip in guard.backed_off:
        report.warnings.append(f"{ip}: stopped probing ({guard.backed_off[ip]})")


def run_probes(
    guard: Guard,
    hosts: dict[str, list[PortSpec]],
    make: Callable[[str, PortSpec], ProbeTarget],
    progress: Callable[[], None] | None = None,
    workers: int = MAX_WORKERS,
) -> RunReport:
    report = RunReport()
    if not hosts:
        return report
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(hosts)))) as pool:
        for future in [
            pool.submit(probe_host, guard, ip, specs, make, report, progress) for ip, specs in hosts.items()
        ]:
            future.result()
    report.results.sort(key=lambda r: (r.ip, r.port, r.line))
    return report


def plan_probes(
    guard: Guard, hosts: dict[str, list[PortSpec]], make: Callable[[str, PortSpec], ProbeTarget]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Dry run: every request that would be sent, checked by the guard; nothing leaves the machine."""
    lines: list[dict[str, Any]] = []
    notes: list[str] = []
    for ip, specs in hosts.items():
        for spec in specs:
            target = make(ip, spec)
            reason = _skip_reason(spec, target)
            if reason:
                notes.append(f"{ip}:{spec.port} {spec.probe} not probed: {reason}")
                continue
            for planned in spec.module.plan(target):
                lines.append(
                    guard.plan(
                        ip,
                        spec.port,
                        spec.transport,
                        spec.probe,
                        spec.module.PROTOCOL,
                        planned.payload,
                        planned.purpose,
                    )
                )
    return lines, notes
