"""CSV of findings and of the asset inventory (spreadsheet-safe: no formula injection)."""

from __future__ import annotations

import csv
import io

from icsaudit.engine.model import Assessment
from icsaudit.report.view import build_view, iso

FINDING_COLUMNS = (
    "finding_id",
    "severity",
    "check_id",
    "title",
    "zone",
    "assets",
    "message",
    "risk_score",
    "risk_level",
    "likelihood",
    "consequence",
    "risk_factors",
    "first_seen",
    "last_seen",
    "flow_ids",
    "event_ids",
    "frames",
    "attack_ics",
    "remediation",
)
INVENTORY_COLUMNS = (
    "asset_id",
    "ip",
    "mac",
    "name",
    "zone",
    "role",
    "declared_role",
    "declared",
    "vendor",
    "model",
    "firmware",
    "serial",
    "purdue_level",
    "protocols",
    "findings",
)


def _cell(value: object) -> str:
    """Cells starting with = + - @ are read as formulas by spreadsheets; quote them unless numeric."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def _csv(header: tuple[str, ...], rows: list[list[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def findings_csv(a: Assessment) -> str:
    view = build_view(a)
    rows = []
    for f in view.findings:
        risk = f.risk
        rows.append(
            [
                f.finding_id,
                f.severity,
                f.check_id,
                f.title,
                f.zone,
                ";".join(f.asset_ids),
                f.message,
                risk.score if risk else "",
                risk.level if risk else "",
                risk.likelihood if risk else "",
                risk.consequence if risk else "",
                "; ".join(risk.factors) if risk else "",
                iso(f.first_seen),
                iso(f.last_seen),
                ";".join(f.evidence.flow_ids),
                ";".join(f.evidence.event_ids),
                ";".join(f"{fr.get('file', '')}#{fr.get('frame', '')}" for fr in f.evidence.frames),
                ";".join(view.attack_ids(f.check_id)),
                f.remediation,
            ]
        )
    return _csv(FINDING_COLUMNS, rows)


def inventory_csv(a: Assessment) -> str:
    rows = [
        [
            x.asset_id,
            x.ip,
            x.mac,
            x.name,
            x.zone,
            x.role,
            x.declared_role,
            str(x.declared).lower(),
            x.vendor,
            x.model,
            x.firmware,
            x.serial,
            "" if x.purdue_level is None else f"{x.purdue_level:g}",
            ";".join(x.protocols),
            x.findings,
        ]
        for x in sorted(a.assets, key=lambda x: x.asset_id)
    ]
    return _csv(INVENTORY_COLUMNS, rows)
