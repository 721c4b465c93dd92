"""`icsaudit diff`: new, fixed and still-open findings, asset changes, coverage change."""

from __future__ import annotations

import json

from icsaudit.report.diff import diff_assessments, finding_key
from icsaudit.report.io import load_assessment
from tests.data.assessments.cli import Q1, Q2, run


def test_findings_assets_and_coverage():
    d = diff_assessments(load_assessment(Q1), load_assessment(Q2))
    checks = {k: sorted(x["check_id"] for x in v) for k, v in d["findings"].items()}
    assert checks == {
        "new": ["IC-04"],
        "fixed": ["AM-03", "CB-04", "CT-01", "ZC-02"],
        "still_open": ["AM-01", "AV-03", "AV-07", "CT-02", "IC-01", "ZC-06", "ZC-07"],
    }
    assert [x["asset_id"] for x in d["assets"]["new"]] == ["10.40.1.21"]
    assert [x["asset_id"] for x in d["assets"]["gone"]] == ["10.20.4.15"]
    iaea = next(c for c in d["coverage"] if c["framework"] == "iaea-nss17")
    assert iaea["counts_change"] == {"not-satisfied": -2, "satisfied": 2}
    g430 = next(c for c in d["coverage"] if c["framework"] == "awwa-g430")
    assert g430["requirements_changed"] == [
        {"id": "G430-4.8", "before": "answered-no", "after": "answered-partial"}
    ]


def test_falls_back_to_check_and_assets_without_finding_id():
    old, new = load_assessment(Q1), load_assessment(Q2)
    for f in old.findings + new.findings:
        f.finding_id = ""
    d = diff_assessments(old, new)
    assert len(d["findings"]["still_open"]) == 7
    assert finding_key(new.findings[0]).startswith(new.findings[0].check_id + ":")


def test_cli_formats():
    result = run("diff", Q1, Q2, "--format", "json")
    assert result.exit_code == 0 and len(json.loads(result.output)["findings"]["fixed"]) == 4
    text = run("diff", Q1, Q2).output
    assert (
        "1 new, 4 fixed, 7 still open findings" in text and "G430-4.8: answered-no → answered-partial" in text
    )
    md = run("diff", Q1, Q2, "--format", "md").output
    assert md.startswith("# Changes: Riverbend") and "## Fixed findings (4)" in md


def test_bad_input(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("[]")
    result = run("diff", Q1, bad)
    assert result.exit_code == 2 and str(bad) in result.output and "Traceback" not in result.output
