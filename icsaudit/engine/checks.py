"""Checks as data: one YAML file per check (id, condition as DuckDB SQL, mappings, fixtures).

A check file is validated against CHECK_SCHEMA on load; any problem names the file, the line and what
is wrong. The ``requires`` vocabulary is defined in :mod:`icsaudit.engine.requires`.

Optional ``key``: columns that, with the evidence ids of a row (asset_id, flow_id ...), identify a
finding, so its id stays the same when other columns (counts, CVSS) change; rows sharing their
evidence ids and no key are told apart by their whole content.

Optional ``coverage``: SQL returning one row with ``unassessed`` (how many items the query could not
judge, e.g. controllers whose firmware is unknown) and ``reason`` (text naming them). When the query
finds nothing but ``unassessed`` > 0, the result is not-assessed with that reason rather than pass:
"no finding" about items the evidence could not judge is not evidence of their absence. Findings
still make the result a fail (what was judged is reported). Fixtures for that case are listed under
``tests: not-assessed``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from icsaudit.engine.model import SEVERITIES
from icsaudit.engine.requires import requirement_problem
from icsaudit.engine.yamldoc import LoadedYaml, load_yaml, validate
from icsaudit.errors import InputError
from icsaudit.paths import data_dir

AREAS = (
    "zones-conduits",
    "remote-access",
    "cleartext",
    "industrial-commands",
    "discovery",
    "asset-visibility",
    "availability-monitoring",
    "cbrn",
)
FRAMEWORK_IDS = ("iec62443-3-3", "nist-800-53r5", "attack-ics", "iaea-nss17")
SOURCES = ("passive", "probe", "config")
# Id formats per framework: a typo in a mapping is caught on load, not in the regulator's report.
MAP_PATTERNS = {
    "iec62443-3-3": r"^SR [1-7]\.[0-9]{1,2}( RE [0-9])?$",
    "nist-800-53r5": r"^[a-z]{2}-[0-9]{1,2}(\([0-9]{1,2}\))?$",
    "attack-ics": r"^T0[89][0-9]{2}$",
    "iaea-nss17": r"^CSL-[A-Z0-9-]+$",
}

CHECK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "id",
        "title",
        "area",
        "severity",
        "source",
        "requires",
        "query",
        "message",
        "maps",
        "remediation",
        "tests",
    ],
    "properties": {
        "id": {"type": "string", "pattern": r"^[A-Z]{2}-[0-9]{2}$"},
        "title": {"type": "string", "minLength": 5},
        "area": {"enum": list(AREAS)},
        "severity": {"enum": list(SEVERITIES)},
        "source": {"type": "array", "items": {"enum": list(SOURCES)}, "minItems": 1},
        "requires": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "query": {"type": "string", "minLength": 10},
        "message": {"type": "string", "minLength": 5},
        "key": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^[a-z_][a-z0-9_]*$"},
            "description": "columns that, with the row's evidence ids (asset_id, flow_id ...), identify a "
            "finding, e.g. [advisory] for one finding per asset and advisory",
        },
        "coverage": {
            "type": "string",
            "minLength": 10,
            "description": "SQL returning one row (unassessed BIGINT, reason VARCHAR): a clean result "
            "with unassessed > 0 is not-assessed with that reason, not pass",
        },
        "description": {"type": "string"},
        "maps": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                fw: {"type": "array", "items": {"type": "string", "pattern": pattern}}
                for fw, pattern in MAP_PATTERNS.items()
            },
        },
        "remediation": {"type": "string", "minLength": 10},
        "tests": {
            "type": "object",
            "additionalProperties": False,
            "required": ["fail", "pass"],
            "properties": {
                "fail": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "pass": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "not-assessed": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}


class CheckTests(msgspec.Struct, kw_only=True):
    fail: list[str]
    pass_: list[str] = msgspec.field(name="pass")
    not_assessed: list[str] = msgspec.field(name="not-assessed", default_factory=list)


FIXTURE_KINDS = ("fail", "pass", "not-assessed")


class Check(msgspec.Struct, kw_only=True):
    id: str
    title: str
    area: str
    severity: str
    source: list[str]
    requires: list[str]
    query: str
    message: str
    maps: dict[str, list[str]]
    remediation: str
    tests: CheckTests
    key: list[str] = msgspec.field(default_factory=list)
    coverage: str = ""
    description: str = ""
    path: str = ""  # the YAML file it came from
    query_line: int = 0  # line of the first query line in that file (SQL errors point there)
    coverage_line: int = 0

    def fixture_paths(self, kind: str) -> list[Path]:
        base = Path(self.path).parent
        names = {"fail": self.tests.fail, "pass": self.tests.pass_}.get(kind, self.tests.not_assessed)
        return [(base / name).resolve() for name in names]


def parse_check(doc: LoadedYaml) -> Check:
    validate(doc, CHECK_SCHEMA)
    data = doc.data
    for index, need in enumerate(data["requires"]):
        problem = requirement_problem(need)
        if problem:
            raise doc.error(("requires", index), problem)
    if doc.path.stem != data["id"]:
        raise doc.error(("id",), f"id {data['id']} must match the file name ({doc.path.name})")
    _check_placeholders(doc)
    for kind in FIXTURE_KINDS:
        for index, name in enumerate(data["tests"].get(kind, [])):
            if not (doc.path.parent / name).is_file():
                raise doc.error(("tests", kind, index), f"fixture {name} does not exist")
    check = msgspec.convert(data, Check)
    check.path = str(doc.path)
    # A "|" block starts on the line after the key.
    check.query_line = doc.line_of(("query",)) + (1 if doc.lines else 0)
    if check.coverage:
        check.coverage_line = doc.line_of(("coverage",)) + (1 if doc.lines else 0)
    return check


def _check_placeholders(doc: LoadedYaml) -> None:
    """Every {name} of the message and every key column must be a column the query can return (cheap
    textual check)."""
    query = doc.data["query"].lower()
    for name in re.findall(r"{([a-z_][a-z0-9_]*)}", doc.data["message"]):
        if name not in query:
            raise doc.error(("message",), f"placeholder {{{name}}} is not a column of the query")
    for index, name in enumerate(doc.data.get("key", [])):
        if name not in query:
            raise doc.error(("key", index), f"key column {name} is not a column of the query")


def load_check(path: str | Path) -> Check:
    return parse_check(load_yaml(path))


def check_files(root: Path | None = None) -> list[Path]:
    root = root or data_dir("checks")
    return sorted(p for area in AREAS for p in (root / area).glob("*.yaml"))


@cache
def _load_all(root: str) -> tuple[Check, ...]:
    checks: list[Check] = []
    seen: dict[str, str] = {}
    for path in check_files(Path(root)):
        check = load_check(path)
        if check.id in seen:
            raise InputError(f"{path}:1: duplicate check id {check.id} (also in {seen[check.id]})")
        area_dir = path.parent.name
        if check.area != area_dir:
            raise InputError(f"{path}:1: area {check.area} does not match its folder {area_dir}")
        seen[check.id] = str(path)
        checks.append(check)
    return tuple(sorted(checks, key=lambda c: c.id))


def load_checks(root: Path | None = None) -> list[Check]:
    """All shipped checks (validated), sorted by id."""
    return list(_load_all(str(root or data_dir("checks"))))


def find_check(check_id: str, checks: list[Check] | None = None) -> Check:
    checks = checks if checks is not None else load_checks()
    for check in checks:
        if check.id.lower() == check_id.lower():
            return check
    raise InputError(f"unknown check {check_id!r}", hint="icsaudit checks list shows the ids")
