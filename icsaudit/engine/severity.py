"""Effective severity: the check's base severity raised by the profile's rules for the finding's zone.

Rules only ever raise (a profile never hides a finding by lowering it); the highest matching rule wins.
"""

from __future__ import annotations

from icsaudit.engine.model import SEVERITIES
from icsaudit.engine.profiles import Profile
from icsaudit.engine.site import Zone

RANK = {s: i for i, s in enumerate(SEVERITIES)}


def max_severity(*levels: str) -> str:
    return max(levels, key=lambda s: RANK[s]) if levels else "info"


def base_severity(check_id: str, severity: str, profile: Profile) -> str:
    """The check's base severity for this profile (unknown assets are the profile's call)."""
    if check_id == "AV-01":
        return profile.unknown_asset_severity
    return severity


def rule_matches(when: dict, check_id: str, area: str, severity: str, zone: Zone | None) -> bool:
    if "checks" in when and check_id not in when["checks"]:
        return False
    if "areas" in when and area not in when["areas"]:
        return False
    if "from" in when and severity not in when["from"]:
        return False
    if "from" not in when and severity == "info":
        return False  # coverage notes stay informational unless a rule names "info" explicitly
    zone_keys = {"safety", "one_way", "csl_at_most", "purdue_level_at_most", "functions"} & set(when)
    if zone_keys and zone is None:
        return False
    if "safety" in when and zone.safety != when["safety"]:
        return False
    if "one_way" in when and zone.one_way != when["one_way"]:
        return False
    if "csl_at_most" in when and (zone.csl is None or zone.csl > when["csl_at_most"]):
        return False
    if "purdue_level_at_most" in when and (
        zone.purdue_level is None or zone.purdue_level > when["purdue_level_at_most"]
    ):
        return False
    return not ("functions" in when and zone.function not in when["functions"])


def effective_severity(
    check_id: str, area: str, base: str, zones: list[Zone], profile: Profile
) -> tuple[str, list[str]]:
    """Severity after the profile's rules for any of the finding's zones, and the reasons that raised it."""
    severity = base
    reasons: list[str] = []
    for rule in profile.severity_rules:
        candidates = zones or [None]
        matched = any(rule_matches(rule.when, check_id, area, base, z) for z in candidates)
        if matched and RANK[rule.severity] > RANK[severity]:
            severity = rule.severity
            reasons.append(rule.why)
    return severity, reasons
