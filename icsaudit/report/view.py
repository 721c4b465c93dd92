"""Derived, presentation-ready facts shared by the HTML, Markdown and PDF renderers.

Renderers take an Assessment exactly as the engine writes it; everything computed for display
(severity order, posture per zone, top risks, times) lives here so templates stay declarative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from icsaudit.engine.model import SEVERITIES, Assessment, Finding

SEVERITY_ORDER = tuple(reversed(SEVERITIES))  # critical first
SEVERITY_COLOURS = {
    "critical": "#8e1b1b",
    "high": "#d9480f",
    "medium": "#e8a200",
    "low": "#2f7ab8",
    "info": "#6c757d",
}
REQUIREMENT_STATUSES = (
    "not-satisfied",
    "satisfied",
    "answered-yes",
    "answered-partial",
    "answered-no",
    "not-assessed",
    "not-applicable",
)
UNZONED = "(no zone)"


def iso(ts: float | None, seconds: bool = True) -> str:
    """UTC timestamp for humans and OSCAL; empty when unknown."""
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d")


def severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(
        findings,
        key=lambda f: (severity_rank(f.severity), -(f.risk.score if f.risk else 0), f.check_id, f.finding_id),
    )


def findings_by_severity(findings: list[Finding]) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return counts


def zone_posture(zone_findings: dict[str, int], observed: bool) -> str:
    """One word per zone for the executive summary: worst severity seen, or why we cannot say."""
    if not observed:
        return "not observed"
    for severity in SEVERITY_ORDER:
        if zone_findings.get(severity):
            return severity
    return "no findings"


def coverage_percent(counts: dict[str, int]) -> int:
    """Share of requirements with an answer of any kind (observed or answered), for the summary bar."""
    total = sum(counts.values())
    if not total:
        return 0
    unknown = counts.get("not-assessed", 0)
    return round(100 * (total - unknown) / total)


@dataclass
class ReportView:
    a: Assessment
    findings: list[Finding] = field(default_factory=list)
    severity_counts: dict[str, int] = field(default_factory=dict)
    top_risks: list[Finding] = field(default_factory=list)
    assets_by_id: dict[str, Any] = field(default_factory=dict)
    results_by_check: dict[str, Any] = field(default_factory=dict)
    zone_names: dict[str, str] = field(default_factory=dict)
    violations: int = 0

    def zone_label(self, zone_id: str) -> str:
        if not zone_id:
            return UNZONED
        name = self.zone_names.get(zone_id, "")
        return f"{name} ({zone_id})" if name and name != zone_id else zone_id

    def asset_label(self, asset_id: str) -> str:
        asset = self.assets_by_id.get(asset_id)
        if asset and asset.name and asset.name != asset_id:
            return f"{asset_id} ({asset.name})"
        return asset_id

    def attack_ids(self, check_id: str) -> list[str]:
        result = self.results_by_check.get(check_id)
        return list(result.maps.get("attack-ics", [])) if result else []


def build_view(assessment: Assessment) -> ReportView:
    findings = sorted_findings(assessment.findings)
    with_risk = [f for f in findings if f.risk]
    top = sorted(with_risk, key=lambda f: (-f.risk.score, severity_rank(f.severity), f.finding_id))[:5]
    return ReportView(
        a=assessment,
        findings=findings,
        severity_counts=findings_by_severity(findings),
        top_risks=top,
        assets_by_id={x.asset_id: x for x in assessment.assets},
        results_by_check={r.check_id: r for r in assessment.results},
        zone_names={z.id: z.name for z in assessment.zones},
        violations=sum(1 for zf in assessment.zone_flows if not zf.allowed),
    )
