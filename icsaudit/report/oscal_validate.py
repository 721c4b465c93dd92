"""Validate OSCAL JSON against NIST's schemas shipped in reports/oscal/.

The schemas use \\p{L}/\\p{N} in ``pattern``; Python's ``re`` rejects them, so the pattern keyword is
re-implemented with the ``regex`` package (as the reference SOURCES.md describes).
"""

from __future__ import annotations

import json
from functools import cache

import regex
from jsonschema import Draft7Validator, validators
from jsonschema.exceptions import ValidationError

from icsaudit.report.templates import reports_dir

SCHEMA_FILES = {
    "assessment-results": "oscal_assessment-results_schema.json",
    "assessment-plan": "oscal_assessment-plan_schema.json",
    "plan-of-action-and-milestones": "oscal_complete_schema.json",
    "catalog": "oscal_complete_schema.json",
}


@cache
def _compiled(pattern: str):
    return regex.compile(pattern)


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


OscalValidator = validators.extend(Draft7Validator, {"pattern": _pattern})


@cache
def _validator(schema_file: str, kind: str):
    schema = json.loads((reports_dir() / "oscal" / schema_file).read_text(encoding="utf-8"))
    if "oneOf" in schema:  # the complete schema: keep only this model's branch, for precise error paths
        schema["oneOf"] = [b for b in schema["oneOf"] if kind in b.get("required", [])]
    return OscalValidator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def oscal_errors(document: dict) -> list[str]:
    """Every schema violation as 'path: message'; empty when valid."""
    kinds = [k for k in document if k != "$schema"]
    if len(kinds) != 1 or kinds[0] not in SCHEMA_FILES:
        return [f"(root): not a supported OSCAL document (top-level keys {sorted(document)})"]
    errors = _validator(SCHEMA_FILES[kinds[0]], kinds[0]).iter_errors(document)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(errors, key=lambda e: list(map(str, e.absolute_path)))
    ]
