"""Render an assessment into the requested formats in one output directory (atomic writes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from icsaudit.engine.model import Assessment
from icsaudit.errors import InputError
from icsaudit.jsonio import dumps_json
from icsaudit.report.io import write_file

FORMATS = ("html", "md", "json", "csv", "oscal", "pdf")


def parse_formats(spec: str | Iterable[str]) -> list[str]:
    """'html,md' -> ['html', 'md']; an unknown name is one line listing the valid ones."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [i.strip().lower() for i in items if i.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise InputError(
            f"unknown report format {', '.join(unknown) or '(none)'}; valid formats: {', '.join(FORMATS)}"
        )
    return list(dict.fromkeys(names))


def _assessment_json(a: Assessment) -> dict[str, bytes]:
    from icsaudit.report.schema import validate_assessment_document

    data = dumps_json(a)
    validate_assessment_document(msgspec.json.decode(data), "assessment.json")
    return {"assessment.json": data}


def _oscal(a: Assessment) -> dict[str, bytes]:
    from icsaudit.report.oscal import oscal_documents
    from icsaudit.report.oscal_validate import oscal_errors

    out = {}
    for name, document in oscal_documents(a).items():
        errors = oscal_errors(document)
        if errors:  # never ship OSCAL a regulator's tooling would reject
            raise InputError(f"oscal/{name}: not valid against the OSCAL schema: {errors[0]}")
        out[f"oscal/{name}"] = dumps_json(document)
    return out


def _renderers(redaction: str) -> dict[str, Callable[[Assessment], dict[str, bytes | str]]]:
    from icsaudit.report.html import render_html
    from icsaudit.report.markdown import render_markdown
    from icsaudit.report.pdf import html_to_pdf
    from icsaudit.report.tables import findings_csv, inventory_csv

    return {
        "html": lambda a: {"report.html": render_html(a, redaction)},
        "md": lambda a: {"report.md": render_markdown(a, redaction)},
        "json": _assessment_json,
        "csv": lambda a: {"findings.csv": findings_csv(a), "inventory.csv": inventory_csv(a)},
        "oscal": _oscal,
        "pdf": lambda a: {"report.pdf": html_to_pdf(render_html(a, redaction))},
    }


def render_files(a: Assessment, formats: Iterable[str], redaction: str = "internal") -> dict[str, bytes]:
    """Relative path -> content; nothing is written, so a failure leaves no partial output."""
    renderers = _renderers(redaction)
    files: dict[str, bytes] = {}
    for fmt in formats:
        for name, content in renderers[fmt](a).items():
            files[name] = content.encode("utf-8") if isinstance(content, str) else content
    return files


def write_files(files: dict[str, bytes], out_dir: Path) -> list[Path]:
    return [write_file(out_dir / name, content) for name, content in sorted(files.items())]


def render(a: Assessment, formats: Iterable[str], out_dir: Path, redaction: str = "internal") -> list[Path]:
    return write_files(render_files(a, formats, redaction), out_dir)
