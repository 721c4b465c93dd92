"""A regulator's overview across facilities: verify every bundle, compare facilities of one profile."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from markupsafe import Markup

from icsaudit.errors import InputError
from icsaudit.report.io import decode_assessment, write_file
from icsaudit.report.keys import public_raw
from icsaudit.report.redact import facility_summary
from icsaudit.report.templates import environment, read_asset
from icsaudit.report.view import SEVERITY_ORDER, severity_rank

SUMMARY_COLUMNS = (
    "facility",
    "profile",
    "period_start",
    "period_end",
    *SEVERITY_ORDER,
    "checks_fail",
    "checks_pass",
    "checks_not_assessed",
    "checks_error",
    "coverage",
)


@dataclass
class BundleStatus:
    name: str
    status: str  # verified | unpinned | refused
    detail: str = ""
    facility: str = ""
    redaction: str = ""
    key_id: str = ""


def _count(summary: dict, status: str) -> int:
    return sum(1 for c in summary["checks"] if c["status"] == status)


def summary_csv(summaries: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(SUMMARY_COLUMNS)
    for s in summaries:
        writer.writerow(
            [
                s["facility"],
                s["profile"],
                s["period"]["start"],
                s["period"]["end"],
                *(s["findings_by_severity"].get(sev, 0) for sev in SEVERITY_ORDER),
                _count(s, "fail"),
                _count(s, "pass"),
                _count(s, "not-assessed"),
                _count(s, "error"),
                "; ".join(f"{fw['framework']}={fw['covered_percent']}%" for fw in s["frameworks"]),
            ]
        )
    return buffer.getvalue()


def checks_csv(summaries: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("facility", "profile", "check_id", "title", "area", "status", "severity", "findings"))
    for s in summaries:
        for c in s["checks"]:
            writer.writerow(
                (
                    s["facility"],
                    s["profile"],
                    c["check_id"],
                    c["title"],
                    c["area"],
                    c["status"],
                    c["severity"],
                    c["findings"],
                )
            )
    return buffer.getvalue()


def _profiles(summaries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for s in sorted(summaries, key=lambda s: (s["profile"], s["facility"], s["period"]["start"])):
        group = groups.setdefault(
            s["profile"], {"title": s.get("profile_title", ""), "summaries": [], "frameworks": []}
        )
        group["summaries"].append(s)
        for fw in s["frameworks"]:
            if fw["framework"] not in group["frameworks"]:
                group["frameworks"].append(fw["framework"])
    for group in groups.values():
        failing: dict[str, dict[str, Any]] = {}
        for s in group["summaries"]:
            for c in s["checks"]:
                if c["status"] != "fail":
                    continue
                entry = failing.setdefault(
                    c["check_id"],
                    {
                        "check_id": c["check_id"],
                        "title": c["title"],
                        "facilities": 0,
                        "findings": 0,
                        "severity": "info",
                    },
                )
                entry["facilities"] += 1
                entry["findings"] += c["findings"]
                if severity_rank(c["severity"]) < severity_rank(entry["severity"]):
                    entry["severity"] = c["severity"]
        group["top_checks"] = sorted(
            failing.values(),
            key=lambda e: (-e["facilities"], severity_rank(e["severity"]), -e["findings"], e["check_id"]),
        )[:10]
    return groups


def summary_html(
    summaries: list[dict[str, Any]], title: str, bundles: list[BundleStatus] | None = None
) -> str:
    def coverage(summary: dict, framework: str) -> str:
        for fw in summary["frameworks"]:
            if fw["framework"] == framework:
                return f"{fw['covered_percent']}%"
        return "—"

    return (
        environment()
        .get_template("html/aggregate.html.j2")
        .render(
            title=title,
            summaries=summaries,
            bundles=bundles or [],
            profiles=_profiles(summaries),
            severities=SEVERITY_ORDER,
            coverage=coverage,
            css=Markup(read_asset("html/report.css")),
        )
    )


def _summary_from_bundle(files: dict[str, bytes], name: str) -> dict[str, Any]:
    if "summary.json" in files:  # regional bundle: counts only, facility already pseudonymous
        try:
            summary = json.loads(files["summary.json"])
        except ValueError:
            raise InputError(f"{name}/summary.json: not JSON") from None
        if summary.get("format") != "icsaudit-facility-summary":
            raise InputError(f"{name}/summary.json: not an icsaudit facility summary")
        return summary
    if "assessment.json" in files:
        a = decode_assessment(files["assessment.json"], f"{name}/assessment.json")
        return facility_summary(a, a.site.name or a.site.facility_id or name)
    raise InputError(f"{name}: bundle has neither assessment.json nor summary.json")


def aggregate(
    bundle_paths: list[Path], keys: list[Ed25519PublicKey]
) -> tuple[list[dict], list[BundleStatus]]:
    """Verify each bundle; keep only verified ones. With keys given, a bundle signed by any other key is refused."""
    from icsaudit.report.bundle import read_bundle, verify_files
    from icsaudit.report.keys import public_from_b64

    summaries, statuses = [], []
    for path in bundle_paths:
        name = str(path)
        try:
            files = read_bundle(path)
            embedded = None
            try:
                embedded = public_from_b64(
                    json.loads(files.get("manifest.json", b"{}")).get("public_key", "")
                )
            except (ValueError, TypeError):
                pass
            pinned = next(
                (k for k in keys if embedded is not None and public_raw(k) == public_raw(embedded)), None
            )
            if keys and pinned is None:
                check = verify_files(files, name, keys[0])
                detail = "; ".join(check.problems) or "signed by a key not in --key"
                statuses.append(
                    BundleStatus(name, "refused", detail, key_id=check.manifest.get("key_id", ""))
                )
                continue
            check = verify_files(files, name, pinned)
            if not check.ok:
                statuses.append(
                    BundleStatus(
                        name, "refused", "; ".join(check.problems), key_id=check.manifest.get("key_id", "")
                    )
                )
                continue
            summary = _summary_from_bundle(files, name)
        except InputError as exc:
            statuses.append(BundleStatus(name, "refused", exc.message))
            continue
        summaries.append(summary)
        statuses.append(
            BundleStatus(
                name,
                "verified" if pinned else "unpinned",
                "" if pinned else "no --key matched: signature checked against the bundle's own key",
                summary["facility"],
                check.manifest.get("redaction", ""),
                check.manifest.get("key_id", ""),
            )
        )
    return summaries, statuses


def write_overview(summaries: list[dict], statuses: list[BundleStatus], out_dir: Path) -> list[Path]:
    return [
        write_file(out_dir / "overview.html", summary_html(summaries, "Facilities overview", statuses)),
        write_file(out_dir / "facilities.csv", summary_csv(summaries)),
        write_file(out_dir / "checks.csv", checks_csv(summaries)),
    ]
