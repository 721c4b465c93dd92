"""`icsaudit report`: every format from the fixture assessment, bad input, determinism."""

from __future__ import annotations

import csv
import io
import json

import msgspec
import pytest

from icsaudit.engine.model import Assessment
from icsaudit.report.io import load_assessment
from icsaudit.report.schema import validate_assessment_document
from tests.data.assessments.cli import Q1, Q2, run

ALL = "html,md,json,csv,oscal"


def test_all_formats_written(tmp_path):
    result = run("report", Q1, "--format", ALL, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    names = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert names == [
        "assessment.json",
        "findings.csv",
        "inventory.csv",
        "oscal/assessment-plan.json",
        "oscal/assessment-results.json",
        "oscal/poam.json",
        "report.html",
        "report.md",
    ]
    assert not list(tmp_path.rglob("*.tmp")), "atomic writes leave no temporary file"


def test_rerun_is_byte_identical(tmp_path):
    run("report", Q1, "--format", ALL, "-o", tmp_path / "a")
    run("report", Q1, "--format", ALL, "-o", tmp_path / "b")
    for path in (tmp_path / "a").rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes(), path


def test_json_is_the_assessment_and_matches_the_schema(tmp_path):
    run("report", Q1, "--format", "json", "-o", tmp_path)
    document = json.loads((tmp_path / "assessment.json").read_bytes())
    validate_assessment_document(document, "assessment.json")
    # the schema the test validates against is the struct's, independently generated here
    import jsonschema

    jsonschema.Draft202012Validator(msgspec.json.schema(Assessment)).validate(document)
    assert msgspec.convert(document, Assessment) == load_assessment(Q1)


def test_schema_rejects_a_bad_document():
    document = json.loads(Q1.read_bytes())
    document["findings"][0]["severity"] = "catastrophic"
    with pytest.raises(Exception, match="findings/0/severity"):
        validate_assessment_document(document, "x.json")


def test_csv_findings_and_inventory(tmp_path):
    run("report", Q1, "--format", "csv", "-o", tmp_path)
    findings = list(csv.DictReader(io.StringIO((tmp_path / "findings.csv").read_text())))
    a = load_assessment(Q1)
    assert len(findings) == len(a.findings) == 11
    assert findings[0]["severity"] == "critical" and findings[0]["risk_score"] == "25"
    assert {f["severity"] for f in findings} == {"critical", "high", "medium", "low", "info"}
    zc02 = next(f for f in findings if f["check_id"] == "ZC-02")
    assert zc02["attack_ics"] == "T0886;T0822" and zc02["frames"].endswith("#481220")
    inventory = list(csv.DictReader(io.StringIO((tmp_path / "inventory.csv").read_text())))
    assert {r["ip"] for r in inventory} == {x.ip for x in a.assets}
    plc = next(r for r in inventory if r["name"] == "cl2-dose-plc01")
    assert plc["serial"] == "SN-21A0457731" and plc["mac"] == "00:80:f4:0c:a1:01"


def test_csv_cells_cannot_become_formulas():
    from icsaudit.report.tables import _cell

    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("-3") == "-3" and _cell("@x") == "'@x"


def test_markdown_has_summary_findings_and_gaps(tmp_path):
    run("report", Q1, "--format", "md", "-o", tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| critical | 3 |" in text and "| high | 5 |" in text
    assert "### [CRITICAL] ZC-02" in text and "> **Fix:** Block L4 to L1" in text
    assert "| SR 7.3 | Control system backup | answered-no |" in text
    assert "| Enterprise IT (ent-it) | Chlorine dosing (dosing) | modbus | tcp/502 | 1 |" in text


def test_html_sections_and_self_contained(tmp_path):
    run("report", Q1, "--format", "html", "-o", tmp_path)
    html = (tmp_path / "report.html").read_text()
    for heading in (
        "Executive summary",
        "Zone map",
        "Risk matrix",
        "Framework coverage",
        "Findings",
        "Asset inventory",
        "Method and capture",
    ):
        assert heading in html
    assert "<script" not in html.lower()
    assert "<link" not in html.lower() and "@import" not in html
    assert html.count("url(") == html.count("url(#")  # only in-document SVG marker references
    assert (
        html.count('<g class="flow bad">') == 5 and html.count('<g class="flow ok">') == 5
    )  # merged per pair
    assert 'data-zone="sis"' in html and "SAFETY" in html
    assert "2026-03-02 08:00:00 UTC" in html  # capture window


def test_html_escapes_hostile_text(tmp_path):
    a = load_assessment(Q1)
    a.findings[0].message = "<img src=x onerror=alert(1)>"
    a.assets[0].name = "<b>pwn</b>"
    from icsaudit.report.html import render_html

    html = render_html(a)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>pwn</b>" not in html


def test_unknown_format_is_one_clear_line(tmp_path):
    result = run("report", Q1, "--format", "html,docx", "-o", tmp_path)
    assert result.exit_code == 2
    assert "unknown report format docx; valid formats: html, md, json, csv, oscal, pdf" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "content, expected",
    [
        (b'{"schema_version": "1.0"}', "not an icsaudit assessment"),
        (b"not json at all", "not JSON"),
    ],
)
def test_bad_input_names_the_file(tmp_path, content, expected):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    result = run("report", bad, "-o", tmp_path / "out")
    assert result.exit_code == 2 and str(bad) in result.output and expected in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_wrong_schema_version(tmp_path):
    document = json.loads(Q1.read_bytes())
    document["schema_version"] = "2.0"
    bad = tmp_path / "future.json"
    bad.write_text(json.dumps(document))
    result = run("report", bad, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "assessment schema 2.0 is not supported" in result.output


def test_second_fixture_renders_too(tmp_path):
    assert run("report", Q2, "--format", ALL, "-o", tmp_path).exit_code == 0


def test_empty_assessment_renders(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"site": {"name": "Empty lab", "profile": "bsl-lab"}}))
    result = run("report", empty, "--format", ALL, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "No findings." in (tmp_path / "out" / "report.html").read_text()
