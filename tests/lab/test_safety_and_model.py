from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from icsaudit.engine.model import Assessment, Finding, Site, SiteSummary
from icsaudit.errors import SafetyRefusal
from icsaudit.evidence.model import OPERATION_CATEGORIES
from icsaudit.lab.devices import dnp3, enip, iec104, modbus, s7
from icsaudit.lab.journal import Journal, read_journal
from icsaudit.lab.model import Scenario
from icsaudit.lab.safety import require_loopback, require_loopback_network
from icsaudit.lab.scenarios import load_scenario, scenario_ids, select
from icsaudit.lab.score import exercise_ids, load_exercise, score


@pytest.mark.parametrize(
    "address",
    ["0.0.0.0", "10.0.0.1", "192.168.1.10", "172.17.0.1", "8.8.8.8", "::1", "localhost", "", "127.0.0.1/8"],
)
def test_non_loopback_addresses_are_refused(address: str) -> None:
    with pytest.raises(SafetyRefusal):
        require_loopback(address)


def test_loopback_addresses_pass() -> None:
    assert require_loopback("127.0.10.11") == "127.0.10.11"
    assert require_loopback_network("127.0.10.0/24") == "127.0.10.0/24"
    with pytest.raises(SafetyRefusal):
        require_loopback_network("127.0.0.0/7")


def test_every_scenario_loads_with_a_valid_site_and_loopback_only() -> None:
    ids = scenario_ids()
    assert {"water-chlorine", "chemical-sis", "bsl3-hvac", "research-reactor"} <= set(ids)
    profiles = {
        "water-chlorine",
        "chemical-toxic",
        "bsl-lab",
        "research-reactor",
        "nuclear-power",
        "radioactive-source",
    }
    for sid in ids:
        scenario = load_scenario(sid)
        site = msgspec.convert(msgspec.to_builtins(scenario.site), Site)
        assert site.profile in profiles
        assert all(c.startswith("127.0.") and c.endswith(".0/24") for z in site.zones for c in z.cidrs)
        devices, traffic = select(scenario, list(scenario.faults))
        assert devices and traffic
        for flow in traffic:  # every client source is a distinct loopback host, never the device itself
            require_loopback(flow.source)


def test_a_scenario_with_a_public_address_is_refused(tmp_path: Path) -> None:
    raw = msgspec.to_builtins(load_scenario("water-chlorine"))
    raw["devices"][0]["address"] = "192.168.0.10"
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(raw))
    with pytest.raises(SafetyRefusal):
        load_scenario(str(path))
    assert isinstance(
        msgspec.convert(msgspec.to_builtins(load_scenario("water-chlorine")), Scenario), Scenario
    )


def test_categorizers_cover_every_byte_value() -> None:
    """No request is ever dropped: every function code maps to a known category ("other" if unknown)."""
    for fc in range(256):
        assert modbus.categorize(bytes([fc, 0, 1]))[1] in OPERATION_CATEGORIES
        pdu = bytes([0x32, 1, 0, 0, 0, 1, 0, 1, 0, 0, fc])
        assert s7.categorize(pdu)[1] in OPERATION_CATEGORIES
        assert (
            iec104.categorize(bytes([0x68, 14, 0, 0, 0, 0, fc, 1, 6, 0, 1, 0, 0, 0, 0, 20]))[1]
            in OPERATION_CATEGORIES
        )
        frame = bytes([5, 0x64, 10, 0xC4, 10, 0, 1, 0, 0, 0, 0xC0, 0xC0, fc])
        assert dnp3.categorize_frame(frame)[1] in OPERATION_CATEGORIES
        assert enip.CIP_SERVICES.get(fc, "other") in OPERATION_CATEGORIES
    assert modbus.categorize(b"\x10\x00\x00")[1] == "write"
    assert modbus.categorize(b"\x2b\x0e\x01\x00")[1] == "identify"
    assert modbus.categorize(b"\x08\x00\x01")[1] == "mode"
    assert s7.categorize(bytes([0x32, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0x29]))[1] == "mode"
    assert s7.categorize(bytes([0x32, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0x1A]))[1] == "program"
    assert dnp3.categorize_frame(bytes([5, 0x64, 10, 0xC4, 10, 0, 1, 0, 0, 0, 0xC0, 0xC0, 5]))[1] == "control"


def test_journal_never_drops_and_normalizes_unknown_categories(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", "plc", "modbus", "127.0.10.11", 502)
    journal.record(("127.0.11.21", 4000), "fc3", "read")
    journal.record(("127.0.11.66", 4001), "fc99", "no-such-category", "weird")
    journal.close()
    records = read_journal([tmp_path / "j.jsonl"])
    assert [r["category"] for r in records] == ["read", "other"]
    assert records[1]["result"] == "refused"
    assert records[0]["peer"] == "127.0.11.21"


def _finding(check: str, ip: str, severity: str = "high") -> Finding:
    return Finding(
        finding_id=f"{check}-{ip}", check_id=check, title=check, severity=severity, message=ip, asset_ids=[ip]
    )


def test_score_counts_found_missed_and_spurious() -> None:
    exercise = load_exercise("demo")
    perfect = Assessment(
        site=SiteSummary(name="x", profile="water-chlorine"),
        findings=[_finding(e.check, e.asset) for e in exercise.expected],
    )
    result = score(exercise, perfect)
    assert (result["precision"], result["recall"], result["missed"], result["spurious"]) == (1.0, 1.0, [], [])
    partial = Assessment(
        site=SiteSummary(name="x", profile="water-chlorine"),
        findings=[_finding(e.check, e.asset) for e in exercise.expected[1:]]
        + [_finding("IC-03", "127.0.11.21", "critical")],
    )
    result = score(exercise, partial)
    n = len(exercise.expected)
    assert result["recall"] == round((n - 1) / n, 4)
    assert result["precision"] == round((n - 1) / n, 4)
    assert result["missed"][0]["check"] == exercise.expected[0].check
    assert result["spurious_critical"] == 1 and not result["no_spurious_critical"]


def test_every_exercise_names_a_scenario_and_its_faults() -> None:
    assert "demo" in exercise_ids()
    for eid in exercise_ids():
        exercise = load_exercise(eid)
        scenario = load_scenario(exercise.scenario)
        assert set(exercise.faults) <= set(scenario.faults)
        assert exercise.expected
