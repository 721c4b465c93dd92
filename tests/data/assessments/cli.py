"""Shared helpers for the report tests (tests/unit/test_report*, bundle, redact, oscal, diff, aggregate): fixture paths and a CLI runner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from icsaudit.cli import main

FIXTURES = Path(__file__).resolve().parent
Q1 = FIXTURES / "water-chlorine.json"
Q2 = FIXTURES / "water-chlorine-q2.json"
EVIDENCE = FIXTURES / "water-chlorine.evidence.json"
ARTIFACTS = FIXTURES.parent.parent / "artifacts"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
