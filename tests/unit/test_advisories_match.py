"""Matching real device identities against the real CSAF advisories and KEV in ../shared/reference.

Each expected match was established by reading the advisory JSON (product tree leaf, product_status,
scores, remediations); the test names the advisory and the text read. Skips when ../shared is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from icsaudit.advisories.match import (
    AdvisoryIndex,
    match_assets,
    vulnerability_coverage_rows,
    vulnerability_rows,
)
from icsaudit.advisories.store import import_files
from icsaudit.evidence.model import Asset, Evidence


@pytest.fixture(scope="module")
def store(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("advisories") / "advisories.sqlite"
    report = import_files([reference_dir / "csaf", reference_dir / "kev.json"], path)
    assert report.failures == []
    return path


@pytest.fixture(scope="module")
def index(store: Path) -> AdvisoryIndex:
    return AdvisoryIndex.from_store(store)


def matches(index: AdvisoryIndex, vendor: str, model: str, firmware: str) -> dict:
    return {m.advisory_id: m for m in index.match_device(index.device("dut", vendor, model, firmware))}


def test_every_real_advisory_parses(reference_dir: Path, tmp_path: Path) -> None:
    files = sorted((reference_dir / "csaf").glob("*.json"))
    report = import_files(files, tmp_path / "s.sqlite")
    assert report.failures == []
    assert report.advisories == len(files) == 300
    assert report.products == 3714  # leaves of all product trees (csaf-index.json lists the same products)
    assert report.vulnerabilities == 1827
    # Forms matching cannot compare (serial-number ranges, versions of another component, "R15x",
    # inverted intervals); each is reported with medium confidence, never dropped.
    assert 0 < report.unparsed_ranges < 40


def test_scalance_xcm324_kev(index: AdvisoryIndex) -> None:
    """ICSA-24-046-11 "Siemens SCALANCE XCM-/XRM-300": leaf "SCALANCE XCM324 (6GK5324-8TS01-2AC2)" with
    product_version_range "<V2.4"; CVE-2022-2586 (CVSS 6.7) lists it in known_affected, remediation
    vendor_fix "Update to V2.4 or later version". kev.json has CVE-2022-2586, dateAdded 2024-06-26."""
    found = matches(index, "Siemens AG", "6GK5324-8TS01-2AC2", "V2.3")
    m = found["ICSA-24-046-11"]
    assert m.confidence == "high" and m.kev
    assert "CVE-2022-2586" in m.cves
    kev = next(d for d in m.details if d.cve == "CVE-2022-2586")
    assert kev.kev and kev.kev_date_added == "2024-06-26" and kev.cvss == 6.7
    assert kev.kev_required_action.startswith("Apply updates per vendor instructions")
    assert "Update to V2.4 or later version" in m.remediation
    assert m.url == "https://www.cisa.gov/news-events/ics-advisories/icsa-24-046-11"
    # V2.4 is the fixed version: not affected by that advisory any more.
    assert "ICSA-24-046-11" not in matches(index, "Siemens", "6GK5324-8TS01-2AC2", "V2.4")


def test_s7_1500_order_number_and_version(index: AdvisoryIndex) -> None:
    """ICSA-23-257-01 "Siemens SIMATIC, SIPLUS Products": product 15 "SIMATIC S7-1500 CPU 1511-1 PN
    (6ES7511-1AK02-0AB0)", range "vers:all/<V2.9.7", CVE-2023-28831 CVSS 7.5, vendor_fix "Update to V2.9.7
    or later version". The S7 SZL order number arrives with a space, the firmware as "V2.9.4"."""
    found = matches(index, "Siemens", "6ES7 511-1AK02-0AB0", "V2.9.4")
    m = found["ICSA-23-257-01"]
    assert (m.confidence, m.cves, m.cvss, m.version_range) == (
        "high",
        ["CVE-2023-28831"],
        7.5,
        "vers:all/<V2.9.7",
    )
    assert "Update to V2.9.7 or later version" in m.remediation
    assert not m.kev
    assert "ICSA-23-257-01" not in matches(index, "Siemens", "6ES7 511-1AK02-0AB0", "V2.9.7")


def test_s7_1200_family_product_covers_order_number(index: AdvisoryIndex) -> None:
    """ICSA-23-257-01 product 9 "SIMATIC S7-1200 CPU family (incl. SIPLUS variants)", vers:all/*: a CPU
    1214C DC/DC/DC (6ES7 214-1AG40-0XB0, an S7-1200 order number) is covered whatever its firmware."""
    m = matches(index, "SIEMENS", "6ES7 214-1AG40-0XB0", "V4.5.2")["ICSA-23-257-01"]
    assert m.confidence == "high" and m.cves == ["CVE-2023-28831"]
    assert "covers the SIMATIC S7-1200 family" in m.reason


def test_controllogix_5580_catalog_number_and_release_lines(index: AdvisoryIndex) -> None:
    """ICSA-24-284-20 "Rockwell Automation ControlLogix": product_name "ControlLogix 5580", range
    "<V33.017_V34.014_V35.013_V36.011", CVE-2024-6207 CVSS 7.5, mitigation "update to V33.017, V34.014,
    V35.013, or V36.011". ENIP ListIdentity reports the controller as "1756-L83E/B" rev "33.11"."""
    found = matches(index, "Rockwell Automation/Allen-Bradley", "1756-L83E/B", "33.11")
    m = found["ICSA-24-284-20"]
    assert m.confidence == "high" and m.cves == ["CVE-2024-6207"] and m.cvss == 7.5
    assert "V35.013" in m.remediation
    assert "ICSA-24-284-20" in matches(index, "Allen-Bradley", "1756-L83E/B", "35.11")
    assert "ICSA-24-284-20" not in matches(index, "Allen-Bradley", "1756-L83E/B", "34.14")
    assert "ICSA-24-284-20" not in matches(index, "Allen-Bradley", "1756-L83E/B", "36.11")


def test_communication_module_series(index: AdvisoryIndex) -> None:
    """ICSA-23-264-04 "Select Logix Communication Modules": "1756-EN2T Series D" "<= 11.002",
    CVE-2023-2262 CVSS 9.8, vendor_fix "1756-EN2T Series D versions 11.002 and prior: Update to 11.003"."""
    m = matches(index, "Rockwell Automation", "1756-EN2T/D", "11.2")["ICSA-23-264-04"]
    assert m.confidence == "high" and m.cvss == 9.8 and "CVE-2023-2262" in m.cves
    assert "Update to 11.003" in m.remediation
    assert "ICSA-23-264-04" not in matches(index, "Rockwell Automation", "1756-EN2T/D", "11.3")


def test_s7_1500_mfp_glibc_kev(index: AdvisoryIndex) -> None:
    """ICSA-23-348-10 "SIMATIC S7-1500 CPU 1518(F)-4 PN/DP MFP V3.1": "(6ES7518-4AX00-1AB0)" ">=V3.1.0";
    CVE-2023-4911 (glibc, CVSS 7.8) is in KEV since 2023-11-21; remediation none_available."""
    m = matches(index, "Siemens", "6ES7518-4AX00-1AB0", "V3.1.0")["ICSA-23-348-10"]
    assert m.kev and m.confidence == "high"
    detail = next(d for d in m.details if d.cve == "CVE-2023-4911")
    assert detail.kev_date_added == "2023-11-21" and detail.cvss == 7.8
    assert "ICSA-23-348-10" not in matches(index, "Siemens", "6ES7518-4AX00-1AB0", "V3.0.3")


def test_unknown_firmware_is_medium(index: AdvisoryIndex) -> None:
    """The XCM324 model matches ICSA-24-046-11 but without firmware "<V2.4" cannot be decided."""
    m = matches(index, "Siemens", "SCALANCE XCM324", "")["ICSA-24-046-11"]
    assert m.confidence == "medium" and "firmware unknown" in m.reason


def test_family_only_is_low(index: AdvisoryIndex) -> None:
    """A device that only said "S7-1500" (no order number): ICSA-23-257-01 lists S7-1500 CPUs by order
    number, so the family alone is a low-confidence match."""
    m = matches(index, "Siemens", "S7-1500", "V2.9.4")["ICSA-23-257-01"]
    assert m.confidence == "low"


def test_must_not_match(index: AdvisoryIndex) -> None:
    # A vendor with no advisory in the store, and a Siemens order number no advisory lists.
    assert matches(index, "Acme Controls", "ACME-9000", "1.0") == {}
    assert matches(index, "Siemens", "6ES7 999-9ZZ99-0AB0", "V1.0") == {}
    # "1756-EN2T" must not pick up "1756-EN2TR" (another module) by prefix.
    for m in matches(index, "Rockwell Automation", "1756-EN2T/D", "11.2").values():
        assert "EN2TR" not in m.product


def test_vendor_inferred_from_order_number(index: AdvisoryIndex) -> None:
    assert "ICSA-24-046-11" in matches(index, "", "6GK5324-8TS01-2AC2", "V2.3")


def test_evidence_rows_for_the_engine(store: Path) -> None:
    evidence = Evidence(
        assets=[
            Asset(asset_id="10.0.0.5", vendor="Siemens", model="6GK5324-8TS01-2AC2", firmware="V2.3"),
            Asset(
                asset_id="10.0.0.6",
                vendor="Rockwell Automation/Allen-Bradley",
                model="1756-L83E/B",
                firmware="",
            ),
            Asset(asset_id="10.0.0.7", vendor="Acme", model="", firmware=""),
        ]
    )
    rows = vulnerability_rows(evidence, store=store)
    kev_rows = [r for r in rows if r["kev"]]
    assert {(r["asset_id"], r["cve"]) for r in kev_rows} >= {("10.0.0.5", "CVE-2022-2586")}
    assert all(r["confidence"] == "medium" for r in rows if r["asset_id"] == "10.0.0.6")
    assert {"asset_id", "advisory_id", "cve", "cvss", "kev", "confidence", "remediation"} <= set(rows[0])
    status = {r["asset_id"]: r["status"] for r in vulnerability_coverage_rows(evidence, store=store)}
    assert status == {"10.0.0.5": "assessed", "10.0.0.6": "no-firmware", "10.0.0.7": "no-model"}
    assert {m.asset_id for m in match_assets(evidence.assets, store=store)} == {"10.0.0.5", "10.0.0.6"}


def test_every_all_versions_product_is_found_by_its_own_identity(index: AdvisoryIndex) -> None:
    """Every product that a vulnerability lists as known_affected with "vers:all/*" (or another
    all-versions form) must be found again from its own first order number and from its own product
    name: no product of the real set is unreachable through normalization."""
    from icsaudit.advisories.versions import parse_range

    checked, missing = 0, []
    for advisory in index.advisories:
        affected = {pid for v in advisory.vulnerabilities for pid in v.known_affected}
        for product in advisory.products:
            if product.product_id not in affected or parse_range(product.version).kind != "all":
                continue
            for model in product.model_numbers[:1] + [product.name]:
                checked += 1
                found = index.match_device(index.device("dut", product.vendor, model, "V1.0"))
                if advisory.advisory_id not in {m.advisory_id for m in found}:
                    missing.append((advisory.advisory_id, product.vendor, model))
    assert checked > 2000
    assert missing == []
