"""Compare two assessments of one facility: new, fixed and still-open findings, assets, coverage."""

from __future__ import annotations

from typing import Any

from icsaudit.engine.model import Assessment, Finding
from icsaudit.report.view import coverage_percent, severity_rank


def finding_key(f: Finding) -> str:
    """The stable finding_id; without one, check id plus the assets it names."""
    return f.finding_id or f"{f.check_id}:{','.join(sorted(f.asset_ids))}"


def _brief(f: Finding) -> dict[str, Any]:
    return {
        "key": finding_key(f),
        "check_id": f.check_id,
        "severity": f.severity,
        "title": f.title,
        "zone": f.zone,
        "assets": list(f.asset_ids),
        "message": f.message,
        "risk": f.risk.score if f.risk else None,
    }


def _order(items: list[Finding]) -> list[Finding]:
    return sorted(items, key=lambda f: (severity_rank(f.severity), f.check_id, finding_key(f)))


def diff_assessments(old: Assessment, new: Assessment) -> dict[str, Any]:
    before = {finding_key(f): f for f in old.findings}
    after = {finding_key(f): f for f in new.findings}
    old_assets = {x.asset_id: x for x in old.assets}
    new_assets = {x.asset_id: x for x in new.assets}
    coverage = []
    old_fw = {fw.framework: fw for fw in old.frameworks}
    new_fw = {fw.framework: fw for fw in new.frameworks}
    for name in sorted(set(old_fw) | set(new_fw)):
        o, n = old_fw.get(name), new_fw.get(name)
        o_counts, n_counts = (o.counts if o else {}), (n.counts if n else {})
        statuses = sorted(set(o_counts) | set(n_counts))
        o_req = {r.id: r.status for r in o.requirements} if o else {}
        n_req = {r.id: r.status for r in n.requirements} if n else {}
        coverage.append(
            {
                "framework": name,
                "covered_before": coverage_percent(o_counts) if o else None,
                "covered_after": coverage_percent(n_counts) if n else None,
                "counts_change": {
                    s: n_counts.get(s, 0) - o_counts.get(s, 0)
                    for s in statuses
                    if n_counts.get(s, 0) != o_counts.get(s, 0)
                },
                "requirements_changed": [
                    {"id": rid, "before": o_req.get(rid), "after": n_req.get(rid)}
                    for rid in sorted(set(o_req) | set(n_req))
                    if o_req.get(rid) != n_req.get(rid)
                ],
            }
        )
    return {
        "old": {"assessment_id": old.assessment_id, "site": old.site.name, "created": old.created},
        "new": {"assessment_id": new.assessment_id, "site": new.site.name, "created": new.created},
        "findings": {
            "new": [_brief(f) for f in _order([after[k] for k in after.keys() - before.keys()])],
            "fixed": [_brief(f) for f in _order([before[k] for k in before.keys() - after.keys()])],
            "still_open": [_brief(f) for f in _order([after[k] for k in after.keys() & before.keys()])],
        },
        "assets": {
            "new": [
                {"asset_id": k, "name": new_assets[k].name, "zone": new_assets[k].zone}
                for k in sorted(new_assets.keys() - old_assets.keys())
            ],
            "gone": [
                {"asset_id": k, "name": old_assets[k].name, "zone": old_assets[k].zone}
                for k in sorted(old_assets.keys() - new_assets.keys())
            ],
        },
        "coverage": coverage,
    }


def _pct(value: int | None) -> str:
    return "—" if value is None else f"{value}%"


def diff_text(d: dict[str, Any], markdown: bool = False) -> str:
    h = (lambda t: f"## {t}") if markdown else (lambda t: f"{t}\n{'-' * len(t)}")
    bullet = "- " if markdown else "  "
    lines = [
        f"# Changes: {d['old']['site']}" if markdown else f"Changes: {d['old']['site']}",
        "",
        f"{d['old']['assessment_id']} → {d['new']['assessment_id']}",
        "",
    ]
    f = d["findings"]
    lines.append(
        f"{len(f['new'])} new, {len(f['fixed'])} fixed, {len(f['still_open'])} still open findings; "
        f"{len(d['assets']['new'])} new and {len(d['assets']['gone'])} gone assets."
    )
    for title, key in (("New findings", "new"), ("Fixed findings", "fixed"), ("Still open", "still_open")):
        lines += ["", h(f"{title} ({len(f[key])})")]
        lines += [
            f"{bullet}[{x['severity']}] {x['check_id']} {x['title']} — {x['message']}" for x in f[key]
        ] or [f"{bullet}none"]
    for title, key in (("New assets", "new"), ("Gone assets", "gone")):
        items = d["assets"][key]
        lines += ["", h(f"{title} ({len(items)})")]
        lines += [f"{bullet}{x['asset_id']} {x['name']} ({x['zone'] or 'no zone'})" for x in items] or [
            f"{bullet}none"
        ]
    lines += ["", h("Framework coverage")]
    for c in d["coverage"]:
        change = ", ".join(f"{s} {n:+d}" for s, n in c["counts_change"].items()) or "no change in counts"
        lines.append(
            f"{bullet}{c['framework']}: {_pct(c['covered_before'])} → {_pct(c['covered_after'])} ({change})"
        )
        lines += [
            f"{bullet}  {r['id']}: {r['before'] or '—'} → {r['after'] or '—'}"
            for r in c["requirements_changed"]
        ]
    return "\n".join(lines) + "\n"
