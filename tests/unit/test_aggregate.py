"""`icsaudit aggregate`: verified bundles of several facilities compared by profile; others refused."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.data.assessments.cli import Q1, Q2, run


@pytest.fixture()
def inbox(tmp_path):
    """Three facilities: Riverbend (regulator, two quarters), Lakeside (regional), a forged one."""
    for name in ("riverbend", "lakeside", "intruder"):
        run("keys", "new", "-o", tmp_path / f"{name}.key")
    lakeside = json.loads(Q1.read_bytes())
    lakeside["site"].update(name="Lakeside Water Works", facility_id="US-WTP-0999")
    lakeside["assessment_id"] = "lakeside-q1"
    (tmp_path / "lakeside.json").write_text(json.dumps(lakeside))
    run(
        "bundle",
        Q1,
        "--key",
        tmp_path / "riverbend.key",
        "--redact",
        "regulator",
        "-o",
        tmp_path / "rb-q1.tar.gz",
    )
    run("bundle", Q2, "--key", tmp_path / "riverbend.key", "--redact", "regulator", "-o", tmp_path / "rb-q2")
    run(
        "bundle",
        tmp_path / "lakeside.json",
        "--key",
        tmp_path / "lakeside.key",
        "--redact",
        "regional",
        "-o",
        tmp_path / "ls-q1",
    )
    run("bundle", Q1, "--key", tmp_path / "intruder.key", "-o", tmp_path / "forged")
    return tmp_path


def _keys(inbox):
    return ["--key", inbox / "riverbend.key.pub", "--key", inbox / "lakeside.key.pub"]


def test_overview_of_verified_bundles(inbox):
    out = inbox / "overview"
    result = run(
        "aggregate", inbox / "rb-q1.tar.gz", inbox / "rb-q2", inbox / "ls-q1", *_keys(inbox), "-o", out
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((out / "facilities.csv").read_text())))
    assert len(rows) == 3 and {r["profile"] for r in rows} == {"water-chlorine"}
    riverbend = [r for r in rows if r["facility"] == "Riverbend Water Treatment Plant"]
    assert sorted(r["critical"] for r in riverbend) == ["1", "3"]
    assert any(r["facility"].startswith("facility-") for r in rows)  # the regional one stays pseudonymous
    html = (out / "overview.html").read_text()
    assert html.count(">verified<") == 3 and "Top failing checks (water-chlorine)" in html
    checks = list(csv.DictReader(io.StringIO((out / "checks.csv").read_text())))
    zc06 = [c for c in checks if c["check_id"] == "ZC-06"]
    assert len(zc06) == 3 and all(c["status"] == "fail" for c in zc06)


def test_unknown_signer_and_tampering_are_refused(inbox):
    (inbox / "rb-q2" / "report.md").write_text("edited")
    out = inbox / "overview"
    result = run(
        "aggregate", inbox / "rb-q1.tar.gz", inbox / "rb-q2", inbox / "forged", *_keys(inbox), "-o", out
    )
    assert result.exit_code == 1
    assert "REFUSED" in result.output and "rb-q2/report.md: changed" in result.output
    assert "forged: signed with key" in result.output
    rows = list(csv.DictReader(io.StringIO((out / "facilities.csv").read_text())))
    assert len(rows) == 1  # only the verified bundle is counted
    assert (out / "overview.html").read_text().count(">REFUSED<") == 2


def test_without_keys_bundles_are_flagged_unpinned(inbox):
    result = run("aggregate", inbox / "ls-q1", "-o", inbox / "o")
    assert result.exit_code == 0 and "signer not pinned" in result.output
    assert "signer not pinned" in (inbox / "o" / "overview.html").read_text()


def test_nothing_verified_is_an_error(inbox):
    result = run("aggregate", inbox / "forged", "--key", inbox / "riverbend.key.pub", "-o", inbox / "o")
    assert result.exit_code == 2 and "no bundle verified" in result.output
