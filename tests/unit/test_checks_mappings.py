"""Every id a check maps exists in our shipped framework catalogs and in the ../shared reference catalogs."""

from __future__ import annotations

import json

from icsaudit.engine.checks import load_checks
from icsaudit.engine.frameworks import FRAMEWORK_FILES, load_catalog


def _mapped(framework: str) -> set[str]:
    return {i for c in load_checks() for i in c.maps.get(framework, [])}


def test_mapped_ids_exist_in_shipped_catalogs() -> None:
    for framework in FRAMEWORK_FILES:
        ids = {r["id"] for r in load_catalog(framework)["requirements"]}
        missing = _mapped(framework) - ids
        assert not missing, f"{framework}: {sorted(missing)}"


def test_mapped_ids_exist_in_reference_catalogs(reference_dir) -> None:
    nist = {c["id"]: c for c in json.loads((reference_dir / "nist-800-53r5-controls.json").read_text())}
    for control in _mapped("nist-800-53r5"):
        oscal_id = control.replace("(", ".").replace(")", "")
        assert oscal_id in nist and not nist[oscal_id].get("withdrawn"), control
    attack = json.loads((reference_dir / "attack-ics.json").read_text())
    techniques = {t["id"]: t["name"] for t in attack["techniques"]}
    assert _mapped("attack-ics") <= set(techniques)
    shipped = {r["id"]: r["title"] for r in load_catalog("attack-ics")["requirements"]}
    assert all(shipped[t] == techniques[t] for t in shipped)
    assert "MITRE" in load_catalog("attack-ics")["copyright"]
    for req in load_catalog("nist-800-53r5")["requirements"]:
        assert req["title"] == nist[req["id"].replace("(", ".").replace(")", "")]["title"]
