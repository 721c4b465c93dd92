"""`make demo` end to end on the lab, with a shorter capture: the injected faults come back as findings.

Runs the same code path as `make demo` (icsaudit.demo.run_demo): the water-chlorine scenario with the
demo exercise's faults, a real capture on lo, analyze → probe through the guard → assess → report →
signed bundle → verify, and scores the assessment with `lab score`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from icsaudit.demo import run_demo

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("tcpdump") or shutil.which("dumpcap")), reason="no capture tool"),
]


def test_demo_path_finds_every_injected_fault(lab_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    outcome = run_demo(out, seconds=8.0, say=lambda _line: None)
    card = outcome["score"]
    assert card["recall"] == 1.0, card["missed"]
    assert card["no_spurious_critical"], card["spurious"]
    audit = outcome["audit"]
    assert audit.verified
    html = out / "report" / "report.html"
    assert html.is_file() and "<svg" in html.read_text()
    assessment = json.loads((out / "assessment.json").read_text())
    found = {f["check_id"] for f in assessment["findings"]}
    assert {"IC-01", "CT-01", "CT-03", "ZC-02"} <= found
    # The lab was stopped: nothing of the scenario is left running.
    from icsaudit.lab import control

    assert control.read_state(lab_root) is None
    # The probe stage went through the guard and left a transcript or said why nothing was probed.
    stages = dict(audit.stages)
    assert "probe" in stages
