"""The checks run without SQL errors on evidence from real corpus captures."""

from __future__ import annotations

import pytest

from icsaudit.engine.assess import assess
from icsaudit.engine.site import site_from_profile

pytestmark = pytest.mark.corpus


@pytest.mark.parametrize("protocol", ["modbus", "s7comm", "bacnet", "dnp3"])
def test_checks_run_on_corpus_evidence(corpus_dir, protocol: str) -> None:
    from icsaudit.passive.pipeline import Analyzer

    pcaps = sorted((corpus_dir / "pcaps" / protocol).glob("*.pcap*"))[:3]
    if not pcaps:
        pytest.skip(f"no {protocol} pcaps")
    analyzer = Analyzer()
    analyzer.analyze_files(pcaps)
    evidence = analyzer.finish()
    result = assess(evidence, site_from_profile("chemical-toxic"))
    errors = [r.reason for r in result.results if r.status == "error"]
    assert not errors
    assert result.assets and {r.status for r in result.results} >= {"not-assessed"}
