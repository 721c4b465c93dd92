"""Firmware version comparison and affected-version expressions as the real CSAF advisories write them.

The expressions below are copied from the product trees of ../shared/reference/csaf (the survey in
icsaudit/advisories/versions.py lists where each form occurs).
"""

from __future__ import annotations

import pytest

from icsaudit.advisories.versions import parse_range, parse_version


def v(text: str):
    parsed = parse_version(text)
    assert parsed is not None, text
    return parsed


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("V4.5.2", "V4.5.10"),  # S7 style: numeric, not lexical
        ("2.9.1", "V2.9.7"),  # prefix V ignored
        ("V2.4", "V2.4 SP1"),  # a service pack continues the version
        ("V2.4 SP1", "V2.5"),
        ("V7.5 SP2 Update 14", "V7.5 SP2 Update 15"),
        ("V19", "V19 Update 1"),
        ("Rev. 20.011", "20.012"),  # "Rev." prefix
        ("1.290C", "1.291A"),  # Mitsubishi letter suffix
        ("1.05E", "1.05F"),
        ("R1.01.00", "R2.03.00"),  # Yokogawa
        ("v.32.011", "V33.017"),  # Rockwell "v." prefix
        ("V23Q3", "V23Q4"),
        ("V14.2023-08-23", "V14.2023-09-01"),
    ],
)
def test_version_order(lower: str, higher: str) -> None:
    assert v(lower) < v(higher)
    assert not v(higher) < v(lower)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("V2.4", "V2.4.0"),
        ("33.11", "V33.011"),
        ("Firmware 20.011", "20.11"),
        ("v5.027", "5.27"),
        ("V2.9.4", "2.9.4"),
    ],
)
def test_version_equal(a: str, b: str) -> None:
    assert v(a) == v(b)


@pytest.mark.parametrize("text", ["", "unknown", "All versions", "n/a"])
def test_no_version(text: str) -> None:
    assert parse_version(text) is None


def test_wildcard_version() -> None:
    pattern = v("R210.X")
    assert pattern.wildcard
    assert v("R210.5").matches(pattern)
    assert v("R210").matches(pattern)
    assert not v("R211.1").matches(pattern)
    assert parse_version("R15x") is None  # a wildcard inside a number: not comparable


@pytest.mark.parametrize(
    ("expression", "inside", "outside"),
    [
        ("vers:all/*", ["V1.0", "V99"], []),
        ("vers:all/<V2.9.7", ["V2.9.4", "V2.9.6", "V2.8"], ["V2.9.7", "V3.0.1"]),
        ("vers:all/>=V11.5.1|<V11.6.2", ["V11.5.1", "V11.6.1"], ["V11.5.0", "V11.6.2"]),
        ("vers:all/>=V3.0.1<V3.0.3", ["V3.0.1", "V3.0.2"], ["V3.0.3", "V3.0.0"]),
        ("vers:all/<V9.2 SP2 Upd1", ["V9.2 SP2", "V9.2 SP1 Upd3"], ["V9.2 SP2 Upd1", "V9.3"]),
        ("<=1.4.0", ["1.4.0", "1.3.9"], ["1.4.1"]),
        ("<= 7.011", ["7.11", "6.999"], ["7.012"]),
        (">=4.6|<4.38", ["4.6", "4.10", "4.37"], ["4.5", "4.38"]),  # per component: 4.6 < 4.10 < 4.38
        (">=1.00A|<1.05F", ["1.00A", "1.05E"], ["1.05F", "0.99Z"]),
        (">v33.011|<v33.015", ["33.12", "33.014"], ["33.011", "33.015"]),
        ("<V3.2_SP2", ["V3.2", "V3.2 SP1"], ["V3.2 SP2", "V3.3"]),
        ("<V19_Update_1", ["V19"], ["V19 Update 1", "V20"]),
        (">FW19_up_to_and_including_FW26", ["FW20", "FW26"], ["FW19", "FW27"]),
        ("All versions < V23Q4", ["V23Q3"], ["V23Q4"]),
        ("All versions >= V6.1 < V6.1 HF2", ["V6.1", "V6.1 HF1"], ["V6.1 HF2", "V6.0"]),
        ("8.001|8.002|9.001", ["8.1", "9.001"], ["8.003", "9.002"]),
        ("5.17.00 | 5.17.01", ["5.17.00", "5.17.1"], ["5.17.02"]),
        ('>="05"|<="07"', ["05", "07"], ["04", "08"]),
        ("Firmware__20.011", ["20.11"], ["20.12"]),
        ("and  5.028", ["5.028"], ["5.027"]),
        (">=v2.001.x", ["2.001", "2.5"], ["1.9"]),
        # Generic and intdot vers schemes (not in the CISA set, which writes vers:all, but valid CSAF).
        ("vers:generic/>=1.2|<2.0", ["1.2", "1.9.9"], ["2.0", "1.1"]),
        ("vers:intdot/<10.20.3", ["10.20.2", "9.99"], ["10.20.3"]),
    ],
)
def test_ranges(expression: str, inside: list[str], outside: list[str]) -> None:
    rng = parse_range(expression)
    assert rng.kind in ("all", "constraints"), rng
    for text in inside:
        assert rng.contains(v(text)) is True, (expression, text)
    for text in outside:
        assert rng.contains(v(text)) is False, (expression, text)


def test_branch_fixes() -> None:
    """ICSA-24-284-20 (ControlLogix 5580): "<V33.017_V34.014_V35.013_V36.011" = each line fixed in its own
    release ("update to V33.017, V34.014, V35.013, or V36.011")."""
    rng = parse_range("<V33.017_V34.014_V35.013_V36.011")
    assert rng.kind == "branches"
    assert [
        rng.contains(v(x)) for x in ("32.11", "33.11", "33.17", "34.13", "34.14", "35.11", "36.11", "37.1")
    ] == [
        True,
        True,
        False,
        True,
        False,
        True,
        False,
        False,
    ]


def test_conditions_are_kept() -> None:
    rng = parse_range("<V8.89_installed_on_CP100_devices")
    assert rng.contains(v("V8.80")) is True and rng.condition == "installed on CP100 devices"
    rng = parse_range("<V8.18.31_only_if_the_basic_authentication_mechanism_is_used_by_the_application")
    assert rng.condition.startswith("only if the basic authentication")
    rng = parse_range("All versions with Fortinet NGFW before V7.4.1")
    assert rng.kind == "all" and "Fortinet" in rng.condition
    rng = parse_range("vers:all/*_installed_on_CP200_devices")
    assert rng.kind == "all" and rng.condition == "installed on CP200 devices"


@pytest.mark.parametrize(
    "expression",
    [
        '<=The_first_5_digits_of_serial_No._"26061"',
        "<with_Palo_Alto_Networks_Virtual_NGFW_V11.0.1",
        "R15x",
        ">=R16x|<=R162.10",
        ">= 1.31 | <= 1.4",
    ],
)
def test_unparsed_forms_say_so(expression: str) -> None:
    rng = parse_range(expression)
    assert rng.kind == "unparsed" and rng.problem
    assert rng.contains(v("1.0")) is None  # cannot say: matching reports medium confidence


def test_unknown_firmware_cannot_be_placed() -> None:
    assert parse_range("<V2.4").contains(None) is None
    assert parse_range("vers:all/*").contains(None) is True
