"""OSCAL output validates against NIST's schemas, reruns identically, and links observations to risks."""

from __future__ import annotations

import json

import pytest

from icsaudit.report.catalog import build_catalog, control_id
from icsaudit.report.io import load_assessment
from icsaudit.report.oscal import oscal_documents
from icsaudit.report.oscal_validate import oscal_errors
from icsaudit.report.templates import reports_dir
from tests.data.assessments.cli import Q1, Q2, run


@pytest.mark.parametrize("fixture", [Q1, Q2])
def test_documents_validate(fixture):
    for name, document in oscal_documents(load_assessment(fixture)).items():
        assert oscal_errors(document) == [], name


def test_validator_rejects_broken_documents():
    results = oscal_documents(load_assessment(Q1))["assessment-results.json"]
    results["assessment-results"]["uuid"] = "not-a-uuid"
    del results["assessment-results"]["results"][0]["reviewed-controls"]
    errors = oscal_errors(results)
    assert any(e.startswith("assessment-results/uuid:") for e in errors)
    assert any("reviewed-controls" in e for e in errors)
    plan = oscal_documents(load_assessment(Q1))["assessment-plan.json"]
    plan["assessment-plan"]["metadata"]["title"] = ""
    assert oscal_errors(plan)  # empty strings are not allowed in OSCAL


def test_reference_examples_still_validate(reference_dir):
    for name in ("ifa_assessment-results-example.json", "ifa_assessment-plan-example.json"):
        assert oscal_errors(json.loads((reference_dir / "oscal" / "examples" / name).read_bytes())) == []


def test_shipped_schemas_are_nist_copies(reference_dir):
    for name in (
        "oscal_assessment-results_schema.json",
        "oscal_assessment-plan_schema.json",
        "oscal_complete_schema.json",
    ):
        assert (reports_dir() / "oscal" / name).read_bytes() == (
            reference_dir / "oscal" / "schemas" / "1.2.1" / name
        ).read_bytes()


def test_catalog_is_valid_and_current():
    shipped = json.loads((reports_dir() / "oscal" / "catalog-icsaudit.json").read_bytes())
    assert oscal_errors(shipped) == []
    assert shipped == build_catalog()
    ids = {c["id"] for g in shipped["catalog"]["groups"] for sub in g["groups"] for c in sub["controls"]}
    assert {"sr-1.1", "sr-5.2", "sr-7.8", "csl-2.r1", "csl-1.r1"} <= ids
    assert len([i for i in ids if i.startswith("sr-")]) == 51


def test_requirement_ids_map_to_catalog_controls():
    catalog = json.loads((reports_dir() / "oscal" / "catalog-icsaudit.json").read_bytes())
    ids = {c["id"] for g in catalog["catalog"]["groups"] for sub in g["groups"] for c in sub["controls"]}
    a = load_assessment(Q1)
    for fw in a.frameworks:
        if fw.framework in ("iec62443-3-3", "iaea-nss17"):
            assert {control_id(r.id) for r in fw.requirements} <= ids


def test_rerun_reproduces_bytes_and_uuids_depend_on_the_assessment(tmp_path):
    run("report", Q1, "--format", "oscal", "-o", tmp_path / "a")
    run("report", Q1, "--format", "oscal", "-o", tmp_path / "b")
    run("report", Q2, "--format", "oscal", "-o", tmp_path / "c")
    name = "oscal/assessment-results.json"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    q1 = json.loads((tmp_path / "a" / name).read_bytes())["assessment-results"]["uuid"]
    q2 = json.loads((tmp_path / "c" / name).read_bytes())["assessment-results"]["uuid"]
    assert q1 != q2


def test_observations_risks_findings_and_attack_ids_are_linked():
    a = load_assessment(Q1)
    result = oscal_documents(a)["assessment-results.json"]["assessment-results"]["results"][0]
    observations = {o["uuid"] for o in result["observations"]}
    risks = {r["uuid"]: r for r in result["risks"]}
    assert len(observations) == len(risks) == len(a.findings) == 11
    linked_obs = {
        x["observation-uuid"] for f in result["findings"] for x in f.get("related-observations", [])
    }
    linked_risks = {x["risk-uuid"] for f in result["findings"] for x in f.get("related-risks", [])}
    assert linked_obs == observations and linked_risks == set(risks)
    for risk in risks.values():
        assert {x["observation-uuid"] for x in risk["related-observations"]} <= observations
    threats = {t["id"] for r in risks.values() for t in r.get("threat-ids", [])}
    assert "https://attack.mitre.org/techniques/T0886/" in threats and len(threats) >= 10
    states = {f["target"]["status"]["state"] for f in result["findings"]}
    assert states == {"satisfied", "not-satisfied"}
    zc02 = next(r for r in risks.values() if r["title"].startswith("IT (L4-5)"))
    facets = {f["name"]: f["value"] for f in zc02["characterizations"][0]["facets"]}
    assert facets == {"likelihood": "5", "impact": "5", "risk-score": "25", "risk-level": "critical"}


def test_poam_lists_every_open_finding():
    a = load_assessment(Q1)
    poam = oscal_documents(a)["poam.json"]["plan-of-action-and-milestones"]
    assert len(poam["poam-items"]) == len(a.findings)
    assert all(item["related-risks"] for item in poam["poam-items"])
