"""The assessment JSON schema: the engine's checked-in file when present, else generated from the structs."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import msgspec

from icsaudit.engine.model import Assessment
from icsaudit.errors import InputError

ENGINE_SCHEMA = Path(__file__).resolve().parent.parent / "engine" / "assessment.schema.json"


@cache
def assessment_schema() -> dict:
    if ENGINE_SCHEMA.is_file():
        return json.loads(ENGINE_SCHEMA.read_text(encoding="utf-8"))
    return msgspec.json.schema(Assessment)


def validate_assessment_document(document: object, name: str) -> None:
    """Raise InputError naming the first schema violation (with its JSON path)."""
    validator = jsonschema.Draft202012Validator(assessment_schema())
    error = next(iter(sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise InputError(f"{name}: does not match the assessment schema at {where}: {error.message}")
