"""`make demo`: the main job on the embedded default.

Starts the lab's default scenario (water treatment with chlorine dosing) with the faults of the
`demo` exercise, captures its traffic on the loopback interface, runs the whole audit (analyze,
probe through the guard, assess, report, signed bundle, verify), scores the result against the
exercise, stops the lab and prints where everything is. All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import yaml

from icsaudit.errors import IcsauditError

DEMO_EXERCISE = "demo"
DEFAULT_SECONDS = 20.0


def write_site_yaml(scenario_id: str, path: Path) -> Path:
    """The scenario's site model as the site.yaml a facility would write."""
    from icsaudit.lab.scenarios import load_scenario

    site = msgspec.to_builtins(load_scenario(scenario_id).site)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Site model of lab scenario {scenario_id} (written by icsaudit demo)\n"
    path.write_text(header + yaml.safe_dump(site, sort_keys=False))
    return path


def run_demo(output: Path, seconds: float = DEFAULT_SECONDS, probe: bool = True, say=print) -> dict[str, Any]:
    """Run the demo end to end; returns paths, the audit result and the exercise score."""
    from icsaudit.audit import AuditOptions, run_audit
    from icsaudit.lab import control
    from icsaudit.lab.capture import capture
    from icsaudit.lab.score import load_exercise, score

    exercise = load_exercise(DEMO_EXERCISE)
    output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say(f"lab: starting scenario {exercise.scenario} with faults {', '.join(exercise.faults)}")
    with control.running(exercise.scenario, list(exercise.faults)) as state:
        say(f"lab: {len(state['devices'])} devices up; capturing {seconds:g} s of traffic on lo")
        pcap = output / "capture.pcap"
        capture(state, seconds, pcap)
        site = write_site_yaml(exercise.scenario, output / "site.yaml")
        say("audit: analyze → probe → assess → report → bundle → verify")
        result = run_audit(
            AuditOptions(site=site, captures=[pcap], output=output, probe=probe),
            step=lambda s: say(f"  · {s}"),
        )
        journal = control.journal()
    say("lab: stopped")
    card = score(exercise, result.result)
    return {
        "pcap": pcap,
        "site": site,
        "audit": result,
        "score": card,
        "journal_requests": len(journal),
        "seconds": time.monotonic() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m icsaudit.demo", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("out"))
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("ICSAUDIT_DEMO_SECONDS", DEFAULT_SECONDS))
    )
    parser.add_argument("--no-probe", action="store_true", help="passive only")
    args = parser.parse_args(argv)
    try:
        outcome = run_demo(args.output, args.seconds, probe=not args.no_probe)
    except IcsauditError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    result = outcome["audit"]
    card = outcome["score"]
    print()
    for stage, summary in result.stages:
        print(f"{stage:>10}: {summary}")
    print(
        f"     score: exercise {DEMO_EXERCISE}: recall {card['recall']:.2f}, precision {card['precision']:.2f}, "
        f"missed {len(card['missed'])}, spurious critical {card['spurious_critical']}"
    )
    print()
    print(f"  capture    {outcome['pcap']}")
    print(f"  site model {outcome['site']}")
    print(f"  evidence   {result.evidence}")
    print(f"  assessment {result.assessment}")
    for report in result.reports:
        print(f"  report     {report}")
    print(
        f"  bundle     {result.bundle} ({'verified' if result.verified else 'NOT VERIFIED'}; "
        f"public key {result.public_key})"
    )
    print(f"  done in {outcome['seconds']:.0f} s; lab stopped")
    return 0 if result.verified else 1


if __name__ == "__main__":
    sys.exit(main())
