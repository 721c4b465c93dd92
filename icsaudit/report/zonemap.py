"""The zone map: zones as boxes in rows by Purdue level (CSL when no level), cross-zone flows as arrows.

Plain SVG built here (not in the template) because it is geometry; every text is XML-escaped.
Flows between the same pair of zones are merged per allowed/not-allowed; violations are red.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from html import escape

from icsaudit.engine.model import Assessment, ZoneSummary
from icsaudit.report.view import SEVERITY_COLOURS, UNZONED, zone_posture

WIDTH = 980
LEFT = 70  # room for the level labels
BOX_H = 74
ROW_GAP = 78
TOP = 20
CSL_AS_LEVEL = {1: 0.0, 2: 1.0, 3: 2.0, 4: 4.0, 5: 5.0}
ALLOWED = "#5f6b7a"
VIOLATION = "#c92a2a"
POSTURE_FILL = {
    "critical": "#f8d7d7",
    "high": "#fde4d3",
    "medium": "#fff3cd",
    "low": "#dbeafe",
    "info": "#eef0f2",
    "no findings": "#e3f4e6",
    "not observed": "#f4f4f4",
}


@dataclass
class Box:
    zone: ZoneSummary
    x: float
    y: float
    w: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


def level_of(zone: ZoneSummary) -> float:
    if zone.purdue_level is not None:
        return float(zone.purdue_level)
    if zone.csl is not None:
        return CSL_AS_LEVEL.get(zone.csl, 6.0)
    return 6.0


def _level_label(level: float) -> str:
    if level >= 6.0:
        return "?"
    return f"L{level:g}"


def _zones_with_unzoned(a: Assessment) -> list[ZoneSummary]:
    zones = list(a.zones)
    known = {z.id for z in zones}
    unzoned_assets = sum(1 for x in a.assets if not x.zone)
    referenced = {zf.client_zone for zf in a.zone_flows} | {zf.server_zone for zf in a.zone_flows}
    if "" in referenced or unzoned_assets:
        zones.append(
            ZoneSummary(id="", name=UNZONED, assets=unzoned_assets, observed=True, purdue_level=None)
        )
    for zone_id in sorted(referenced - known - {""}):  # a flow names a zone the summary lacks: still draw it
        zones.append(ZoneSummary(id=zone_id, name=zone_id, observed=True))
    return zones


def layout(a: Assessment) -> tuple[list[Box], dict[str, Box], float]:
    rows: dict[float, list[ZoneSummary]] = defaultdict(list)
    for zone in _zones_with_unzoned(a):
        rows[level_of(zone) if zone.id else 7.0].append(zone)
    boxes: list[Box] = []
    y = TOP
    for level in sorted(rows, reverse=True):  # enterprise on top, field devices at the bottom
        members = sorted(rows[level], key=lambda z: (-(z.csl or 0), z.id))
        gap = 22
        w = min(250.0, (WIDTH - LEFT - 20 - gap * (len(members) - 1)) / len(members))
        x = LEFT + (WIDTH - LEFT - 20 - (w * len(members) + gap * (len(members) - 1))) / 2
        for zone in members:
            boxes.append(Box(zone, x, y, w))
            x += w + gap
        y += BOX_H + ROW_GAP
    height = y - ROW_GAP + TOP + 30
    return boxes, {b.zone.id: b for b in boxes}, height


def _box_svg(box: Box) -> str:
    z = box.zone
    posture = zone_posture(z.findings, z.observed) if z.id else ("high" if z.assets else "info")
    fill = POSTURE_FILL.get(posture, "#eef0f2")
    stroke = VIOLATION if z.safety else "#33414f"
    dash = ' stroke-dasharray="6 4"' if not z.id else ""
    levels = " · ".join(
        p
        for p in (
            f"L{z.purdue_level:g}" if z.purdue_level is not None else "",
            f"CSL {z.csl}" if z.csl is not None else "",
            f"SL-T {z.sl_t}" if z.sl_t is not None else "",
        )
        if p
    )
    tags = " ".join(
        t
        for t in (
            "SAFETY" if z.safety else "",
            "ONE-WAY" if z.one_way else "",
            "NOT OBSERVED" if not z.observed else "",
        )
        if t
    )
    max_chars = max(8, int(box.w / 7.2))
    title = z.name or z.id
    title = title if len(title) <= max_chars else title[: max_chars - 1] + "…"
    parts = [
        f'<g class="zone" data-zone="{escape(z.id)}">',
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{BOX_H}" rx="6" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{2.5 if z.safety else 1.4}"{dash}/>',
        f'<text x="{box.x + 8:.1f}" y="{box.y + 17:.1f}" class="zt">{escape(title)}</text>',
        f'<text x="{box.x + 8:.1f}" y="{box.y + 33:.1f}" class="zs">{escape(z.id or "unzoned")}'
        f"{' · ' + escape(levels) if levels else ''}</text>",
        f'<text x="{box.x + 8:.1f}" y="{box.y + 49:.1f}" class="zs">{z.assets} asset{"s" if z.assets != 1 else ""}'
        f"{' · ' + escape(tags) if tags else ''}</text>",
    ]
    bx = box.x + 8
    for severity in ("critical", "high", "medium", "low", "info"):
        n = z.findings.get(severity, 0)
        if n:
            parts.append(
                f'<rect x="{bx:.1f}" y="{box.y + 56:.1f}" width="26" height="13" rx="3" '
                f'fill="{SEVERITY_COLOURS[severity]}"/><text x="{bx + 13:.1f}" y="{box.y + 66:.1f}" '
                f'class="zb">{n}</text>'
            )
            bx += 30
    parts.append("</g>")
    return "".join(parts)


def _edges(a: Assessment) -> list[tuple[str, str, bool, list[str], int]]:
    merged: dict[tuple[str, str, bool], list[str]] = defaultdict(list)
    flows: dict[tuple[str, str, bool], int] = defaultdict(int)
    for zf in a.zone_flows:
        if zf.client_zone == zf.server_zone:
            continue
        key = (zf.client_zone, zf.server_zone, zf.allowed)
        merged[key].append(f"{zf.protocol}/{zf.server_port}")
        flows[key] += zf.flows
    return [
        (c, s, ok, sorted(set(labels)), flows[(c, s, ok)]) for (c, s, ok), labels in sorted(merged.items())
    ]


def _edge_path(src: Box, dst: Box, index: int, count: int, lane_x: float | None) -> tuple[str, float, float]:
    """SVG path and label anchor. Adjacent rows: a curve; rows further apart: routed around the boxes
    through the right-hand lane so the arrow never crosses an unrelated zone."""
    spread = (index - (count - 1) / 2) * 56
    if abs(src.y - dst.y) < 1:  # same row: arc below the boxes
        x1, y1, x2, y2 = src.cx + spread / 4, src.y + BOX_H, dst.cx + spread / 4, dst.y + BOX_H
        cx, cy = (x1 + x2) / 2, y1 + 44 + abs(spread) / 3
        return (
            f"M{x1:.1f},{y1:.1f} Q{cx:.1f},{cy:.1f} {x2:.1f},{y2:.1f}",
            (x1 + 2 * cx + x2) / 4,
            (y1 + 2 * cy + y2) / 4,
        )
    down = dst.y > src.y
    if lane_x is None:
        x1, y1 = src.cx + spread / 3, src.y + (BOX_H if down else 0)
        x2, y2 = dst.cx + spread / 3, dst.y + (0 if down else BOX_H)
        cx, cy = (x1 + x2) / 2 + spread, (y1 + y2) / 2
        ly = (y1 + 2 * cy + y2) / 4 + (index - (count - 1) / 2) * 18
        return f"M{x1:.1f},{y1:.1f} Q{cx:.1f},{cy:.1f} {x2:.1f},{y2:.1f}", (x1 + 2 * cx + x2) / 4, ly
    right = lane_x > src.cx
    x1 = src.x + src.w * (0.75 if right else 0.25)
    y1 = src.y + (BOX_H if down else 0)
    x2 = dst.x + dst.w * ((0.82 - 0.08 * index) if right else (0.18 + 0.08 * index))
    y2 = dst.y + (0 if down else BOX_H)
    g1 = y1 + (1 if down else -1) * (16 + 8 * index)  # horizontal run in the gap next to the source row
    g2 = y2 - (1 if down else -1) * (16 + 8 * index)  # and next to the target row
    path = f"M{x1:.1f},{y1:.1f} V{g1:.1f} H{lane_x:.1f} V{g2:.1f} H{x2:.1f} V{y2:.1f}"
    return path, lane_x, g1 + (g2 - g1) * (0.35 + 0.3 * (index % 2))


def _edge_svg(path: str, lx: float, ly: float, allowed: bool, labels: list[str]) -> str:
    colour = ALLOWED if allowed else VIOLATION
    marker = "arr-ok" if allowed else "arr-bad"
    label = ", ".join(labels[:3]) + (f" +{len(labels) - 3}" if len(labels) > 3 else "")
    width = 6.2 * len(label) + 8
    cls = "flow ok" if allowed else "flow bad"
    dash = "" if allowed else ' stroke-dasharray="7 3"'
    return (
        f'<g class="{cls}"><path d="{path}" fill="none" stroke="{colour}" '
        f'stroke-width="{1.6 if allowed else 2.4}"{dash} marker-end="url(#{marker})"/>'
        f'<rect x="{lx - width / 2:.1f}" y="{ly - 9:.1f}" width="{width:.1f}" height="14" rx="3" fill="#fff" '
        f'fill-opacity="0.95" stroke="{colour}" stroke-width="0.6"/>'
        f'<text x="{lx:.1f}" y="{ly + 2:.1f}" class="fl" fill="{colour}">{escape(label)}</text></g>'
    )


def _lane_x(boxes: list[Box], src: Box, dst: Box, k: int) -> float:
    """Downward edges pass right of every box in the rows between the ends, upward ones left of them."""
    low, high = sorted((src.y, dst.y))
    between = [b for b in boxes if low < b.y < high]
    if dst.y > src.y:
        return max([b.x + b.w for b in between] + [src.x + src.w * 0.75]) + 30 + 30 * k
    return min([b.x for b in between] + [src.x + src.w * 0.25]) - 30 - 30 * k


def zone_map_svg(a: Assessment) -> str:
    boxes, by_id, height = layout(a)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" class="zonemap" role="img" '
        f'aria-label="Zone map: zones by Purdue level with cross-zone flows; red arrows are not allowed by a conduit">',
        "<style>.zt{font:600 13px sans-serif;fill:#1d2733}.zs{font:11px sans-serif;fill:#3d4a57}"
        ".zb{font:700 10px sans-serif;fill:#fff;text-anchor:middle}.fl{font:10.5px monospace;text-anchor:middle}"
        ".lv{font:700 12px sans-serif;fill:#6b7785}</style>",
        '<defs><marker id="arr-ok" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{ALLOWED}"/></marker>'
        '<marker id="arr-bad" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{VIOLATION}"/></marker></defs>',
    ]
    seen_rows: set[float] = set()
    for box in boxes:
        if box.y not in seen_rows:
            seen_rows.add(box.y)
            label = _level_label(level_of(box.zone)) if box.zone.id else "—"
            out.append(
                f'<text x="12" y="{box.y + BOX_H / 2 + 4:.1f}" class="lv">{escape(label)}</text>'
                f'<line x1="10" x2="{WIDTH - 10}" y1="{box.y - ROW_GAP / 2 + 4:.1f}" '
                f'y2="{box.y - ROW_GAP / 2 + 4:.1f}" stroke="#e1e5ea"/>'
                if box.y > TOP
                else f'<text x="12" y="{box.y + BOX_H / 2 + 4:.1f}" class="lv">{escape(label)}</text>'
            )
    out.extend(_box_svg(box) for box in boxes)
    edges = [e for e in _edges(a) if e[0] in by_id and e[1] in by_id]
    pair_count: dict[tuple[str, str], int] = defaultdict(int)
    for client, server, *_ in edges:
        pair_count[tuple(sorted((client, server)))] += 1
    pair_index: dict[tuple[str, str], int] = defaultdict(int)
    lanes = {True: 0, False: 0}
    row_step = BOX_H + ROW_GAP
    for client, server, allowed, labels, _count in edges:
        src, dst = by_id[client], by_id[server]
        pair = tuple(sorted((client, server)))
        lane_x = None
        if abs(src.y - dst.y) > row_step + 1:
            down = dst.y > src.y
            lane_x = _lane_x(boxes, src, dst, lanes[down])
            lanes[down] += 1
        path, lx, ly = _edge_path(src, dst, pair_index[pair], pair_count[pair], lane_x)
        out.append(_edge_svg(path, lx, ly, allowed, labels))
        pair_index[pair] += 1
    legend_y = height - 14
    out.append(
        f'<g class="legend"><line x1="{LEFT}" x2="{LEFT + 30}" y1="{legend_y}" y2="{legend_y}" '
        f'stroke="{ALLOWED}" stroke-width="1.6"/><text x="{LEFT + 36}" y="{legend_y + 4}" class="zs">'
        f'flow allowed by a declared conduit</text><line x1="{LEFT + 260}" x2="{LEFT + 290}" y1="{legend_y}" '
        f'y2="{legend_y}" stroke="{VIOLATION}" stroke-width="2.4" stroke-dasharray="7 3"/>'
        f'<text x="{LEFT + 296}" y="{legend_y + 4}" class="zs">flow not allowed (violation)</text>'
        f'<rect x="{LEFT + 500}" y="{legend_y - 7}" width="22" height="13" fill="#fff" stroke="{VIOLATION}" '
        f'stroke-width="2.5"/><text x="{LEFT + 528}" y="{legend_y + 4}" class="zs">safety zone</text></g>'
    )
    out.append("</svg>")
    return "".join(out)
