"""Markdown report for tickets and wikis (GitHub/GitLab flavoured tables)."""

from __future__ import annotations

import re

from icsaudit.engine.model import Assessment
from icsaudit.report.html import html_context
from icsaudit.report.templates import environment

_SPECIAL = re.compile(r"([\\|*_`<>\[\]])")


def md_text(value: object) -> str:
    """Escape text so it stays inside its table cell and cannot inject markup or HTML."""
    return _SPECIAL.sub(r"\\\1", str(value)).replace("\r", " ").replace("\n", " ")


def render_markdown(a: Assessment, redaction: str = "internal") -> str:
    context = html_context(a, redaction)
    context["md"] = md_text
    text = environment(autoescape=False).get_template("md/report.md.j2").render(**context)
    return re.sub(r"\n{3,}", "\n\n", text)
