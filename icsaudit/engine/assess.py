"""Evidence x site model x checks -> Assessment (findings with evidence and risk, coverage, ranking).

Deterministic: ids are digests of content and ``created`` is the end of the capture window, so the same
inputs produce the same assessment byte for byte.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from icsaudit import __version__
from icsaudit.engine import risk as risk_mod
from icsaudit.engine.checks import Check, load_checks
from icsaudit.engine.frameworks import coverage
from icsaudit.engine.model import (
    SEVERITIES,
    Assessment,
    AssetRecord,
    CaptureSummary,
    CheckResult,
    EvidenceLink,
    Finding,
    SiteSummary,
    ZoneFlow,
    ZoneSummary,
)
from icsaudit.engine.runner import CheckRun, run_checks
from icsaudit.engine.severity import RANK, base_severity, effective_severity, max_severity
from icsaudit.engine.site import SiteModel, Zone
from icsaudit.engine.tables import build_database
from icsaudit.evidence.model import Evidence
from icsaudit.ids import digest_id
from icsaudit.jsonio import dumps_json

MAX_FINDINGS_PER_CHECK = 1000  # beyond this the check result says how many were left out
ID_COLUMNS = {
    "flow_id": "flow_ids",
    "event_id": "event_ids",
    "asset_id": "asset_ids",
    "service_id": "service_ids",
    "identity_id": "identity_ids",
}
ADDRESS_COLUMNS = ("asset_id", "ip", "client_ip", "server_ip")
MAX_FRAMES = 20


def checks_version(checks: list[Check]) -> str:
    digest = hashlib.sha256()
    for check in checks:
        digest.update(Path(check.path).read_bytes())
    return digest.hexdigest()[:12]


def _format(template: str, row: dict[str, Any]) -> str:
    class Row(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    def show(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:g}"
        if isinstance(value, list):
            return ", ".join(show(v) for v in value)
        return str(value)

    return template.format_map(Row({k: show(v) for k, v in row.items()})).strip()


def _link(row: dict[str, Any], refs: dict[str, dict[str, Any]]) -> EvidenceLink:
    link = EvidenceLink()
    for single, plural in ID_COLUMNS.items():
        values = list(row.get(plural) or [])
        if row.get(single):
            values.insert(0, row[single])
        seen = getattr(link, plural)
        for value in values:
            if value and value not in seen:
                seen.append(str(value))
    for key in (*link.flow_ids, *link.event_ids, *link.identity_ids, *link.service_ids):
        ref = refs.get(key)
        if ref and len(link.frames) < MAX_FRAMES and ref not in link.frames:
            link.frames.append(ref)
    return link


def _keys(link: EvidenceLink) -> list[str]:
    return link.flow_ids + link.event_ids + link.asset_ids + link.service_ids + link.identity_ids


def _refs(evidence: Evidence) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def put(key: str, ref: Any) -> None:
        if ref is not None and (ref.file or ref.frame):
            out[key] = {"file": ref.file, "frame": ref.frame, "ts": ref.ts, "source": ref.source}

    for f in evidence.flows:
        put(f.flow_id, f.first_ref)
    for e in evidence.events:
        put(e.event_id, e.ref)
    for i in evidence.identities:
        put(i.identity_id, i.ref)
    for s in evidence.services:
        put(s.service_id, s.ref)
    return out


def _zones_of(row: dict[str, Any], model: SiteModel) -> list[Zone]:
    """The finding's zones, most relevant first: its own zone, the target (server), then the client."""
    zones = []
    for key in ("zone", "server_zone", "client_zone"):
        zone = model.zones.get(row.get(key) or "")
        if zone and zone not in zones:
            zones.append(zone)
    return zones


def _findings(
    run: CheckRun, model: SiteModel, refs: dict[str, dict[str, Any]]
) -> list[tuple[Finding, dict, list[Zone]]]:
    check = run.check
    base = base_severity(check.id, check.severity, model.profile)
    out = []
    kept = run.rows[:MAX_FINDINGS_PER_CHECK]
    # A finding's id is its evidence keys plus the check's key columns (stable while the same weakness
    # is seen again); rows that still share them are told apart by their whole content.
    links = [_link(row, refs) for row in kept]
    idents = [
        [*_keys(link), *(str(row.get(c)) for c in check.key)] for row, link in zip(kept, links, strict=True)
    ]
    shared = {k for k, n in Counter(map(tuple, idents)).items() if n > 1}
    for row, link, keys in zip(kept, links, idents, strict=True):
        row_base = row["severity"] if row.get("severity") in SEVERITIES else base
        zones = _zones_of(row, model)
        severity, _ = effective_severity(check.id, check.area, row_base, zones, model.profile)
        assets = []
        for key in ADDRESS_COLUMNS:
            value = row.get(key)
            if value and isinstance(value, str) and value not in assets:
                assets.append(value)
        for value in link.asset_ids:
            if value not in assets:
                assets.append(value)
        identity = keys if keys else [dumps_json(row, indent=0).decode()]
        if keys and tuple(keys) in shared:
            identity = [*keys, dumps_json(row, indent=0).decode()]
        first = row.get("first_seen", row.get("ts"))
        last = row.get("last_seen", row.get("ts"))
        finding = Finding(
            finding_id=digest_id(check.id, *identity),
            check_id=check.id,
            title=check.title,
            severity=severity,
            message=_format(check.message, row),
            zone=zones[0].id if zones else "",
            asset_ids=assets,
            evidence=link,
            row=row,
            remediation=check.remediation.strip(),
            first_seen=first if isinstance(first, (int, float)) else None,
            last_seen=last if isinstance(last, (int, float)) else None,
        )
        out.append((finding, row, zones))
    return out


def assess(
    evidence: Evidence,
    model: SiteModel,
    *,
    evidence_sha256: str = "",
    answers: dict[str, dict[str, Any]] | None = None,
    baseline: Evidence | None = None,
    vulnerabilities: list[dict[str, Any]] | None = None,
    vulnerability_assets: list[dict[str, Any]] | None = None,
    checks: list[Check] | None = None,
) -> Assessment:
    """``vulnerabilities``: the advisory matcher's rows (None: matching did not run, AV-03 is not
    assessed); ``vulnerability_assets``: its per-asset coverage (assets it could not assess make a
    clean AV-03 not-assessed instead of pass)."""
    profile = model.profile
    all_checks = checks if checks is not None else load_checks()
    applicable = [c for c in all_checks if profile.applies(c.id)]
    db = build_database(
        evidence,
        model,
        baseline=baseline,
        vulnerabilities=vulnerabilities,
        vulnerability_assets=vulnerability_assets,
    )
    try:
        runs = run_checks(db, applicable)
        zone_flow_rows = db.con.execute("""
            SELECT client_zone, server_zone, protocol, server_port, transport, count(*), sum(packets),
                   bool_and(conduit_allowed)
            FROM flows WHERE crosses_zone GROUP BY ALL ORDER BY ALL""").fetchall()
        zone_hosts = dict(
            db.con.execute("SELECT zone, count(*) FROM hosts WHERE zone <> '' GROUP BY zone").fetchall()
        )
        observed = {
            r[0]
            for r in db.con.execute(
                "SELECT client_zone FROM flows UNION SELECT server_zone FROM flows"
            ).fetchall()
        }
    finally:
        db.con.close()

    refs = _refs(evidence)
    # a KEV entry raises likelihood only when the device match itself is trusted (risk.KEV_CONFIDENCE)
    kev_assets = {
        str(v.get("asset_id") or v.get("ip"))
        for v in vulnerabilities or []
        if v.get("kev") and risk_mod.kev_counts(v)
    }
    findings: list[Finding] = []
    results: list[CheckResult] = []
    for run in runs:
        check = run.check
        built = _findings(run, model, refs)
        sources: dict[str, set[str]] = defaultdict(set)
        for finding, row, _ in built:
            sources[finding.zone].add(str(row.get("client_ip") or row.get("asset_id") or ""))
        for finding, row, zones in built:
            finding.risk = risk_mod.score(
                finding, row, zones, profile, kev_assets, len(sources[finding.zone])
            )
            findings.append(finding)
        base = base_severity(check.id, check.severity, profile)
        check_severity, _ = effective_severity(check.id, check.area, base, [], profile)
        if built:
            check_severity = max_severity(check_severity, *(f.severity for f, _, _ in built))
        reason = run.reason
        if len(run.rows) > MAX_FINDINGS_PER_CHECK:
            reason = f"{MAX_FINDINGS_PER_CHECK} of {len(run.rows)} findings kept"
        results.append(
            CheckResult(
                check_id=check.id,
                title=check.title,
                area=check.area,
                status=run.status,
                severity=check_severity,
                base_severity=check.severity,
                source=",".join(check.source),
                reason=reason,
                findings=len(run.rows),
                maps=check.maps,
                remediation=check.remediation.strip(),
            )
        )
    findings.sort(
        key=lambda f: (-(f.risk.score if f.risk else 0), -RANK[f.severity], f.check_id, f.finding_id)
    )

    status_by_check = {r.check_id: r.status for r in results}
    maps = {c.id: c.maps for c in applicable}
    frameworks = [coverage(fw, status_by_check, maps, answers or {}) for fw in profile.frameworks]

    findings_per_zone: dict[str, Counter] = defaultdict(Counter)
    findings_per_asset: Counter = Counter()
    for f in findings:
        findings_per_zone[f.zone][f.severity] += 1
        for a in f.asset_ids:
            findings_per_asset[a] += 1
    zones = [
        ZoneSummary(
            id=z.id,
            name=z.name,
            purdue_level=z.purdue_level,
            csl=z.csl,
            sl_t=z.sl_t,
            safety=z.safety,
            one_way=z.one_way,
            function=z.function,
            assets=zone_hosts.get(z.id, 0),
            observed=z.id in observed,
            findings=dict(findings_per_zone.get(z.id, {})),
        )
        for z in model.zones.values()
    ]
    assets = []
    unzoned = []
    for a in evidence.assets:
        address = a.ip or a.asset_id
        host = model.host(address)
        zone = host.zone.id if host.zone else ""
        if not zone and a.ip:
            unzoned.append(a.ip)
        assets.append(
            AssetRecord(
                asset_id=a.asset_id,
                ip=a.ip,
                mac=a.mac,
                name=(a.hostnames[0] if a.hostnames else ""),
                zone=zone,
                role=a.role,
                declared_role=host.declared_role,
                vendor=a.vendor,
                model=a.model,
                firmware=a.firmware,
                serial=a.serial,
                purdue_level=host.zone.purdue_level if host.zone else a.purdue_level,
                protocols=a.protocols,
                declared=host.declared,
                findings=findings_per_asset.get(a.asset_id, 0),
            )
        )
    zone_flows = [
        ZoneFlow(
            client_zone=r[0],
            server_zone=r[1],
            protocol=r[2],
            server_port=r[3],
            transport=r[4],
            flows=r[5],
            packets=int(r[6] or 0),
            allowed=bool(r[7]),
        )
        for r in zone_flow_rows
    ]

    cap = evidence.capture
    by_check = {c.id: c for c in applicable}
    version = checks_version(all_checks)
    site_digest = hashlib.sha256(dumps_json(model.site)).hexdigest()
    answers_digest = hashlib.sha256(dumps_json(answers or {})).hexdigest()
    evidence_digest = evidence_sha256 or hashlib.sha256(dumps_json(evidence, indent=0)).hexdigest()
    return Assessment(
        generator=f"icsaudit {__version__}, checks {version}",
        assessment_id=digest_id(
            "assessment", evidence_digest, site_digest, version, answers_digest, length=32
        ),
        created=cap.last_ts or 0.0,
        site=SiteSummary(
            name=model.site.name,
            facility_id=model.site.facility_id,
            profile=profile.id,
            profile_title=profile.title,
        ),
        evidence_sha256=evidence_digest,
        capture=CaptureSummary(
            files=[
                {"path": f.path, "sha256": f.sha256, "packets": f.packets, "complete": f.complete}
                for f in cap.files
            ],
            first_ts=cap.first_ts,
            last_ts=cap.last_ts,
            packets=cap.packets,
            sources=cap.sources,
            decode_errors=cap.decode_errors,
            tcp_gaps=cap.tcp_gaps,
        ),
        zones=zones,
        assets=assets,
        zone_flows=zone_flows,
        results=results,
        findings=findings,
        frameworks=frameworks,
        remediations=risk_mod.ranked_remediations(findings, by_check),
        risk_matrix=risk_mod.matrix(findings),
        summary={
            "findings_by_severity": {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES},
            "checks_by_status": dict(sorted(Counter(r.status for r in results).items())),
            "unzoned_hosts": sorted(set(unzoned)),
            "checks_run": len(results),
            "checks_not_applicable": sorted(c.id for c in all_checks if c not in applicable),
            "max_severity": max_severity(*(f.severity for f in findings)) if findings else "none",
        },
    )
