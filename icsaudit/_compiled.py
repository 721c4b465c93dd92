"""Cython-compiled copies of the passive analysis hot path, used only while they match this source.

Why: the per-packet work (record reading, TCP, PDU accounting, the busiest dissectors) is plain Python.
Compiled by Cython as they are (pure-Python mode: the very same files, no annotations, no second
implementation) they run about 1.2x faster, measured by ``make bench``.

``make install`` runs ``python -m icsaudit._compiled build``: it compiles HOT_MODULES into
``<venv>/icsaudit-compiled`` (one build per interpreter) with the SHA-256 of each source. A package that
calls :func:`prefer_compiled` from its ``__init__`` puts its compiled directory first on its
``__path__`` only when every compiled module of that package matches its source byte for byte: an
edited source means pure Python, never a stale build. ``ICSAUDIT_PURE_PYTHON=1`` turns it off; without
Cython or a C compiler the build is skipped with a note and everything runs as plain Python.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

COMPILED_DIR = Path(sys.prefix) / "icsaudit-compiled"
MANIFEST = "manifest.json"
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # the directory holding the icsaudit package
# Measured hot (py-spy, make bench); each is compiled from its own unchanged source.
HOT_MODULES = (
    "icsaudit/passive/reader.py",
    "icsaudit/passive/pipeline.py",
    "icsaudit/passive/session.py",
    "icsaudit/passive/protocols/base.py",
    "icsaudit/passive/protocols/modbus.py",
    "icsaudit/passive/protocols/s7comm.py",
    "icsaudit/passive/protocols/dnp3.py",
    "icsaudit/passive/protocols/enip_cip.py",
    "icsaudit/passive/protocols/iec104.py",
    "icsaudit/passive/protocols/opcua.py",
    "icsaudit/passive/protocols/bacnet.py",
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@cache
def _manifest(compiled_dir: Path) -> dict[str, str]:
    """Source path (relative, as in HOT_MODULES) -> SHA-256 the build was made from; {} when none."""
    try:
        data = json.loads((compiled_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    if data.get("cache_tag") != sys.implementation.cache_tag:
        return {}
    sources = data.get("sources")
    return sources if isinstance(sources, dict) else {}


def prefer_compiled(path: list[str], package: str, compiled_dir: Path | None = None) -> bool:
    """Put ``package``'s compiled modules first on its ``path`` when all of them match their sources."""
    if os.environ.get("ICSAUDIT_PURE_PYTHON"):
        return False
    compiled_dir = COMPILED_DIR if compiled_dir is None else compiled_dir
    manifest = _manifest(compiled_dir)
    prefix = package.replace(".", "/") + "/"
    mine = {
        rel: digest
        for rel, digest in manifest.items()
        if rel.startswith(prefix) and "/" not in rel[len(prefix) :]
    }
    if not mine:
        return False
    own_dir = Path(path[0])
    for rel, digest in mine.items():
        source = own_dir / rel[len(prefix) :]
        if not source.is_file() or _digest(source) != digest:
            return False  # edited since the build: pure Python
    path.insert(0, str(compiled_dir / prefix.rstrip("/")))
    PACKAGES_USING_BUILD[package] = len(mine)
    return True


# package -> how many of its modules come from the build (filled by prefer_compiled)
PACKAGES_USING_BUILD: dict[str, int] = {}


def active() -> list[str]:
    """The compiled modules imported so far in this process (the tests check the build is used)."""
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith("icsaudit.") and str(getattr(module, "__file__", "")).startswith(str(COMPILED_DIR))
    )


def build(compiled_dir: Path = COMPILED_DIR, jobs: int = 2) -> str:
    """Compile HOT_MODULES into ``compiled_dir``; returns a one-line summary (or why it was skipped)."""
    try:
        import Cython  # noqa: F401
    except ImportError:
        return "skipped: Cython is not installed (pure Python is used)"
    sources = [SOURCE_ROOT / rel for rel in HOT_MODULES]
    _manifest.cache_clear()
    current = {rel: _digest(src) for rel, src in zip(HOT_MODULES, sources, strict=True)}
    if _manifest(compiled_dir) == current:
        return f"the Cython build in {compiled_dir} is up to date"
    with tempfile.TemporaryDirectory(prefix="icsaudit-cython-") as tmp:
        work = Path(tmp)
        for rel in HOT_MODULES:  # the same files, in their package layout, so module names are right
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SOURCE_ROOT / rel, target)
            for parent in Path(rel).parents:
                if str(parent) != ".":
                    (work / parent / "__init__.py").touch()
        command = [
            sys.executable,
            "-m",
            "Cython.Build.Cythonize",
            "-3",
            "-i",
            "-q",
            f"-j{jobs}",
            *HOT_MODULES,
        ]
        proc = subprocess.run(command, cwd=work, capture_output=True, text=True)
        built = {rel: next((work / rel).parent.glob(Path(rel).stem + ".*.so"), None) for rel in HOT_MODULES}
        if proc.returncode != 0 or not all(built.values()):
            detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no compiler output"]
            return f"skipped: the Cython build failed ({detail[0]}); pure Python is used"
        staging = compiled_dir.with_name(compiled_dir.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        for rel, library in built.items():
            target = staging / Path(rel).parent / library.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(library, target)
        manifest = {
            "cache_tag": sys.implementation.cache_tag,
            "sources": current,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        shutil.rmtree(compiled_dir, ignore_errors=True)
        staging.rename(compiled_dir)
    _manifest.cache_clear()
    return f"compiled {len(HOT_MODULES)} hot modules with Cython into {compiled_dir}"


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m icsaudit._compiled build")
    print(f"icsaudit: {build()}")
