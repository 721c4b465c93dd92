"""Conformance with ../shared/corpus: `--stats-json` of icsaudit against tshark-derived truth.

For every capture and every protocol icsaudit dissects (``stats_protocols`` of the registry), PDU
counts, function histograms, frames, conversations and identities must equal the truth, except where
tests/conformance/expectations/<protocol>.yaml records, per file, what icsaudit legitimately yields
instead and why (``reason`` is mandatory):

    pcaps/modbus/iti__fuzz-1011.pcap:
      reason: "tshark counts ... ; icsaudit ... because ..."
      expect: {pdus: 120, functions: {fc3: 60}}   # replaces the truth value of these fields
      ignore: [identities]                         # fields not compared for this file
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import yaml

from icsaudit.passive.pipeline import analyze, stats_document
from icsaudit.passive.protocols import default_registry
from tests.conftest import CORPUS, corpus_available

FIELDS = ("pdus", "functions", "frames", "conversations", "identities")
EXPECTATIONS = Path(__file__).parent / "expectations"


def _truth_files() -> list[Path]:
    if not corpus_available():
        return []
    return sorted((CORPUS / "truth").glob("*/*.json"))


@cache
def _stats(relative_pcap: str) -> dict:
    return stats_document(analyze([CORPUS / relative_pcap]))


@cache
def _expectations(protocol: str) -> dict:
    path = EXPECTATIONS / f"{protocol}.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    for file, entry in data.items():
        assert entry.get("reason"), f"{path}: {file} has no reason"
    return data


def _cases() -> list:
    supported = set(default_registry().stats_protocols)
    cases = []
    for truth_path in _truth_files():
        truth = json.loads(truth_path.read_text())
        for protocol in sorted(supported):
            if protocol in truth["protocols"]:
                cases.append(pytest.param(truth_path, protocol, id=f"{protocol}:{truth_path.stem}"))
    return cases


def _normalize(field: str, value):
    if field == "conversations":
        return sorted(tuple(c) for c in value)
    if field == "identities":
        return sorted(json.dumps(i, sort_keys=True) for i in value)
    return value


@pytest.mark.corpus
@pytest.mark.parametrize(("truth_path", "protocol"), _cases())
def test_protocol_matches_truth(truth_path: Path, protocol: str) -> None:
    truth = json.loads(truth_path.read_text())
    ours = _stats(truth["file"])["protocols"].get(
        protocol, {"frames": 0, "pdus": 0, "functions": {}, "conversations": [], "identities": []}
    )
    expected = dict(truth["protocols"][protocol])
    rule = _expectations(protocol).get(truth["file"], {})
    expected.update(rule.get("expect", {}))
    problems = []
    for field in FIELDS:
        if field in rule.get("ignore", ()):
            continue
        if _normalize(field, ours.get(field)) != _normalize(field, expected.get(field)):
            problems.append(f"{field}: icsaudit {ours.get(field)!r} != expected {expected.get(field)!r}")
    assert not problems, f"{truth['file']} [{protocol}]\n" + "\n".join(problems)


@pytest.mark.corpus
@pytest.mark.parametrize("truth_path", _truth_files(), ids=lambda p: p.stem)
def test_no_crash_and_capture_facts(truth_path: Path) -> None:
    """Every corpus file analyzes without a crash and frame count / link types / time span match."""
    truth = json.loads(truth_path.read_text())
    stats = _stats(truth["file"])
    assert stats["frames"] == truth["frames"]
    assert stats["link_types"] == truth["link_types"]
    assert stats["first_ts"] == pytest.approx(truth["first_ts"], abs=2e-6)
    assert stats["last_ts"] == pytest.approx(truth["last_ts"], abs=2e-6)
