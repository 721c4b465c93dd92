"""The Assessment JSON schema, generated from the msgspec model and shipped next to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from icsaudit.engine.model import ASSESSMENT_SCHEMA_VERSION, Assessment

SCHEMA_PATH = Path(__file__).with_name("assessment.schema.json")


def assessment_schema() -> dict[str, Any]:
    _, components = msgspec.json.schema_components([Assessment], ref_template="#/$defs/{name}")
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://icsaudit.example/schema/assessment-{ASSESSMENT_SCHEMA_VERSION}.json",
        "title": "icsaudit assessment",
        **components["Assessment"],
        "$defs": {k: v for k, v in components.items() if k != "Assessment"},
    }
    return schema


def schema_text() -> str:
    return json.dumps(assessment_schema(), indent=1, sort_keys=True) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":  # regenerate: python -m icsaudit.engine.schema
    print(write_schema())
