"""`icsaudit advisories import/status/match` on the real advisories, with bad files beside them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from icsaudit.cli import main

XCM = "icsa-24-046-11.json"  # Siemens SCALANCE XCM-/XRM-300 (see test_advisories_match)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture()
def bad_dir(tmp_path: Path, reference_dir: Path) -> Path:
    """Five broken inputs, each with the problem the import must name."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "truncated.json").write_text('{"document": {"csaf_version": "2.0", ')
    (folder / "not-csaf.json").write_text('{"hello": "world"}')
    real = json.loads((reference_dir / "csaf" / XCM).read_text())
    no_id = json.loads(json.dumps(real))
    del no_id["document"]["tracking"]["id"]
    (folder / "no-tracking-id.json").write_text(json.dumps(no_id))
    dangling = json.loads(json.dumps(real))
    dangling["vulnerabilities"][0]["product_status"]["known_affected"].append("CSAFPID-9999")
    (folder / "dangling-product.json").write_text(json.dumps(dangling))
    (folder / "kev-without-cve.json").write_text(
        json.dumps({"catalogVersion": "x", "vulnerabilities": [{"cveID": "", "dateAdded": "2024-01-01"}]})
    )
    return folder


def test_import_status_match(reference_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "adv.sqlite"
    result = run(
        "advisories",
        "import",
        str(reference_dir / "csaf"),
        str(reference_dir / "kev.json"),
        "--store",
        str(store),
    )
    assert result.exit_code == 0, result.output
    assert (
        "imported 300 advisories (0 replaced), 3714 products, 1827 vulnerabilities, 1404 KEV entries "
        "(catalog 2025.08.25) from 301 of 301 files" in result.output
    )

    # Idempotent: the same files again replace, not duplicate.
    again = run("advisories", "import", str(reference_dir / "csaf"), "--store", str(store))
    assert "imported 300 advisories (300 replaced)" in again.output

    status = run("advisories", "status", "--store", str(store), "--format", "json")
    state = json.loads(status.output)
    assert state["advisories"] == 300 and state["kev_entries"] == 1404
    assert state["newest_advisory_id"] == "ICSA-24-296-01" and state["kev_version"] == "2025.08.25"
    text = run("advisories", "status", "--store", str(store)).output
    assert "newest 2024-10-22 (ICSA-24-296-01" in text and "catalog 2025.08.25" in text

    out = run(
        "advisories",
        "match",
        "--vendor",
        "Siemens",
        "--product",
        "SCALANCE XCM324",
        "--firmware",
        "V2.3",
        "--store",
        str(store),
        "--format",
        "json",
    )
    found = {m["advisory_id"]: m for m in json.loads(out.output)}
    assert found["ICSA-24-046-11"]["kev"] is True and found["ICSA-24-046-11"]["confidence"] == "high"
    text = run(
        "advisories",
        "match",
        "--vendor",
        "Siemens",
        "--product",
        "SCALANCE XCM324",
        "--firmware",
        "V2.3",
        "--store",
        str(store),
    ).output
    assert "known exploited: CVE-2022-2586 (KEV since 2024-06-26)" in text
    none = run(
        "advisories",
        "match",
        "--vendor",
        "Acme",
        "--product",
        "X-1",
        "--firmware",
        "1",
        "--store",
        str(store),
    )
    assert none.exit_code == 0 and "no matching advisory" in none.output


def test_bad_files_reported_and_others_imported(reference_dir: Path, bad_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "adv.sqlite"
    result = CliRunner().invoke(
        main, ["advisories", "import", str(bad_dir), str(reference_dir / "csaf" / XCM), "--store", str(store)]
    )
    assert result.exit_code == 2
    assert "imported 1 advisories" in result.output and "from 1 of 6 files" in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 6  # one per bad file + the summary
    joined = "\n".join(errors)
    assert "truncated.json: not valid JSON" in joined
    assert "not-csaf.json: neither a CSAF 2.0 advisory" in joined
    assert "no-tracking-id.json: document.tracking.id is missing" in joined
    assert (
        "dangling-product.json: vulnerabilities[0].product_status names product ids not in the product "
        "tree: CSAFPID-9999" in joined
    )
    assert "kev-without-cve.json: vulnerabilities[0] has no cveID" in joined
    assert "error: 5 of 6 files could not be imported" in joined
    status = json.loads(run("advisories", "status", "--store", str(store), "--format", "json").output)
    assert status["advisories"] == 1


def test_newer_revision_replaces_older_is_kept(reference_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "adv.sqlite"
    doc = json.loads((reference_dir / "csaf" / XCM).read_text())
    doc["document"]["tracking"]["version"] = "2"
    doc["document"]["title"] = "revised"
    revised = tmp_path / "revised.json"
    revised.write_text(json.dumps(doc))
    run("advisories", "import", str(revised), "--store", str(store))
    result = run("advisories", "import", str(reference_dir / "csaf" / XCM), "--store", str(store))
    assert "imported 0 advisories" in result.output
    assert "ICSA-24-046-11: stored revision 2 is newer than 1" in result.output


def test_missing_store_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["advisories", "status", "--store", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 2
    assert result.output.startswith("error: no advisory store at ")


@pytest.mark.parametrize(
    "args", [["advisories"], ["advisories", "import"], ["advisories", "status"], ["advisories", "match"]]
)
def test_help_has_example(args: list[str]) -> None:
    result = run(*args, "--help")
    assert result.exit_code == 0 and "Example:" in result.output


def test_table_feeds_the_engine(reference_dir: Path, tmp_path: Path) -> None:
    """`advisories table` rows load into the engine's vulnerabilities table: AV-03 fails on the
    SCALANCE XCM324 V2.3 (ICSA-24-046-11, CVE-2022-2586 in KEV) and KEV raises the likelihood."""
    from icsaudit.engine.assess import assess
    from icsaudit.engine.checks import load_checks
    from icsaudit.engine.site import site_from_profile
    from icsaudit.evidence import load_evidence, save_evidence
    from icsaudit.evidence.model import Asset, Evidence

    store = tmp_path / "adv.sqlite"
    run(
        "advisories",
        "import",
        str(reference_dir / "csaf" / XCM),
        str(reference_dir / "kev.json"),
        "--store",
        str(store),
    )
    evidence = Evidence(
        assets=[
            Asset(
                asset_id="10.0.0.5",
                ip="10.0.0.5",
                vendor="Siemens",
                model="6GK5324-8TS01-2AC2",
                firmware="V2.3",
            ),
            Asset(
                asset_id="10.0.0.9", ip="10.0.0.9", vendor="Siemens", model="6GK5324-8TS01-2AC2", firmware=""
            ),
        ]
    )
    save_evidence(evidence, tmp_path / "evidence.json")
    result = run(
        "advisories",
        "table",
        str(tmp_path / "evidence.json"),
        "-o",
        str(tmp_path / "v.json"),
        "--coverage",
        str(tmp_path / "c.json"),
        "--store",
        str(store),
    )
    assert result.exit_code == 0, result.output
    assert "2 of 2 assets affected, 2 with KEV; assets assessed 1, no-firmware 1" in result.output
    rows = json.loads((tmp_path / "v.json").read_text())
    kev_row = next(r for r in rows if r["cve"] == "CVE-2022-2586" and r["asset_id"] == "10.0.0.5")
    assert (kev_row["advisory"], kev_row["kev"], kev_row["fixed"], kev_row["confidence"]) == (
        "ICSA-24-046-11",
        True,
        "V2.4",
        "high",
    )
    assert {r["confidence"] for r in rows if r["asset_id"] == "10.0.0.9"} == {"medium"}
    assert json.loads((tmp_path / "c.json").read_text())[1]["status"] == "no-firmware"

    checks = [c for c in load_checks() if c.id == "AV-03"]
    if not checks:
        pytest.skip("check AV-03 is not in checks/ yet")
    outcome = assess(
        load_evidence(tmp_path / "evidence.json"),
        site_from_profile("water-chlorine"),
        vulnerabilities=rows,
        checks=checks,
    )
    assert outcome.results[0].status == "fail"
    kev_findings = [f for f in outcome.findings if "CVE-2022-2586" in f.message and "10.0.0.5" in f.asset_ids]
    assert kev_findings and "known exploited vulnerability (KEV)" in kev_findings[0].risk.factors


def test_default_store_follows_icsaudit_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, reference_dir: Path
) -> None:
    from icsaudit.advisories.store import default_store_path

    monkeypatch.setenv("ICSAUDIT_HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / "advisories.sqlite"
    result = run("advisories", "import", str(reference_dir / "csaf" / XCM))
    assert result.exit_code == 0 and (tmp_path / "home" / "advisories.sqlite").is_file()
    assert "advisories: 1 (" in run("advisories", "status").output
