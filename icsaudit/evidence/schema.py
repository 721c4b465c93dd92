"""The evidence JSON Schema: generated from the msgspec model, checked in next to it, loadable at run time.

The checked-in file is what other tools (and regulators) validate against; a test proves it equals what
the model generates, so the two cannot drift. Regenerate after changing the model:

    python -m icsaudit.evidence.schema
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from icsaudit.evidence.model import SCHEMA_VERSION, Evidence
from icsaudit.jsonio import dumps_json, write_bytes_atomic

SCHEMA_PATH = Path(__file__).with_name("evidence.schema.json")
SCHEMA_ID = "https://icsaudit.invalid/schema/evidence-{major}.schema.json"


def generate_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an evidence document, from the model."""
    schema = msgspec.json.schema(Evidence)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID.format(major=SCHEMA_VERSION.split(".")[0]),
        "title": "icsaudit evidence",
        "description": f"Observed facts (passive analysis, probes). Schema version {SCHEMA_VERSION}.",
        **schema,
    }


def schema_bytes() -> bytes:
    return dumps_json(generate_schema())


@cache
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema())


def validation_errors(document: Any, limit: int = 20) -> list[str]:
    """Schema violations of a decoded JSON document, each as 'path: message' (empty when valid)."""
    errors = []
    for error in sorted(_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        errors.append(f"{where}: {error.message}")
        if len(errors) >= limit:
            break
    return errors


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    return write_bytes_atomic(path, schema_bytes())


if __name__ == "__main__":  # pragma: no cover
    print(write_schema())
