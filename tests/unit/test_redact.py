"""Redacted bundles: no address, MAC, serial or host name survives anywhere, pseudonyms stay stable."""

from __future__ import annotations

import json
import tarfile

import pytest

from icsaudit.evidence import load_evidence
from icsaudit.report.io import load_assessment
from tests.data.assessments.cli import EVIDENCE, Q1, run


def _sensitive() -> set[str]:
    a, e = load_assessment(Q1), load_evidence(EVIDENCE)
    values = set()
    for x in a.assets:
        values |= {x.ip, x.mac, x.name, x.serial}
    for x in e.assets:
        values |= {x.ip, x.mac, x.serial, *x.hostnames}
    for f in e.flows:
        values |= {f.client_ip, f.server_ip, f.client_mac, f.server_mac}
    values |= {"8.8.8.8"}  # an address that only appears inside a finding message
    values.discard("")
    return values


SECRETS = ("plcadmin", "9f" * 32, "0006 9cae 0f0a", "/srv/captures/riverbend")


def _all_bytes(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _scan(files: dict[str, bytes]) -> list[str]:
    leaks = []
    for name, data in files.items():
        lowered = data.lower()
        for value in _sensitive() | set(SECRETS):
            if value.lower().encode() in lowered:
                leaks.append(f"{name}: {value}")
            if ":" in value and value.replace(":", "-").lower().encode() in lowered:
                leaks.append(f"{name}: {value} (dashed)")
    return leaks


@pytest.fixture()
def key(tmp_path):
    run("keys", "new", "-o", tmp_path / "k")
    return tmp_path / "k"


def test_the_fixture_really_contains_the_values(tmp_path, key):
    out = tmp_path / "internal"
    run("bundle", Q1, "--key", key, "--evidence", EVIDENCE, "-o", out)
    leaks = _scan(_all_bytes(out))
    assert len(leaks) > 100  # the scan finds them when they are there


@pytest.mark.parametrize("level", ["regulator", "regional"])
def test_no_identifier_anywhere_in_the_bundle(tmp_path, key, level):
    out = tmp_path / level
    result = run("bundle", Q1, "--key", key, "--evidence", EVIDENCE, "--redact", level, "-o", out)
    assert result.exit_code == 0, result.output
    files = _all_bytes(out)
    assert _scan(files) == []
    assert run("verify", out, "--key", f"{key}.pub").exit_code == 0
    if level == "regulator":
        assert {"report.html", "oscal/assessment-results.json", "evidence.json", "findings.csv"} <= set(files)
    else:
        assert set(files) == {"summary.json", "summary.csv", "summary.html", "manifest.json", "manifest.sig"}
        summary = json.loads(files["summary.json"])
        assert summary["facility"].startswith("facility-") and b"Riverbend" not in b"".join(files.values())
        assert summary["findings_by_severity"] == {"critical": 3, "high": 5, "info": 1, "low": 1, "medium": 1}
        assert "chlorine-dosing / CSL 2" in summary["findings_by_zone_type"]


def test_tar_gz_is_scanned_after_extraction(tmp_path, key):
    archive = tmp_path / "reg.tar.gz"
    run("bundle", Q1, "--key", key, "--evidence", EVIDENCE, "--redact", "regulator", "-o", archive)
    with tarfile.open(archive) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert files and _scan(files) == []


def test_pseudonyms_are_stable_per_key_and_differ_across_keys(tmp_path, key):
    pseudo_file = tmp_path / "pseudonym.key"
    pseudo_file.write_bytes(b"riverbend-regulator-pseudonym-secret-2026")
    run("keys", "new", "-o", tmp_path / "rotated")

    def inventory(signing, *extra):
        out = tmp_path / f"b{len(list(tmp_path.iterdir()))}"
        assert run("bundle", Q1, "--key", signing, "--redact", "regulator", *extra, "-o", out).exit_code == 0
        return (out / "inventory.csv").read_text()

    first, second = inventory(key), inventory(key)
    assert first == second and "ip-" in first and "sn-" in first and "host-" in first
    assert inventory(tmp_path / "rotated") != first
    # a pseudonym key file keeps bundles comparable when the signing key rotates
    assert inventory(key, "--pseudonym-key", pseudo_file) == inventory(
        tmp_path / "rotated", "--pseudonym-key", pseudo_file
    )


def test_regulator_copy_keeps_the_structure(tmp_path, key):
    out = tmp_path / "reg"
    run("bundle", Q1, "--key", key, "--evidence", EVIDENCE, "--redact", "regulator", "-o", out)
    shared = load_assessment(out / "assessment.json")
    original = load_assessment(Q1)
    assert [f.finding_id for f in shared.findings] == [f.finding_id for f in original.findings]
    assert (
        shared.findings[0].asset_ids[0]
        == shared.assets[
            [x.asset_id for x in original.assets].index(original.findings[0].asset_ids[0])
        ].asset_id
    )  # links between findings and assets survive
    evidence = json.loads((out / "evidence.json").read_bytes())
    credential = next(e for e in evidence["events"] if e["kind"] == "credential")
    assert credential["detail"] == {}
    assert all(i["raw"] == {} for i in evidence["identities"])
    write = next(e for e in evidence["events"] if e["kind"] == "write")
    assert write["detail"] == {"register": 40110}


def test_unknown_level(tmp_path, key):
    result = run("bundle", Q1, "--key", key, "--redact", "public", "-o", tmp_path / "x")
    assert result.exit_code == 2 and "public" in result.output


def test_real_analyzer_evidence_is_redacted_everywhere(tmp_path, key, corpus_dir):
    """Evidence straight from the analyzer carries addresses in places a hand-made fixture may not:
    per-protocol conversation tuples and raw identities in capture.protocols. None may survive."""
    import msgspec

    from icsaudit.engine.assess import assess
    from icsaudit.engine.site import site_from_profile
    from icsaudit.evidence import save_evidence
    from icsaudit.jsonio import write_json_atomic
    from icsaudit.passive.pipeline import analyze

    evidence = analyze([corpus_dir / "pcaps/modbus/iti__ModbusTCP.pcap"])
    assert any(s.conversations for s in evidence.capture.protocols.values())
    ev_path = save_evidence(evidence, tmp_path / "evidence.json")
    assessment = assess(evidence, site_from_profile("water-chlorine"))
    a_path = write_json_atomic(tmp_path / "assessment.json", assessment)
    addresses = {f.client_ip for f in evidence.flows} | {f.server_ip for f in evidence.flows}
    out = tmp_path / "bundle"
    assert (
        run(
            "bundle", a_path, "--key", key, "--evidence", ev_path, "--redact", "regulator", "-o", out
        ).exit_code
        == 0
    )
    blob = b"".join(_all_bytes(out).values())
    leaked = sorted(a for a in addresses if a.encode() in blob)
    assert leaked == [], leaked
    assert msgspec.json.decode((out / "evidence.json").read_bytes())["capture"]["protocols"]
