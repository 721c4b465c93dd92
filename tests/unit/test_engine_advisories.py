"""AV-03 from the real advisory matcher: the real CSAF advisories and KEV catalog (../shared/reference)
imported into a temporary store, matched through the audit's own step, assessed by the engine."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import jsonschema
import msgspec
import pytest

from icsaudit.advisories.store import import_files
from icsaudit.audit import _match_advisories
from icsaudit.engine.assess import assess
from icsaudit.engine.fixtures import load_fixture
from icsaudit.engine.schema import SCHEMA_PATH
from icsaudit.evidence.model import Asset
from icsaudit.jsonio import dumps_json
from icsaudit.paths import data_dir

BASE = data_dir("checks") / "fixtures" / "base.yaml"
KEV = "known exploited vulnerability (KEV)"
# The identity established in tests/unit/test_advisories_match.py: SCALANCE XCM324 firmware V2.3 is in
# ICSA-24-046-11 (<V2.4), whose CVE-2022-2586 is in the KEV catalog.
XCM324 = {"vendor": "Siemens AG", "model": "6GK5324-8TS01-2AC2", "role": "plc"}


@pytest.fixture(scope="module")
def store_home(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("icsaudit-home")
    report = import_files([reference_dir / "csaf", reference_dir / "kev.json"], home / "advisories.sqlite")
    assert report.failures == []
    return home


def _run(monkeypatch: pytest.MonkeyPatch, home: Path, assets: list[Asset]):
    monkeypatch.setenv("ICSAUDIT_HOME", str(home))  # the audit reads the default store
    f = load_fixture(BASE)
    evidence = msgspec.structs.replace(f.evidence, assets=assets)
    rows, coverage, note = _match_advisories(evidence)
    assert rows is not None and coverage is not None, note
    result = assess(evidence, f.site, vulnerabilities=rows, vulnerability_assets=coverage)
    return rows, result


def test_real_match_gives_one_finding_per_advisory_and_kev_raises_likelihood(
    monkeypatch: pytest.MonkeyPatch, store_home: Path
) -> None:
    assets = [
        Asset(asset_id="10.1.0.5", ip="10.1.0.5", firmware="V2.3", **XCM324),
        Asset(asset_id="10.1.0.6", ip="10.1.0.6", vendor="Siemens", model="6ES7 511-1AK02-0AB0", role="plc"),
    ]
    rows, result = _run(monkeypatch, store_home, assets)
    advisories = {(r["asset_id"], r["advisory"]) for r in rows}
    assert len(rows) > len(advisories)  # many CVEs per advisory (160 for ICSA-24-046-11)
    av03 = next(r for r in result.results if r.check_id == "AV-03")
    assert av03.status == "fail"  # what was matched is reported even though 10.1.0.6 had no firmware
    findings = [f for f in result.findings if f.check_id == "AV-03"]
    assert Counter((f.row["asset_id"], f.row["advisory"]) for f in findings) == Counter(advisories)
    assert len({f.finding_id for f in findings}) == len(findings)
    kev = next(f for f in findings if f.row["advisory"] == "ICSA-24-046-11")
    assert kev.row["kev_cves"] == "CVE-2022-2586" and kev.row["kev_since"] == "2024-06-26"
    assert kev.row["cve_count"] == sum(1 for r in rows if r["advisory"] == "ICSA-24-046-11")
    assert kev.row["confidence"] == "high" and kev.row["fixed"] == "V2.4"
    assert kev.severity == "critical" and KEV in kev.risk.factors
    assert "ICSA-24-046-11" in kev.message and "known exploited: CVE-2022-2586" in kev.message
    jsonschema.validate(json.loads(dumps_json(result)), json.loads(SCHEMA_PATH.read_text()))

    # the same rows without their KEV entries: that finding's likelihood is one lower
    f = load_fixture(BASE)
    evidence = msgspec.structs.replace(f.evidence, assets=assets)
    plain = [{**r, "kev": False} for r in rows]
    again = assess(evidence, f.site, vulnerabilities=plain, vulnerability_assets=None)
    same = next(x for x in again.findings if x.finding_id == kev.finding_id)
    assert KEV not in same.risk.factors
    assert same.risk.likelihood == kev.risk.likelihood - 1


def test_real_match_with_a_controller_of_unknown_firmware_is_not_assessed(
    monkeypatch: pytest.MonkeyPatch, store_home: Path
) -> None:
    assets = [
        # identified, and no advisory lists it (tests/unit/test_advisories_match.py::test_must_not_match)
        Asset(
            asset_id="10.1.0.5", ip="10.1.0.5", vendor="Siemens", model="6ES7 999-9ZZ99-0AB0", firmware="V1.0"
        ),
        Asset(asset_id="10.1.0.6", ip="10.1.0.6", vendor="Siemens", role="plc"),  # no model reported
    ]
    rows, result = _run(monkeypatch, store_home, assets)
    assert rows == []
    av03 = next(r for r in result.results if r.check_id == "AV-03")
    assert (av03.status, av03.findings) == ("not-assessed", 0)
    assert av03.reason.startswith("1 controller (PLC/RTU/IED) without firmware/model")
    assert "10.1.0.6 no-model" in av03.reason


def test_low_confidence_kev_does_not_raise_likelihood() -> None:
    f = load_fixture(data_dir("checks") / "asset-visibility" / "fixtures" / "AV-03-fail-per-advisory.yaml")
    low = [{**r, "confidence": "low"} for r in f.vulnerabilities]
    for rows, raised in ((f.vulnerabilities, True), (low, False)):
        result = assess(f.evidence, f.site, vulnerabilities=rows, vulnerability_assets=f.vulnerability_assets)
        findings = [x for x in result.findings if x.asset_ids[:1] == ["10.1.0.5"]]
        assert findings and any(KEV in x.risk.factors for x in findings) is raised
