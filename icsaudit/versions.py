"""Versions reported by `icsaudit --version`: the tool, its contracts and its check set."""

from __future__ import annotations

import hashlib

from icsaudit.paths import data_dir


def check_set_version() -> str:
    """A digest of the shipped check files: two installs with the same value judge alike."""
    root = data_dir("checks")
    digest = hashlib.sha256()
    checks = 0
    for path in sorted(root.rglob("*.yaml")):  # checks, fixtures and framework catalogs alike
        relative = path.relative_to(root).as_posix()
        digest.update(relative.encode())
        digest.update(path.read_bytes())
        checks += "fixtures" not in path.parts and "frameworks" not in path.parts
    return f"{checks} checks, sha256:{digest.hexdigest()[:12]}"


def component_versions() -> dict[str, str]:
    from icsaudit.evidence.model import SCHEMA_VERSION

    versions = {"evidence schema": SCHEMA_VERSION}
    try:
        from icsaudit.engine.model import ASSESSMENT_SCHEMA_VERSION

        versions["assessment schema"] = ASSESSMENT_SCHEMA_VERSION
    except ImportError:
        pass
    versions["check set"] = check_set_version()
    import icsaudit.passive.protocols  # noqa: F401  (each package decides on import: compiled or not)
    from icsaudit._compiled import HOT_MODULES, PACKAGES_USING_BUILD

    compiled = sum(PACKAGES_USING_BUILD.values())
    versions["passive core"] = (
        f"Cython build ({compiled} of {len(HOT_MODULES)} hot modules)" if compiled else "pure Python"
    )
    return versions
