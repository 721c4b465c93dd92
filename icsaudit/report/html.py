"""Self-contained HTML report: inline CSS and SVG, no script, no external resource."""

from __future__ import annotations

from markupsafe import Markup, escape

from icsaudit.engine.model import Assessment
from icsaudit.report.templates import environment, read_asset
from icsaudit.report.view import (
    REQUIREMENT_STATUSES,
    SEVERITY_ORDER,
    build_view,
    coverage_percent,
    iso,
    zone_posture,
)
from icsaudit.report.zonemap import level_of, zone_map_svg

MATRIX_COLOURS = ((20, "#8e1b1b"), (12, "#d9480f"), (6, "#f2c14e"), (3, "#cfe3f5"), (0, "#e9edf1"))


def _matrix_colour(score: int) -> str:
    return next(colour for floor, colour in MATRIX_COLOURS if score >= floor)


def _status_bar(counts: dict[str, int]) -> Markup:
    total = sum(counts.values()) or 1
    spans = "".join(
        f'<span class="b-{escape(s)}" style="width:{100 * counts[s] / total:.2f}%" title="{counts[s]} {escape(s)}"></span>'
        for s in REQUIREMENT_STATUSES
        if counts.get(s)
    )
    return Markup(f'<div class="bar">{spans}</div>')


def html_context(a: Assessment, redaction: str = "internal") -> dict:
    view = build_view(a)
    check_status: dict[str, int] = {}
    for r in a.results:
        check_status[r.status] = check_status.get(r.status, 0) + 1

    def matrix_cell(likelihood: int, consequence: int) -> int:
        try:
            return a.risk_matrix[likelihood - 1][consequence - 1]
        except IndexError:
            return 0

    return {
        "v": view,
        "css": Markup(read_asset("html/report.css")),
        "redaction": redaction,
        "severities": SEVERITY_ORDER,
        "requirement_statuses": REQUIREMENT_STATUSES,
        "check_status_counts": check_status,
        "zones_sorted": sorted(a.zones, key=lambda z: (-level_of(z), z.id)),
        "zone_flows_sorted": sorted(
            a.zone_flows, key=lambda z: (z.allowed, z.client_zone, z.server_zone, z.protocol)
        ),
        "results_sorted": sorted(
            a.results,
            key=lambda r: (
                ("fail", "error", "not-assessed", "pass").index(r.status)
                if r.status in ("fail", "error", "not-assessed", "pass")
                else 9,
                r.check_id,
            ),
        ),
        "assets_sorted": sorted(
            a.assets, key=lambda x: (x.zone == "", x.zone, x.purdue_level or 0, x.asset_id)
        ),
        "zone_map": Markup(zone_map_svg(a)),
        "iso": iso,
        "posture": zone_posture,
        "coverage_percent": coverage_percent,
        "status_bar": _status_bar,
        "matrix_cell": matrix_cell,
        "matrix_colour": _matrix_colour,
    }


def render_html(a: Assessment, redaction: str = "internal") -> str:
    return environment().get_template("html/report.html.j2").render(**html_context(a, redaction))
