"""A canonical total order for a check's result rows.

A check's ``ORDER BY`` usually leaves ties (two flows to the same server), and DuckDB returns tied rows
in whatever order its threads and the evidence's insertion order produce. The assessment keeps the
first MAX_FINDINGS_PER_CHECK rows and derives ids from them, so the engine re-sorts every result by the
query's own ORDER BY keys (read from DuckDB's parse tree, compared as DuckDB does: NULLS LAST unless
the query says otherwise) and breaks the remaining ties with the row as canonical JSON (sorted keys).
Rows equal in every column are interchangeable, so the order is total as far as the output can tell.
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
    ordinal: int = 0  # ... or a 1-based output position (ORDER BY 1)
    descending: bool = False
    nulls_first: bool = False
    all_columns: bool = False  # ORDER BY ALL


@cache
def _parser() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:")


@cache
def order_keys(query: str) -> tuple[tuple[OrderKey, ...], str]:
    """The top-level ORDER BY of ``query`` as output-column keys, and what could not be mapped.

    A key that is an expression (``ORDER BY count(*)``) cannot be recomputed from the output rows, so
    the keys stop before it and the second value names it (shipped checks are tested to have none).
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
        common = {
            "descending": order["type"] == "DESCENDING",
            "nulls_first": order["null_order"] == "NULLS FIRST",
        }
        if expr["class"] == "COLUMN_REF":
            # a qualified column (f.server_ip) is the output column of that name
            keys.append(OrderKey(name=expr["column_names"][-1], **common))
        elif expr["class"] == "CONSTANT" and expr["literal"].get("kind") in ("INTEGER", "BIGINT"):
            keys.append(OrderKey(ordinal=int(expr["literal"]["text"]), **common))
        elif expr["class"] == "STAR" and expr.get("columns"):
            keys.append(OrderKey(all_columns=True, **common))
        else:
            start = expr.get("query_location", 0)
            length = expr.get("query_location_length", 0)
            text = query[start : start + length] if start < len(query) else expr["class"].lower()
            return tuple(keys), text or expr["class"].lower()
    return tuple(keys), ""


def _resolve(keys: tuple[OrderKey, ...], names: list[str]) -> tuple[list[tuple[str, bool, bool]], str]:
    """(column, descending, nulls_first) per key; the first key that names no output column stops."""
    out = []
    for key in keys:
        if key.all_columns:
            out.extend((name, key.descending, key.nulls_first) for name in names)
        elif key.ordinal:
            if not 1 <= key.ordinal <= len(names):
                return out, str(key.ordinal)
            out.append((names[key.ordinal - 1], key.descending, key.nulls_first))
        elif key.name in names:
            out.append((key.name, key.descending, key.nulls_first))
        else:
            lowered = {n.lower(): n for n in names}  # SQL identifiers are case-insensitive
            if key.name.lower() not in lowered:
                return out, key.name
            out.append((lowered[key.name.lower()], key.descending, key.nulls_first))
    return out, ""


def _comparable(value: Any) -> Any:
    # maps and lists (which may hold NULLs) do not always compare in Python; their canonical text does
    return dumps_json(value, indent=0) if isinstance(value, (dict, list, tuple)) else value


def unresolved_key(query: str, names: list[str]) -> str:
    """The first ORDER BY term that is not an output column (empty when all are)."""
    keys, problem = order_keys(query)
    return _resolve(keys, names)[1] or problem


def canonical_sort(rows: list[dict[str, Any]], query: str, names: list[str]) -> list[dict[str, Any]]:
    """``rows`` in the query's ORDER BY order, ties broken by the rows' canonical JSON."""
    if len(rows) < 2:
        return rows
    resolved, _ = _resolve(order_keys(query)[0], names)
    out = list(rows)
    # one stable pass per key, last key first; the null flag puts NULLs where DuckDB would
    for name, descending, nulls_first in reversed(resolved):
        null_flag_when_none = nulls_first == descending  # sorts after non-null in the pass's direction

        def key(row: dict[str, Any], name: str = name, flag: bool = null_flag_when_none) -> Any:
            value = row[name]
            return (flag, 0) if value is None else (not flag, _comparable(value))

        out.sort(key=key, reverse=descending)
    names_in_order = [name for name, _, _ in resolved]

    def group(row: dict[str, Any]) -> tuple:
        return tuple(_comparable(row[name]) for name in names_in_order)

    ordered: list[dict[str, Any]] = []
    for _, tied in groupby(out, key=group):
        tied = list(tied)
        if len(tied) > 1:
            tied.sort(key=lambda r: dumps_json(r, indent=0))
        ordered.extend(tied)
    return ordered
