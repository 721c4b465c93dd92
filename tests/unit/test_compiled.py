"""The Cython build of the hot modules is used only while it matches its source, and gives the same
evidence as pure Python (proved on a generated all-protocol capture when the build is present)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from icsaudit import _compiled
from icsaudit._compiled import MANIFEST, prefer_compiled


def _fake_build(tmp_path: Path, source_text: str, built_from: str) -> tuple[Path, list[str]]:
    """A package dir holding mod.py (source_text) and a compiled dir whose manifest says built_from."""
    package_dir = tmp_path / "src" / "pkg"
    package_dir.mkdir(parents=True)
    (package_dir / "mod.py").write_text(source_text)
    compiled = tmp_path / "compiled"
    (compiled / "pkg").mkdir(parents=True)
    manifest = {
        "cache_tag": sys.implementation.cache_tag,
        "sources": {"pkg/mod.py": hashlib.sha256(built_from.encode()).hexdigest()},
    }
    (compiled / MANIFEST).write_text(json.dumps(manifest))
    _compiled._manifest.cache_clear()
    return compiled, [str(package_dir)]


def test_a_matching_build_goes_first_on_the_package_path(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ICSAUDIT_PURE_PYTHON", raising=False)
    compiled, path = _fake_build(tmp_path, "x = 1\n", "x = 1\n")
    assert prefer_compiled(path, "pkg", compiled)
    assert path[0] == str(compiled / "pkg")


def test_an_edited_source_means_pure_python_never_a_stale_build(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ICSAUDIT_PURE_PYTHON", raising=False)
    compiled, path = _fake_build(tmp_path, "x = 2\n", "x = 1\n")
    assert not prefer_compiled(path, "pkg", compiled)
    assert path == [str(tmp_path / "src" / "pkg")]


def test_pure_python_on_request_or_without_a_build(tmp_path, monkeypatch) -> None:
    compiled, path = _fake_build(tmp_path, "x = 1\n", "x = 1\n")
    monkeypatch.setenv("ICSAUDIT_PURE_PYTHON", "1")
    assert not prefer_compiled(list(path), "pkg", compiled)
    monkeypatch.delenv("ICSAUDIT_PURE_PYTHON")
    _compiled._manifest.cache_clear()
    assert not prefer_compiled(list(path), "pkg", tmp_path / "no-build-here")
    (compiled / MANIFEST).write_text(json.dumps({"cache_tag": "another-python", "sources": {}}))
    _compiled._manifest.cache_clear()
    assert not prefer_compiled(list(path), "pkg", compiled)  # built for another interpreter


def test_every_hot_module_exists() -> None:
    assert all((_compiled.SOURCE_ROOT / rel).is_file() for rel in _compiled.HOT_MODULES)


def _analyze(capture: Path, out: Path, pure: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ICSAUDIT_PURE_PYTHON"}
    if pure:
        env["ICSAUDIT_PURE_PYTHON"] = "1"
    script = (
        "import sys, icsaudit.passive.pipeline as p, icsaudit._compiled as c\n"
        "from icsaudit.passive.pipeline import Analyzer\n"
        "from icsaudit.jsonio import dumps_json\n"
        "a = Analyzer(); a.analyze_file(sys.argv[1]); ev = a.finish()\n"
        "open(sys.argv[2], 'wb').write(dumps_json(ev))\n"
        "print(p.__file__.endswith('.so'), len(c.active()))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(capture), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    compiled, modules = proc.stdout.split()
    return {"compiled": compiled == "True", "modules": int(modules), "bytes": out.read_bytes()}


def test_the_build_gives_the_same_evidence_as_pure_python(tmp_path) -> None:
    if not _compiled._manifest(_compiled.COMPILED_DIR):
        pytest.skip("no Cython build in this environment (make install builds it)")
    from tests.bench import gen_pcap

    capture = tmp_path / "mix.pcap"
    gen_pcap.generate(capture, 20_000, 7)  # every hot dissector's traffic, writes and events included
    compiled = _analyze(capture, tmp_path / "compiled.json", pure=False)
    pure = _analyze(capture, tmp_path / "pure.json", pure=True)
    assert compiled["compiled"] and compiled["modules"] >= 5, "the build is present but was not used"
    assert not pure["compiled"] and pure["modules"] == 0
    assert compiled["bytes"] == pure["bytes"]
