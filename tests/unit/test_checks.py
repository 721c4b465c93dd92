"""Every check loads, validates, fails on its fail fixtures, passes on its pass fixtures and is
not-assessed on its not-assessed fixtures."""

from __future__ import annotations

import pytest

from icsaudit.engine.checks import AREAS, load_check, load_checks
from icsaudit.engine.fixtures import FIXTURE_KINDS, run_fixture
from icsaudit.errors import InputError

CHECKS = load_checks()
CASES = [(c, p, kind) for c in CHECKS for kind in FIXTURE_KINDS for p in c.fixture_paths(kind)]


def test_catalog_size_and_areas() -> None:
    assert len(CHECKS) >= 40
    assert {c.area for c in CHECKS} == set(AREAS)


@pytest.mark.parametrize(("check", "path", "expected"), CASES, ids=[f"{c.id}-{p.name}" for c, p, _ in CASES])
def test_fixture(check, path, expected) -> None:
    result = run_fixture(check, path, expected)
    assert result.status == expected, result.reason
    if expected == "fail":
        assert result.rows > 0


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """id: XX-01
title: A test check
area: discovery
severity: high
source: [passive]
requires: [modbus]
query: |
  SELECT flow_id, client_ip FROM flows
message: "{client_ip} did it"
maps:
  iec62443-3-3: ["SR 5.1"]
remediation: "Do the concrete thing."
tests:
  fail: [f.yaml]
  pass: [f.yaml]
"""


def test_good_check_loads(tmp_path) -> None:
    (tmp_path / "f.yaml").write_text("site: {name: x, profile: water-chlorine}\n")
    assert load_check(_write(tmp_path, "XX-01.yaml", GOOD)).query_line == 8


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("severity: high", "severity: severe", 4, "severity"),
        ("requires: [modbus]", "requires: [modbus, warp-drive]", 6, "unknown requirement 'warp-drive'"),
        ('["SR 5.1"]', '["SR 9.9"]', 11, "does not match"),
        ('"{client_ip} did it"', '"{nowhere} did it"', 9, "placeholder {nowhere}"),
        ("area: discovery", "area: discovery\ncolour: red", 4, "unknown key"),
    ],
)
def test_bad_check_names_file_and_line(tmp_path, old, new, line, words) -> None:
    (tmp_path / "f.yaml").write_text("site: {name: x, profile: water-chlorine}\n")
    path = _write(tmp_path, "XX-01.yaml", GOOD.replace(old, new))
    with pytest.raises(InputError) as info:
        load_check(path)
    assert f"{path}:{line}:" in info.value.message
    assert words in info.value.message


def test_yaml_syntax_error_names_line(tmp_path) -> None:
    path = _write(tmp_path, "XX-01.yaml", GOOD.replace("maps:", "maps: [unclosed"))
    with pytest.raises(InputError) as info:
        load_check(path)
    assert f"{path}:" in info.value.message and "invalid YAML" in info.value.message
