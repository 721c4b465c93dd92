"""A canonical total order for a check's result rows.

A check's ``ORDER BY`` usually leaves ties (two flows to the same server), and DuckDB returns tied rows
in whatever order its threads and the evidence's insertion order produce. The assessment keeps the
first MAX_FINDINGS_PER_CHECK rows and derives ids from them, so the engine fixes the order of every
tie: the rows arrive sorted by the query's ORDER BY, so rows whose ORDER BY columns (read from DuckDB's
parse tree and mapped to output columns) are equal are adjacent, and each such run is sorted by the
row as canonical JSON (sorted keys). Rows equal in every column are interchangeable, so the order is
total as far as the output can tell. DuckDB's own order between runs is kept, so NULL placement,
directions and collations stay the query's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from itertools import groupby
from typing import Any

import duckdb

from icsaudit.jsonio import dumps_json


@dataclass(frozen=True)
class OrderKey:
    name: str = ""  # an output column name (or alias) ...
    ordinal: int = 0  # ... or a 1-based output position (ORDER BY 1) ...
    all_columns: bool = False  # ... or ORDER BY ALL


@cache
def _parser() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:")


@cache
def order_keys(query: str) -> tuple[tuple[OrderKey, ...], str]:
    """The top-level ORDER BY of ``query`` as output-column keys, and what could not be mapped.

    A key that is an expression (``ORDER BY count(*)``) cannot be recomputed from the output rows, so
    the keys stop before it and the second value names it (shipped checks are tested to have none):
    rows sorted by all keys are sorted by a prefix of them too, and the prefix's ties are then ordered
    by content rather than by the unmapped term.
    """
    try:
        raw = _parser().execute("SELECT json_serialize_sql($1)", [query]).fetchone()[0]
        statements = json.loads(raw).get("statements") or []
    except duckdb.Error:
        return (), ""
    if len(statements) != 1:
        return (), ""  # a parse error: the runner reports the query's own error
    orders = []
    for modifier in statements[0]["node"].get("modifiers", []):
        if modifier.get("type") == "ORDER_MODIFIER":
            orders = modifier["orders"]
    keys = []
    for order in orders:
        expr = order["expression"]
        if expr["class"] == "COLUMN_REF":
            # a qualified column (f.server_ip) is the output column of that name
            keys.append(OrderKey(name=expr["column_names"][-1]))
        elif expr["class"] == "CONSTANT" and expr["literal"].get("kind") in ("INTEGER", "BIGINT"):
            keys.append(OrderKey(ordinal=int(expr["literal"]["text"])))
        elif expr["class"] == "STAR" and expr.get("columns"):
            keys.append(OrderKey(all_columns=True))
        else:
            start = expr.get("query_location", 0)
            length = expr.get("query_location_length", 0)
            text = query[start : start + length] if start < len(query) else expr["class"].lower()
            return tuple(keys), text or expr["class"].lower()
    return tuple(keys), ""


def _resolve(keys: tuple[OrderKey, ...], names: list[str]) -> tuple[list[str], str]:
    """The output column of each key; the first key that names no output column stops."""
    lowered = {n.lower(): n for n in names}  # SQL identifiers are case-insensitive
    out: list[str] = []
    for key in keys:
        if key.all_columns:
            out.extend(names)
        elif key.ordinal:
            if not 1 <= key.ordinal <= len(names):
                return out, str(key.ordinal)
            out.append(names[key.ordinal - 1])
        elif key.name.lower() in lowered:
            out.append(lowered[key.name.lower()])
        else:
            return out, key.name
    return out, ""


def unresolved_key(query: str, names: list[str]) -> str:
    """The first ORDER BY term that is not an output column (empty when all are)."""
    keys, problem = order_keys(query)
    return _resolve(keys, names)[1] or problem


def canonical_sort(rows: list[dict[str, Any]], query: str, names: list[str]) -> list[dict[str, Any]]:
    """``rows`` (as DuckDB returned them for ``query``) with every run of ORDER BY ties sorted by the
    rows' canonical JSON."""
    if len(rows) < 2:
        return rows
    columns, _ = _resolve(order_keys(query)[0], names)

    def tie(row: dict[str, Any]) -> tuple:
        return tuple(row[c] for c in columns)

    ordered: list[dict[str, Any]] = []
    for _, run in groupby(rows, key=tie):
        run = list(run)
        if len(run) > 1:
            run.sort(key=lambda r: dumps_json(r, indent=0))
        ordered.extend(run)
    return ordered
