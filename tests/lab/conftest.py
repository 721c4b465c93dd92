"""Lab fixtures: every scenario started here is stopped by its finalizer, even when the test fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from icsaudit.lab import control


@pytest.fixture
def lab_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "lab-runtime"
    monkeypatch.setenv("ICSAUDIT_LAB_DIR", str(root))
    return root


def start(root: Path, scenario: str, faults: list[str] | None = None, traffic: bool = True) -> dict[str, Any]:
    return control.up(scenario, faults or [], traffic, root)


@pytest.fixture
def water_lab(lab_root: Path) -> Iterator[dict[str, Any]]:
    """water-chlorine with every fault, traffic on."""
    from icsaudit.lab.scenarios import load_scenario

    state = start(lab_root, "water-chlorine", list(load_scenario("water-chlorine").faults))
    try:
        yield state
    finally:
        control.down(lab_root)
