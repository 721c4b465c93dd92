"""Run checks against the loaded evidence: pass, fail (rows), not-assessed (with the reason), error."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from icsaudit.engine.checks import Check
from icsaudit.engine.ordering import canonical_sort
from icsaudit.engine.requires import missing
from icsaudit.engine.tables import EvidenceDB

PASSIVE_NEEDS_CLEAN_CAPTURE = "passive"
# Result types DuckDB returns as plain Python scalars; other columns (DECIMAL, lists, structs, maps)
# go through _plain. Skipping it for the rest matters for checks with tens of thousands of rows.
SCALAR_TYPES = frozenset(
    [
        "VARCHAR",
        "JSON",
        "BOOLEAN",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "FLOAT",
        "DOUBLE",
        "DATE",
        "TIME",
        "TIMESTAMP",
        "UUID",
    ]
)


@dataclass
class CheckRun:
    check: Check
    status: str  # fail | pass | not-assessed | error
    reason: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _plain(value: Any) -> Any:
    """DuckDB values → JSON-friendly values (Decimal, nested maps and lists)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def sql_error_message(check: Check, exc: Exception, part: str = "query") -> str:
    """Name the check and the file line of the failing line of its query (or coverage query)."""
    text = str(exc).strip()
    match = re.search(r"LINE (\d+):", text)
    start = check.coverage_line if part == "coverage" else check.query_line
    line = start + int(match.group(1)) - 1 if match else start
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"{check.id}: {check.path}:{line}: {part} failed: {first}"


def _unassessed(db: EvidenceDB, check: Check) -> tuple[int, str]:
    """The check's ``coverage`` query: how many items it could not judge, and the reason given."""
    cursor = db.con.execute(check.coverage)
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    if row is None:
        return 0, ""
    values = dict(zip(names, row, strict=True))
    count = int(values.get("unassessed") or 0)
    return count, str(values.get("reason") or f"{count} items could not be assessed")


def run_check(db: EvidenceDB, check: Check) -> CheckRun:
    reason = missing(check.requires, db.facts)
    if reason:
        return CheckRun(check, "not-assessed", reason)
    started = time.perf_counter()
    try:
        cursor = db.con.execute(check.query)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, raw, strict=True)) for raw in cursor.fetchall()]
        for name, kind, *_ in cursor.description:
            if str(kind) not in SCALAR_TYPES:
                for row in rows:
                    row[name] = _plain(row[name])
        # ties of the query's ORDER BY come back in thread/insertion order; the assessment keeps the
        # first rows and derives ids from them, so fix one order that depends on content alone
        rows = canonical_sort(rows, check.query, names)
    except duckdb.Error as exc:
        return CheckRun(check, "error", sql_error_message(check, exc), seconds=time.perf_counter() - started)
    elapsed = time.perf_counter() - started
    if rows:
        return CheckRun(check, "fail", rows=rows, seconds=elapsed)
    if check.coverage:
        # nothing found, but only among the items the evidence let the check judge
        try:
            count, reason = _unassessed(db, check)
        except duckdb.Error as exc:
            return CheckRun(check, "error", sql_error_message(check, exc, "coverage"), seconds=elapsed)
        if count:
            return CheckRun(check, "not-assessed", reason, seconds=time.perf_counter() - started)
    loss, threshold = db.con.execute("SELECT loss_ratio, loss_threshold FROM capture").fetchone()
    if PASSIVE_NEEDS_CLEAN_CAPTURE in check.source and loss > threshold and check.id != "AM-03":
        # A clean result from a lossy capture is not evidence of absence (see AM-03).
        return CheckRun(
            check,
            "not-assessed",
            f"capture loss {loss:.1%} over the profile's {threshold:.1%} threshold (AM-03)",
            seconds=elapsed,
        )
    return CheckRun(check, "pass", seconds=elapsed)


def run_checks(db: EvidenceDB, checks: list[Check]) -> list[CheckRun]:
    return [run_check(db, check) for check in checks]
