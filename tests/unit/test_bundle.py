"""Signed bundles: keys, directory and .tar.gz, and verify catching every kind of tampering."""

from __future__ import annotations

import io
import json
import shutil
import stat
import tarfile

import pytest

from tests.data.assessments.cli import EVIDENCE, Q1, run


@pytest.fixture()
def keys(tmp_path):
    assert run("keys", "new", "-o", tmp_path / "facility.key").exit_code == 0
    assert run("keys", "new", "-o", tmp_path / "other.key").exit_code == 0
    return tmp_path / "facility.key", tmp_path / "other.key"


@pytest.fixture()
def bundle_dir(tmp_path, keys):
    out = tmp_path / "bundle"
    result = run("bundle", Q1, "--key", keys[0], "--evidence", EVIDENCE, "-o", out)
    assert result.exit_code == 0, result.output
    return out


def test_key_files(keys):
    private, _ = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.with_name("facility.key.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = run("keys", "new", "-o", private)
    assert again.exit_code == 2 and "refusing to overwrite" in again.output


def test_bundle_content_and_verify(bundle_dir, keys):
    names = sorted(p.relative_to(bundle_dir).as_posix() for p in bundle_dir.rglob("*") if p.is_file())
    assert names == [
        "assessment.json",
        "evidence.json",
        "findings.csv",
        "inventory.csv",
        "manifest.json",
        "manifest.sig",
        "oscal/assessment-plan.json",
        "oscal/assessment-results.json",
        "oscal/poam.json",
        "report.html",
        "report.md",
    ]
    manifest = json.loads((bundle_dir / "manifest.json").read_bytes())
    assert len(manifest["files"]) == 9 and manifest["redaction"] == "internal"
    ok = run("verify", bundle_dir, "--key", f"{keys[0]}.pub")
    assert ok.exit_code == 0 and ok.output.startswith("OK ")


def test_verify_without_key_warns_that_the_signer_is_not_pinned(bundle_dir):
    result = run("verify", bundle_dir)
    assert result.exit_code == 0 and "pass --key KEYFILE.pub to prove who signed it" in result.output


@pytest.mark.parametrize(
    "tamper, expected",
    [
        (lambda d: (d / "report.md").write_text("all good here"), "report.md: changed"),
        (lambda d: (d / "oscal" / "poam.json").unlink(), "oscal/poam.json: missing"),
        (lambda d: (d / "notes.txt").write_text("hi"), "notes.txt: added"),
        (
            lambda d: (d / "manifest.json").write_bytes(
                (d / "manifest.json").read_bytes().replace(b'"internal"', b'"regional"')
            ),
            "manifest.sig: signature does not match manifest.json",
        ),
        (lambda d: (d / "manifest.sig").unlink(), "manifest.sig: missing"),
    ],
)
def test_verify_detects_tampering(bundle_dir, keys, tamper, expected):
    tamper(bundle_dir)
    result = run("verify", bundle_dir, "--key", f"{keys[0]}.pub")
    assert result.exit_code == 1 and expected in result.output and "Traceback" not in result.output


def test_wrong_key_is_named(bundle_dir, keys):
    result = run("verify", bundle_dir, "--key", f"{keys[1]}.pub")
    assert result.exit_code == 1 and "not with the given key" in result.output


def test_resigned_bundle_is_refused_with_the_facility_key(tmp_path, keys):
    """Someone swaps the assessment and re-signs with their own key: only --key catches it."""
    out = tmp_path / "forged"
    run("bundle", Q1, "--key", keys[1], "-o", out)
    assert run("verify", out).exit_code == 0
    assert run("verify", out, "--key", f"{keys[0]}.pub").exit_code == 1


def test_tar_gz_is_deterministic_and_verifies(tmp_path, keys):
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    run("bundle", Q1, "--key", keys[0], "-o", a)
    run("bundle", Q1, "--key", keys[0], "-o", b)
    assert a.read_bytes() == b.read_bytes()
    assert run("verify", a, "--key", f"{keys[0]}.pub").exit_code == 0


def _rewrite_tar(src, dst, change):
    with tarfile.open(src, "r:gz") as tar_in, tarfile.open(dst, "w:gz") as tar_out:
        for member in tar_in.getmembers():
            data = tar_in.extractfile(member).read()
            data = change(member.name, data)
            if data is None:
                continue
            member.size = len(data)
            tar_out.addfile(member, io.BytesIO(data))


def test_tar_gz_tampering(tmp_path, keys):
    good = tmp_path / "good.tar.gz"
    run("bundle", Q1, "--key", keys[0], "-o", good)
    bad = tmp_path / "bad.tar.gz"
    _rewrite_tar(
        good, bad, lambda n, d: d.replace(b"Riverbend", b"Riverbank") if n.endswith("report.html") else d
    )
    result = run("verify", bad, "--key", f"{keys[0]}.pub")
    assert result.exit_code == 1 and "bundle/report.html: changed" not in result.output
    assert "report.html: changed" in result.output


def test_unsafe_archive_members_are_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../../etc/passwd")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    result = run("verify", evil)
    assert result.exit_code == 2 and "unsafe or unexpected archive member" in result.output


def test_bundle_into_non_empty_directory_is_refused(tmp_path, keys, bundle_dir):
    result = run("bundle", Q1, "--key", keys[0], "-o", bundle_dir)
    assert result.exit_code == 2 and "not empty" in result.output


def test_bad_key_file(tmp_path):
    junk = tmp_path / "junk.key"
    junk.write_text("nope")
    result = run("bundle", Q1, "--key", junk, "-o", tmp_path / "b")
    assert result.exit_code == 2 and f"{junk}: not an unencrypted PEM private key" in result.output
    shutil.rmtree(tmp_path / "b", ignore_errors=True)


def test_a_rerun_replaces_its_own_bundle_and_nothing_else(tmp_path):
    from icsaudit.errors import InputError
    from icsaudit.report.bundle import MANIFEST, write_bundle

    out = tmp_path / "bundle"
    write_bundle({MANIFEST: b"{}", "old.txt": b"1"}, out, 0)
    with pytest.raises(InputError, match="not empty"):  # without replace: refused, as before
        write_bundle({MANIFEST: b"{}"}, out, 0)
    write_bundle({MANIFEST: b"{}", "new.txt": b"2"}, out, 0, replace=True)
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "new.txt"]  # whole swap: no old.txt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no staging left behind
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("not a bundle")
    with pytest.raises(InputError, match="not empty"):  # a directory that is no bundle is never replaced
        write_bundle({MANIFEST: b"{}"}, other, 0, replace=True)
    assert (other / "notes.txt").read_text() == "not a bundle"
