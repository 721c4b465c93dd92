"""Locate the data that ships with icsaudit (checks, profiles, reports, lab).

In a wheel the data lives in ``icsaudit/data/<name>``; in a source checkout (editable install, tests)
it lives at the repository root. Never relative to the working directory.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the directory of shipped data ``name`` (checks, profiles, reports, lab)."""
    installed = _PACKAGE_DIR / "data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name
