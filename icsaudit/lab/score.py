"""Score an assessment against an exercise: which expected findings were found (recall), how many
findings were expected (precision), which were missed or spurious, and whether any spurious finding
is critical. Used for trainees' answers and for icsaudit's own output in the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import yaml

from icsaudit.engine.model import Assessment, Finding
from icsaudit.errors import InputError
from icsaudit.paths import data_dir


class ExpectedFinding(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    check: str
    asset: str = ""  # an address the finding must name (asset ids, or a value of its row)
    note: str = ""


class Exercise(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    title: str
    scenario: str
    faults: list[str] = []
    description: str = ""
    expected: list[ExpectedFinding] = []
    tolerated: list[str] = []  # check ids the scenario raises by design (not counted as spurious)


def exercise_ids() -> list[str]:
    return sorted(p.stem for p in (data_dir("lab") / "exercises").glob("*.yaml"))


def load_exercise(name: str) -> Exercise:
    path = Path(name) if name.endswith((".yaml", ".yml")) else data_dir("lab") / "exercises" / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"unknown exercise {name!r}", hint=f"choose one of: {', '.join(exercise_ids())}")
    try:
        return msgspec.convert(yaml.safe_load(path.read_text()), Exercise)
    except (yaml.YAMLError, msgspec.ValidationError) as exc:
        raise InputError(f"{path}: {exc}") from None


def load_assessment(path: Path) -> Assessment:
    try:
        return msgspec.json.decode(Path(path).read_bytes(), type=Assessment)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InputError(f"{path}: not an assessment ({exc})") from None


def _names(finding: Finding) -> set[str]:
    """Every address or id a finding mentions: its assets and the string values of its row."""
    names = set(finding.asset_ids)
    names.update(str(v) for v in finding.row.values() if isinstance(v, str | int))
    return names


def _matches(expected: ExpectedFinding, finding: Finding) -> bool:
    return finding.check_id == expected.check and (not expected.asset or expected.asset in _names(finding))


def score(exercise: Exercise, assessment: Assessment) -> dict[str, Any]:
    findings = list(assessment.findings)
    found = [e for e in exercise.expected if any(_matches(e, f) for f in findings)]
    missed = [e for e in exercise.expected if e not in found]
    true_positives = [f for f in findings if any(_matches(e, f) for e in exercise.expected)]
    spurious = [f for f in findings if f not in true_positives and f.check_id not in exercise.tolerated]
    counted = len(true_positives) + len(spurious)
    recall = len(found) / len(exercise.expected) if exercise.expected else 1.0
    precision = len(true_positives) / counted if counted else 1.0
    spurious_critical = [f for f in spurious if f.severity == "critical"]
    return {
        "exercise": exercise.id,
        "scenario": exercise.scenario,
        "faults": exercise.faults,
        "expected": len(exercise.expected),
        "found": len(found),
        "findings": len(findings),
        "true_positives": len(true_positives),
        "tolerated": len(
            [f for f in findings if f not in true_positives and f.check_id in exercise.tolerated]
        ),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "missed": [msgspec.structs.asdict(e) for e in missed],
        "spurious": [
            {"check": f.check_id, "severity": f.severity, "assets": f.asset_ids, "message": f.message}
            for f in spurious
        ],
        "spurious_critical": len(spurious_critical),
        "no_spurious_critical": not spurious_critical,
    }
