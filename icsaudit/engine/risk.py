"""Risk of each finding, the 5x5 risk matrix and remediations ranked by risk reduction.

Method. Each finding gets a likelihood and a consequence, both on a 1-5 scale, and a risk score that is
their product (1-25), as in the 5x5 matrices of ISO 31000-style sectoral risk assessments.
*Likelihood* starts from the check's effective severity (info/low 1, medium 2, high 3, critical 4) -
the severity already says how directly the weakness can be used against the process - and rises by one
for each aggravating exposure seen in the evidence: the finding is reachable from IT (a client at Purdue
level 4-5), or from the Internet (a public client address: +2), the affected asset has a known
exploited vulnerability (CISA KEV) when advisory matching ran and matched the device with high or
medium confidence (a family-only match may be another model), and three or more distinct sources show
the same weakness in the same zone (it is in use, not a one-off); capped at 5.
*Consequence* is what a compromise of the affected zone could cause at this kind of facility: the
zone's criticality (1-5, from the profile's zone template; 3 for a zone without template, 2 for hosts in
no zone) multiplied by the heaviest of the profile's consequence weights (radiological, toxic,
biological, theft/sabotage, loss of monitoring; 0-5) that apply to the zone's function, divided by 5 and
rounded, at least 1. Zones without a mapped function weigh as loss of monitoring capped at 1 on IT
levels. The levels are score >= 20 critical, >= 12 high, >= 6 medium, >= 3 low, else info.
Remediations are ranked by risk reduction: the sum of the risk scores of the findings a check's fix
removes. The scales are ordinal judgements made explicit, not probabilities; every factor that moved a
score is listed with it so a reviewer can disagree with a specific step.
"""

from __future__ import annotations

from typing import Any

from icsaudit.engine.model import Finding, RankedRemediation, Risk
from icsaudit.engine.profiles import Profile
from icsaudit.engine.severity import RANK, max_severity
from icsaudit.engine.site import Zone

SEVERITY_LIKELIHOOD = {"info": 1, "low": 1, "medium": 2, "high": 3, "critical": 4}
KEV_CONFIDENCE = frozenset({"high", "medium"})  # advisory-match confidences trusted enough for KEV


def kev_counts(row: dict[str, Any]) -> bool:
    """Whether a row's KEV flag may raise likelihood: rows without a confidence (older vulnerability
    files, other checks) count; a low-confidence (family-only) advisory match does not."""
    return row.get("kev") is True and row.get("confidence", "high") in KEV_CONFIDENCE


def level_of(score: int) -> str:
    if score >= 20:
        return "critical"
    if score >= 12:
        return "high"
    if score >= 6:
        return "medium"
    if score >= 3:
        return "low"
    return "info"


def consequence(zone: Zone | None, profile: Profile) -> tuple[int, list[str]]:
    if zone is None:
        return 2, ["host in no declared zone (criticality 2)"]
    categories = profile.functions.get(zone.function, [])
    if categories:
        weight, category = max((profile.consequence_weights[c], c) for c in categories)
    else:
        weight = profile.consequence_weights["loss-of-monitoring"]
        category = "loss-of-monitoring"
        if zone.purdue_level is not None and zone.purdue_level >= 4:
            weight = min(weight, 1)
    value = max(1, min(5, round(zone.criticality * weight / 5)))
    return value, [f"zone {zone.id} criticality {zone.criticality}", f"{category} weight {weight}"]


def likelihood(
    finding: Finding, row: dict[str, Any], kev_assets: set[str], sources: int
) -> tuple[int, list[str]]:
    value = SEVERITY_LIKELIHOOD[finding.severity]
    factors = [f"severity {finding.severity}"]
    if row.get("client_is_public") or row.get("is_public"):
        value += 2
        factors.append("reachable from the Internet")
    elif (row.get("client_level") or 0) >= 4:
        value += 1
        factors.append("reachable from IT")
    if kev_counts(row) or kev_assets & set(finding.asset_ids):
        value += 1
        factors.append("known exploited vulnerability (KEV)")
    if sources >= 3:
        value += 1
        factors.append(f"{sources} sources in the zone")
    return min(5, value), factors


def score(
    finding: Finding,
    row: dict[str, Any],
    zones: list[Zone],
    profile: Profile,
    kev_assets: set[str],
    sources: int,
) -> Risk:
    like, like_factors = likelihood(finding, row, kev_assets, sources)
    conseq, conseq_factors = max(
        (consequence(z, profile) for z in zones), default=consequence(None, profile), key=lambda item: item[0]
    )
    total = like * conseq
    return Risk(
        likelihood=like,
        consequence=conseq,
        score=total,
        level=level_of(total),
        factors=like_factors + conseq_factors,
    )


def matrix(findings: list[Finding]) -> list[list[int]]:
    grid = [[0] * 5 for _ in range(5)]
    for f in findings:
        if f.risk:
            grid[f.risk.likelihood - 1][f.risk.consequence - 1] += 1
    return grid


def ranked_remediations(findings: list[Finding], checks: dict[str, Any]) -> list[RankedRemediation]:
    by_check: dict[str, list[Finding]] = {}
    for f in findings:
        by_check.setdefault(f.check_id, []).append(f)
    out = []
    for check_id, items in by_check.items():
        check = checks[check_id]
        out.append(
            RankedRemediation(
                check_id=check_id,
                title=check.title,
                remediation=check.remediation.strip(),
                findings=len(items),
                risk_reduction=sum(f.risk.score for f in items if f.risk),
                max_level=max_severity(*(f.risk.level for f in items if f.risk)) if items else "info",
            )
        )
    out.sort(key=lambda r: (-r.risk_reduction, -RANK[r.max_level], r.check_id))
    return out
