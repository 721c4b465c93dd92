"""Signed bundles: reports + assessment (+ evidence), a manifest of SHA-256 digests, an Ed25519 signature.

Layout (a directory, or the same tree in a .tar.gz):
  manifest.json   {format, version, redaction, key_id, public_key, files: {path: {sha256, size}}}
  manifest.sig    base64 Ed25519 signature over the exact bytes of manifest.json
  ...             every file listed in the manifest; nothing else is allowed
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from icsaudit.engine.model import Assessment
from icsaudit.errors import InputError
from icsaudit.evidence.model import Evidence
from icsaudit.jsonio import dumps_json
from icsaudit.report.io import write_file
from icsaudit.report.keys import key_id, public_from_b64, public_raw
from icsaudit.report.redact import check_level, pseudonym_key, regional_summary, regulator_copy
from icsaudit.report.render import render_files
from icsaudit.report.view import iso

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
BUNDLE_FORMAT = "icsaudit-bundle"
BUNDLE_VERSION = 1
REPORT_FORMATS = ("html", "md", "csv", "oscal")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _regional_files(a: Assessment, key: bytes) -> dict[str, bytes]:
    from icsaudit.report.aggregate import summary_csv, summary_html

    summary = regional_summary(a, key)
    return {
        "summary.json": dumps_json(summary),
        "summary.csv": summary_csv([summary]).encode(),
        "summary.html": summary_html([summary], title="Regional summary").encode(),
    }


def bundle_files(
    a: Assessment,
    evidence: Evidence | None,
    redaction: str,
    key: Ed25519PrivateKey,
    pseudonym_key_file: Path | None = None,
) -> dict[str, bytes]:
    """Relative path -> bytes of every file in the bundle, manifest and signature included."""
    check_level(redaction)
    if redaction == "internal":
        files = render_files(a, ("json", *REPORT_FORMATS))
        if evidence is not None:
            files["evidence.json"] = dumps_json(evidence)
    elif redaction == "regulator":
        shared, shared_evidence = regulator_copy(a, evidence, pseudonym_key(key, pseudonym_key_file))
        files = render_files(shared, ("json", *REPORT_FORMATS), redaction)
        if shared_evidence is not None:
            files["evidence.json"] = dumps_json(shared_evidence)
    else:  # regional: counts only, no assessment, no evidence
        files = _regional_files(a, pseudonym_key(key, pseudonym_key_file))
    public = key.public_key()
    manifest = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "redaction": redaction,
        "assessment_id": a.assessment_id,
        "profile": a.site.profile,
        "created": iso(a.created),
        "key_id": key_id(public),
        "public_key": base64.b64encode(public_raw(public)).decode(),
        "files": {name: {"sha256": _sha256(data), "size": len(data)} for name, data in sorted(files.items())},
    }
    manifest_bytes = dumps_json(manifest)
    files[MANIFEST] = manifest_bytes
    files[SIGNATURE] = base64.b64encode(key.sign(manifest_bytes)) + b"\n"
    return files


def _tar_bytes(files: dict[str, bytes], mtime: float) -> bytes:
    """Deterministic tar.gz: sorted members, fixed owner and mtime, gzip header without a timestamp."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(f"bundle/{name}")
            info.size, info.mtime, info.mode = len(files[name]), int(mtime), 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(files[name]))
    import gzip

    return gzip.compress(raw.getvalue(), mtime=0)


def write_bundle(files: dict[str, bytes], output: Path, mtime: float, *, replace: bool = False) -> Path:
    """Write the bundle as a .tar.gz or a directory. A non-empty directory is refused, except with
    ``replace`` when it holds an earlier bundle (its manifest): that one is swapped out whole (built
    beside it first), so a rerun of an audit into the same output never leaves a mixed bundle."""
    if output.name.endswith((".tar.gz", ".tgz")):
        return write_file(output, _tar_bytes(files, mtime))
    if output.exists() and any(output.iterdir()):
        if not (replace and (output / MANIFEST).is_file()):
            raise InputError(f"{output}: directory is not empty; a bundle must contain only its own files")
        staging, previous = output.with_name(output.name + ".new"), output.with_name(output.name + ".old")
        for leftover in (staging, previous):
            shutil.rmtree(leftover, ignore_errors=True)
        for name, data in sorted(files.items()):
            write_file(staging / name, data)
        output.rename(previous)
        staging.rename(output)
        shutil.rmtree(previous, ignore_errors=True)
        return output
    for name, data in sorted(files.items()):
        write_file(output / name, data)
    return output


@dataclass
class Verification:
    path: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_tar(path: Path) -> dict[str, bytes]:
    """Members as bytes, refusing anything but plain files under one top directory (no links, no ..)."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            files: dict[str, bytes] = {}
            for member in tar.getmembers():
                name = PurePosixPath(member.name)
                if member.isdir():
                    continue
                if not member.isfile() or name.is_absolute() or ".." in name.parts or len(name.parts) < 2:
                    raise InputError(f"{path}: unsafe or unexpected archive member {member.name!r}")
                files[PurePosixPath(*name.parts[1:]).as_posix()] = tar.extractfile(member).read()
            return files
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .tar.gz bundle: {exc}") from None


def read_bundle(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return _read_tree(path)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        return _read_tar(path)
    raise InputError(f"{path}: not a bundle (expected a directory or a .tar.gz)")


def verify_files(files: dict[str, bytes], where: str, public_key: Ed25519PublicKey | None) -> Verification:
    result = Verification(where)
    if MANIFEST not in files:
        result.problems.append(f"{where}: {MANIFEST} is missing (not a bundle, or it was removed)")
        return result
    if SIGNATURE not in files:
        result.problems.append(f"{where}/{SIGNATURE}: missing; the bundle is not signed")
        return result
    try:
        manifest = json.loads(files[MANIFEST])
        assert manifest.get("format") == BUNDLE_FORMAT and isinstance(manifest.get("files"), dict)
    except (ValueError, AssertionError):
        result.problems.append(f"{where}/{MANIFEST}: not an icsaudit bundle manifest")
        return result
    result.manifest = manifest
    try:
        embedded = public_from_b64(manifest.get("public_key", ""))
    except (ValueError, TypeError):
        result.problems.append(f"{where}/{MANIFEST}: public_key is not a valid Ed25519 key")
        return result
    signer = public_key or embedded
    if public_key is not None and public_raw(public_key) != public_raw(embedded):
        result.problems.append(
            f"{where}: signed with key {manifest.get('key_id')}, not with the given key "
            f"{key_id(public_key)} (wrong key, or the bundle was re-signed by someone else)"
        )
    else:
        try:
            signer.verify(base64.b64decode(files[SIGNATURE].strip(), validate=True), files[MANIFEST])
        except (InvalidSignature, ValueError):
            result.problems.append(
                f"{where}/{SIGNATURE}: signature does not match {MANIFEST} "
                f"for key {key_id(signer)} (manifest or signature changed)"
            )
    if public_key is None:
        result.warnings.append(
            f"{where}: signature checked against the key inside the bundle ({manifest.get('key_id')}); "
            "pass --key KEYFILE.pub to prove who signed it"
        )
    listed = manifest["files"]
    for name in sorted(listed):
        if name not in files:
            result.problems.append(f"{where}/{name}: missing (listed in the manifest)")
        elif _sha256(files[name]) != listed[name].get("sha256"):
            result.problems.append(f"{where}/{name}: changed (SHA-256 differs from the manifest)")
    for name in sorted(set(files) - set(listed) - {MANIFEST, SIGNATURE}):
        result.problems.append(f"{where}/{name}: added (not listed in the manifest)")
    return result


def verify_bundle(path: Path, public_key: Ed25519PublicKey | None = None) -> Verification:
    return verify_files(read_bundle(path), str(path), public_key)
