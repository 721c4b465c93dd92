"""Terminal summary of an assessment (rich): findings by severity, top risks, coverage per framework."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from icsaudit.engine.model import SEVERITIES, Assessment

COLORS = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def print_summary(assessment: Assessment, console: Console, top: int = 10) -> None:
    s = assessment.summary
    counts = s["findings_by_severity"]
    line = "  ".join(f"[{COLORS[sev]}]{sev} {counts.get(sev, 0)}[/]" for sev in reversed(SEVERITIES))
    console.print(f"[bold]{assessment.site.name}[/] ({assessment.site.profile}) - findings: {line}")
    status = s["checks_by_status"]
    console.print(
        "checks: "
        + ", ".join(f"{k} {v}" for k, v in status.items())
        + (f"; unzoned hosts: {len(s['unzoned_hosts'])}" if s["unzoned_hosts"] else "")
    )
    if assessment.findings:
        table = Table(title=f"Top {min(top, len(assessment.findings))} risks", show_lines=False)
        for col in ("risk", "sev", "check", "zone", "finding"):
            table.add_column(col)
        for f in assessment.findings[:top]:
            risk = f"{f.risk.score} ({f.risk.likelihood}x{f.risk.consequence})" if f.risk else "-"
            table.add_row(
                risk, f"[{COLORS[f.severity]}]{f.severity}[/]", f.check_id, f.zone or "-", f.message
            )
        console.print(table)
    errors = [r for r in assessment.results if r.status == "error"]
    for r in errors:
        console.print(f"[red]error[/] {r.reason}")
    cov = Table(title="Coverage per framework")
    for col in ("framework", "satisfied", "not-satisfied", "not-assessed", "answered"):
        cov.add_column(col)
    for fw in assessment.frameworks:
        answered = sum(v for k, v in fw.counts.items() if k.startswith("answered") or k == "not-applicable")
        cov.add_row(
            fw.framework,
            str(fw.counts.get("satisfied", 0)),
            str(fw.counts.get("not-satisfied", 0)),
            str(fw.counts.get("not-assessed", 0)),
            str(answered),
        )
    console.print(cov)
