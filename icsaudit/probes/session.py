"""One probe run as a library call: policy → guard → (discovery) → identity probes → evidence.

`icsaudit probe` and `icsaudit audit --probe` both call ``probe``; the CLI only parses and prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from icsaudit.errors import SafetyRefusal
from icsaudit.evidence.model import Evidence


@dataclass
class ProbeRequest:
    site_model: Any = None  # icsaudit.engine.site.SiteModel
    targets: str | None = None  # "ADDR[,CIDR...]" (narrows the site's allowlist when both are given)
    ports: str | None = None
    rate: float | None = None
    timeout: float = 2.0
    discover: str = "auto"  # auto | nmap | connect | none
    unit_ids: tuple[int, ...] = ()
    dnp3_addresses: tuple[int, ...] = ()
    snmp_community: str | None = None
    transcript: Path | None = None
    check_window: bool = True
    now: dt.datetime | None = None


@dataclass
class ProbeOutcome:
    evidence: Evidence
    transcript: Path | None
    results: int
    hosts_answered: int
    refused: list[tuple[str, str]]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rate: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.results} identities/banners from {self.hosts_answered} hosts, "
            f"{len(self.evidence.services)} services, {len(self.refused)} targets refused by the guard"
        )


@dataclass
class Prepared:
    guard: Any
    policy: Any
    log: Any
    hosts: list[str]
    refused: list[tuple[str, str]]
    specs: list[Any]  # the run's port list (--ports or the standard ports)
    host_specs: dict[str, list[Any]]  # per allowed host: the site's declared services, else specs
    declared_hosts: set[str]  # hosts whose services the site declares (never swept by discovery)
    make: Callable
    rate: float
    notes: list[str]
    # dry run only: why a real run now would be refused (probe windows); a real run raises it instead
    window_refusal: SafetyRefusal | None = None


def prepare(req: ProbeRequest, dry_run: bool = False) -> Prepared:
    """Build the guard and the target list; raise SafetyRefusal when nothing may be probed."""
    from icsaudit.probes.guard import DEFAULT_RATE, Guard, TargetPolicy, Transcript
    from icsaudit.probes.registry import DEFAULT_PORTS, parse_ports
    from icsaudit.probes.run import declared_from_site, host_specs, make_target

    notes: list[str] = []
    model = req.site_model
    max_pps = None
    window_refusal = None
    if model is not None:
        policy = TargetPolicy.from_site(model, req.targets)
        max_pps = model.profile.probe_policy.get("max_pps")
        if req.check_window:
            window_refusal = _window_refusal(model, req.now or dt.datetime.now())
            if window_refusal is not None and not dry_run:
                raise window_refusal
    else:
        policy = TargetPolicy.from_targets(req.targets or "")
    rate = req.rate if req.rate is not None else DEFAULT_RATE
    if max_pps and rate > max_pps:
        notes.append(f"rate capped at {max_pps} packets/s by profile {model.profile.id}")
        rate = float(max_pps)
    specs = parse_ports(req.ports or DEFAULT_PORTS)
    hosts, refused = policy.hosts()
    log = Transcript(req.transcript)
    guard = Guard(policy, rate=rate, timeout=req.timeout, transcript=log)
    declared = declared_from_site(model)
    per_host: dict[str, list[Any]] = {}
    for ip in hosts:
        per_host[ip], left_out = host_specs(specs, declared.get(ip), req.ports is not None)
        if left_out:
            notes.append(f"{ip}: {left_out}")

    def make(ip, spec):
        return make_target(
            ip, spec, declared.get(ip), req.unit_ids or (1,), req.dnp3_addresses, req.snmp_community
        )

    declared_hosts = {ip for ip in hosts if ip in declared and declared[ip].services}
    return Prepared(
        guard,
        policy,
        log,
        list(hosts),
        refused,
        list(specs),
        per_host,
        declared_hosts,
        make,
        rate,
        notes,
        window_refusal,
    )


def _window_refusal(model: Any, now: dt.datetime) -> SafetyRefusal | None:
    """Why probing ``now`` is refused by the site's probe windows, or by its profile's
    ``probe_policy.windows_required`` (the site must then declare a window and ``now`` be inside it)."""
    from icsaudit.probes.guard import in_probe_window

    windows = model.site.probe_windows
    profile = model.profile
    required = bool(profile.probe_policy.get("windows_required", False))
    site_file = model.path or "the site file"
    if required and not windows:
        return SafetyRefusal(
            f"profile {profile.id} requires probe windows (windows_required: true) and the site declares "
            f"none: add e.g. 'probe_windows: [\"Sat 02:00-04:00\"]' to {site_file}",
            hint="probe only inside an agreed window; review the plan with --dry-run",
        )
    if not in_probe_window(windows, now):
        because = f", as profile {profile.id} requires (windows_required: true)" if required else ""
        return SafetyRefusal(
            f"now ({now:%a %H:%M}) is outside the site's probe windows ({', '.join(windows)}){because}",
            hint=f"probe inside a window, or add one to probe_windows in {site_file}; "
            "review the plan with --dry-run",
        )
    return None


def probe(
    req: ProbeRequest, progress_factory: Callable[[int], Callable[[], None] | None] | None = None
) -> ProbeOutcome:
    """Run discovery (when the allowlist is wider than single hosts) and the identity probes."""
    from icsaudit.probes import discover as discovery
    from icsaudit.probes.evidence import build_evidence
    from icsaudit.probes.run import run_probes

    prep = prepare(req)
    if not prep.hosts:
        prep.log.close()
        raise SafetyRefusal(
            "no target left that may be probed",
            hint="; ".join(f"{ip}: {why}" for ip, why in prep.refused[:5]) or None,
        )
    guard = prep.guard
    plan_hosts = {ip: list(prep.host_specs[ip]) for ip in prep.hosts}
    wide = any(net.num_addresses > 1 for net in prep.policy.allowed)
    # hosts whose services the site declares are not swept: their probe's connection is the discovery
    sweep = [ip for ip in prep.hosts if ip not in prep.declared_hosts]
    if sweep and (req.discover in ("nmap", "connect") or (req.discover == "auto" and wide)):
        tcp_ports = sorted({s.port for ip in sweep for s in plan_hosts[ip] if s.transport == "tcp"})
        open_ports = discovery.discover(guard, sweep, tcp_ports, req.discover)
        for ip in sweep:
            plan_hosts[ip] = [
                s for s in plan_hosts[ip] if s.transport == "udp" or s.port in open_ports.get(ip, set())
            ]
    plan_hosts = {ip: s for ip, s in plan_hosts.items() if s}
    progress = progress_factory(sum(len(s) for s in plan_hosts.values())) if progress_factory else None
    try:
        report = run_probes(guard, plan_hosts, prep.make, progress=progress)
    finally:
        prep.log.close()
    evidence = build_evidence(report.results, prep.log)
    warnings = list(report.warnings)
    answered = {r.ip for r in report.results} | set(guard.backed_off)
    for ip in sorted({ip for ip, _ in report.closed} - answered):
        closed = ",".join(str(p) for host, p in report.closed if host == ip)
        warnings.append(f"{ip}: unreachable or closed (ports {closed}); recorded, run goes on")
    return ProbeOutcome(
        evidence=evidence,
        transcript=prep.log.path,
        results=len(report.results),
        hosts_answered=len({r.ip for r in report.results}),
        refused=prep.refused,
        warnings=warnings,
        notes=prep.notes + list(report.notes),
        rate=prep.rate,
    )
