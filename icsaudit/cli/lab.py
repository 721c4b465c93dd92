"""`icsaudit lab`: run the simulated PLC lab (scenarios, faults, journal, capture, exercise scoring)."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _faults(value: str) -> list[str]:
    return [f.strip() for f in value.split(",") if f.strip()]


@click.group()
def lab() -> None:
    """Simulated PLC lab: devices on 127.x loopback addresses, normal traffic and injectable faults.

    \b
    Example:
      icsaudit lab up water-chlorine --faults rogue-modbus-write
      icsaudit lab status
      icsaudit lab down
    """


@lab.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def list_cmd(fmt: str) -> None:
    """List scenarios (with their faults) and exercises.

    \b
    Example:
      icsaudit lab list --format json
    """
    from icsaudit.lab.scenarios import load_scenario, scenario_ids
    from icsaudit.lab.score import exercise_ids, load_exercise

    scenarios = []
    for sid in scenario_ids():
        s = load_scenario(sid)
        scenarios.append(
            {
                "id": s.id,
                "title": s.title,
                "profile": s.site.profile,
                "devices": len(s.devices),
                "faults": {k: v.description for k, v in s.faults.items()},
            }
        )
    exercises = [
        {"id": e.id, "title": e.title, "scenario": e.scenario, "faults": e.faults}
        for e in map(load_exercise, exercise_ids())
    ]
    if fmt == "json":
        click.echo(json.dumps({"scenarios": scenarios, "exercises": exercises}, indent=2))
        return
    for s in scenarios:
        click.echo(f"{s['id']:18} {s['title']} (profile {s['profile']}, {s['devices']} devices)")
        for name, text in s["faults"].items():
            click.echo(f"    fault {name:26} {text}")
    click.echo("exercises:")
    for e in exercises:
        click.echo(f"  {e['id']:24} {e['scenario']:16} {','.join(e['faults']) or '-'}")


@lab.command()
@click.argument("scenario")
@click.option("--faults", default="", help="Comma-separated faults to inject.")
@click.option("--no-traffic", is_flag=True, help="Start the devices only, without the normal traffic.")
def up(scenario: str, faults: str, no_traffic: bool) -> None:
    """Start SCENARIO's devices and traffic on loopback addresses.

    \b
    Example:
      icsaudit lab up water-chlorine --faults telnet-ftp-on-plc,rogue-s7-stop
    """
    from icsaudit.lab import control

    state = control.up(scenario, _faults(faults), traffic=not no_traffic)
    click.echo(
        f"lab {state['scenario']} up: {len(state['devices'])} devices, "
        f"{len(state.get('traffic_flows', []))} traffic flows, faults: {','.join(state['faults']) or 'none'}"
    )
    for d in state["devices"]:
        click.echo(f"  {d['name']:22} {d['address']:>13}:{d['port']:<5} {d['protocol']}")


@lab.command()
@click.argument("scenario")
@click.option("--faults", default="", help="Comma-separated faults to inject.")
@click.option("--no-traffic", is_flag=True, help="Start the devices only, without the normal traffic.")
def run(scenario: str, faults: str, no_traffic: bool) -> None:
    """Run SCENARIO in the foreground until SIGTERM/Ctrl-C, then stop it (for containers).

    \b
    Example:
      icsaudit lab run water-chlorine --faults rogue-modbus-write
    """
    import signal
    import threading

    from icsaudit.lab import control

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    state = control.up(scenario, _faults(faults), traffic=not no_traffic)
    click.echo(f"lab {state['scenario']} running: {len(state['devices'])} devices", err=True)
    try:
        stop.wait()
    finally:
        control.down()


@lab.command()
@click.argument("scenario")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def site(scenario: str, output: Path) -> None:
    """Write SCENARIO's site model (its `site:` mapping) as a site.yaml for `icsaudit assess --site`.

    \b
    Example:
      icsaudit lab site water-chlorine -o site.yaml
    """
    import yaml

    from icsaudit.jsonio import write_bytes_atomic
    from icsaudit.lab.scenarios import lab_dir, load_scenario

    load_scenario(scenario)  # validated (loopback only) before anything is written
    path = (
        Path(scenario)
        if scenario.endswith((".yaml", ".yml"))
        else lab_dir() / "scenarios" / f"{scenario}.yaml"
    )
    # The mapping as authored, not re-serialised from the model: no defaults appear as declarations.
    raw = yaml.safe_load(path.read_text())["site"]
    write_bytes_atomic(output, yaml.safe_dump(raw, sort_keys=False, allow_unicode=True).encode())
    click.echo(f"wrote {output} (site {raw.get('name', '')}, profile {raw.get('profile', '')})")


@lab.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(fmt: str) -> None:
    """Show the running scenario: each device's name, address, port, protocol and identity.

    \b
    Example:
      icsaudit lab status --format json
    """
    from icsaudit.lab import control

    state = control.status()
    if fmt == "json":
        click.echo(json.dumps(state or {"running": False}, indent=2))
        return
    if state is None:
        click.echo("no lab running")
        return
    click.echo(
        f"{state['scenario']}: {state['title']} (faults: {','.join(state['faults']) or 'none'}, "
        f"traffic {'running' if state['traffic_running'] else 'off'})"
    )
    for d in state["devices"]:
        ident = ", ".join(f"{k}={v}" for k, v in d["identity"].items())
        click.echo(
            f"  {d['name']:22} {d['address']:>13}:{d['port']:<5} {d['protocol']:7} "
            f"{'up' if d['running'] else 'DOWN':4} {ident}"
        )


@lab.command()
def down() -> None:
    """Stop the running scenario and free its ports (the journal stays readable).

    \b
    Example:
      icsaudit lab down
    """
    from icsaudit.lab import control

    state = control.down()
    click.echo("no lab running" if state is None else f"lab {state['scenario']} stopped")


@lab.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--device", default=None, help="Only this device's requests.")
def journal(fmt: str, device: str | None) -> None:
    """Show every request the lab devices received, with its operation category.

    \b
    Example:
      icsaudit lab journal --device plc-dosing --format json
    """
    from icsaudit.lab import control

    records = control.journal(device=device)
    if fmt == "json":
        click.echo(json.dumps(records, indent=2))
        return
    for r in records:
        click.echo(
            f"{r['ts']:.3f} {r['peer']:>13} -> {r['device']:20} {r['protocol']:7} "
            f"{r['function']:28} {r['category']:10} {r['result']}"
        )


@lab.command()
@click.option("--seconds", type=float, required=True, help="How long to record.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def capture(seconds: float, output: Path) -> None:
    """Record the running scenario's traffic on the loopback interface to a pcap.

    \b
    Example:
      icsaudit lab capture --seconds 10 -o lab.pcap
    """
    from icsaudit.errors import InputError
    from icsaudit.lab import control
    from icsaudit.lab.capture import capture as run_capture

    state = control.status()
    if state is None:
        raise InputError("no lab running", hint="start one with `icsaudit lab up SCENARIO`")
    result = run_capture(state, seconds, output)
    click.echo(
        f"wrote {result['file']} ({result['bytes']} bytes, {result['tool']}, filter: {result['filter']})"
    )


@lab.command()
@click.argument("exercise")
@click.argument("assessment", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def score(exercise: str, assessment: Path, fmt: str) -> None:
    """Score ASSESSMENT (an assessment.json) against EXERCISE's expected findings.

    \b
    Example:
      icsaudit lab score demo assessment.json
    """
    from icsaudit.lab.score import load_assessment, load_exercise
    from icsaudit.lab.score import score as run_score

    result = run_score(load_exercise(exercise), load_assessment(assessment))
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"exercise {result['exercise']}: found {result['found']}/{result['expected']} "
        f"(recall {result['recall']:.2f}), precision {result['precision']:.2f}, "
        f"{len(result['spurious'])} spurious, "
        f"{'no spurious critical findings' if result['no_spurious_critical'] else 'SPURIOUS CRITICAL FINDINGS'}"
    )
    for m in result["missed"]:
        click.echo(f"  missed   {m['check']} {m['asset']}")
    for s in result["spurious"]:
        click.echo(f"  spurious {s['check']} ({s['severity']}) {s['message']}")


COMMANDS = [lab]
