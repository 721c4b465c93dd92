"""The jinja2 environment over the shipped reports/ directory (autoescape on for HTML)."""

from __future__ import annotations

from functools import cache

import jinja2

from icsaudit.paths import data_dir


def reports_dir():
    return data_dir("reports")


@cache
def environment(autoescape: bool = True) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(reports_dir())),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,  # a typo in a template fails loudly in the tests
        trim_blocks=False,
        keep_trailing_newline=True,
    )


def read_asset(name: str) -> str:
    return (reports_dir() / name).read_text(encoding="utf-8")
