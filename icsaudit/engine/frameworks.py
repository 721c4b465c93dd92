"""Framework catalogs (checks/frameworks/*.yaml), per-requirement coverage and manual answers.

A requirement is ``not-satisfied`` when any applicable check mapped to it failed, ``satisfied`` when
every check mapped to it passed, ``not-assessed`` when none failed but some could not be assessed
(or no check covers it), and ``answered-*``/``not-applicable`` when the answers file says so and no
check observed a failure (observed evidence beats a questionnaire answer).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

from icsaudit.engine.model import FrameworkCoverage, RequirementResult
from icsaudit.engine.yamldoc import load_yaml, validate
from icsaudit.errors import InputError
from icsaudit.paths import data_dir

FRAMEWORK_FILES = ("iec62443-3-3", "nist-800-53r5", "iaea-nss17", "attack-ics")
ANSWER_VALUES = ("yes", "no", "partial", "n.a.")
_ANSWER_STATUS = {
    "yes": "answered-yes",
    "no": "answered-no",
    "partial": "answered-partial",
    "n.a.": "not-applicable",
}

CATALOG_SCHEMA = {
    "type": "object",
    "required": ["id", "title", "requirements"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "requirements": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "title"],
                "properties": {"id": {"type": "string"}, "title": {"type": "string"}},
            },
        },
    },
}
ANSWERS_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": False,
        "required": ["value"],
        "properties": {
            "value": {"enum": list(ANSWER_VALUES)},
            "comment": {"type": "string"},
            "by": {"type": "string"},
            "date": {"type": ["string", "null"]},
        },
    },
}


@cache
def load_catalog(framework: str) -> dict[str, Any]:
    path = data_dir("checks") / "frameworks" / f"{framework}.yaml"
    if not path.is_file():
        raise InputError(f"unknown framework {framework!r}; frameworks: {', '.join(FRAMEWORK_FILES)}")
    doc = load_yaml(path)
    validate(doc, CATALOG_SCHEMA)
    return doc.data


def load_answers(path: str | Path) -> dict[str, dict[str, Any]]:
    """Answers file: requirement id -> {value: yes|no|partial|n.a., comment, by, date}."""
    doc = load_yaml(path)
    if doc.data is None:
        return {}
    validate(doc, ANSWERS_SCHEMA)
    out = {}
    for key, answer in doc.data.items():
        answer = dict(answer)
        if isinstance(answer.get("date"), (dt.date, dt.datetime)):
            answer["date"] = answer["date"].isoformat()
        out[str(key)] = answer
    return out


def coverage(
    framework: str,
    results: dict[str, Any],
    maps: dict[str, dict[str, list[str]]],
    answers: dict[str, dict[str, Any]],
) -> FrameworkCoverage:
    """results: check id -> status; maps: check id -> its maps."""
    catalog = load_catalog(framework)
    requirements = []
    counts: dict[str, int] = {}
    for req in catalog["requirements"]:
        checks = sorted(cid for cid, m in maps.items() if req["id"] in m.get(framework, []))
        statuses = [results[c] for c in checks]
        answer = answers.get(req["id"]) or answers.get(f"{framework}:{req['id']}")
        if "fail" in statuses:
            status = "not-satisfied"
        elif statuses and all(s == "pass" for s in statuses):
            status = "satisfied"
        elif answer:
            status = _ANSWER_STATUS[answer["value"]]
        else:
            status = "not-assessed"
        counts[status] = counts.get(status, 0) + 1
        requirements.append(
            RequirementResult(id=req["id"], title=req["title"], status=status, checks=checks, answer=answer)
        )
    return FrameworkCoverage(
        framework=framework, title=catalog["title"], requirements=requirements, counts=counts
    )


def answers_template(framework: str, maps: dict[str, dict[str, list[str]]]) -> str:
    """A questionnaire in YAML: requirements no check covers first, then the rest (to confirm)."""
    catalog = load_catalog(framework)
    covered = {r for m in maps.values() for r in m.get(framework, [])}
    uncovered = [r for r in catalog["requirements"] if r["id"] not in covered]
    observed = [r for r in catalog["requirements"] if r["id"] in covered]
    lines = [
        f"# Manual answers for {catalog['title']}",
        "# value: yes | no | partial | n.a.   comment: evidence or reason   by: who answered   date: YYYY-MM-DD",
        "# Observed failures from checks override these answers; a passing check does not need one.",
        "",
    ]
    lines.append("# --- Not covered by any check: answer these ---")
    for req in uncovered:
        lines += [f"# {req['title']}", f'"{req["id"]}": {{value: n.a., comment: "", by: "", date: null}}', ""]
    lines.append("# --- Covered by checks (answer only where a check could not assess) ---")
    for req in observed:
        checks = ", ".join(sorted(c for c, m in maps.items() if req["id"] in m.get(framework, [])))
        lines += [
            f"# {req['title']} (checks: {checks})",
            f'# "{req["id"]}": {{value: yes, comment: "", by: "", date: null}}',
            "",
        ]
    return "\n".join(lines)
