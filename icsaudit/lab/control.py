"""Start and stop a scenario: one child process per device (pymodbus keeps one identity per process,
snap7 and c104 run their own threads) and one for the scenario's traffic. A state file in the runtime
dir records pids and ports; ``down`` stops exactly those processes and waits until they are gone."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from icsaudit.errors import IcsauditError, InputError
from icsaudit.lab.devices.ready import _listening
from icsaudit.lab.journal import read_journal
from icsaudit.lab.model import STANDARD_PORTS, DeviceSpec
from icsaudit.lab.scenarios import device_ports, load_scenario
from icsaudit.lab.scenarios import select as select_parts

START_TIMEOUT = 60.0  # seconds for all devices to report READY (asyncua imports are slow on 2 cores)
STOP_TIMEOUT = 10.0


def runtime_dir() -> Path:
    """$ICSAUDIT_LAB_DIR, else $XDG_RUNTIME_DIR/icsaudit-lab, else /tmp/icsaudit-lab-<uid>."""
    if os.environ.get("ICSAUDIT_LAB_DIR"):
        return Path(os.environ["ICSAUDIT_LAB_DIR"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "icsaudit-lab"
    return Path(f"/tmp/icsaudit-lab-{os.getuid()}")


def _state_path(root: Path) -> Path:
    return root / "state.json"


def read_state(root: Path | None = None) -> dict[str, Any] | None:
    path = _state_path(root or runtime_dir())
    return json.loads(path.read_text()) if path.is_file() else None


def _alive(pid: int) -> bool:
    """True when pid is a running lab child (its command line names our runner)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except OSError:
        return False
    return b"icsaudit.lab.runner" in cmdline


def _spawn(args: list[str], log: Path, root: Path) -> subprocess.Popen:
    # the children find the runtime dir (OPC UA key pairs) as runtime_dir() does, even when `up` got root
    env = {**os.environ, "ICSAUDIT_LAB_DIR": str(root)}
    with open(log, "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "icsaudit.lab.runner", *args],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )


def _wait_ready(procs: dict[str, subprocess.Popen], deadline: float) -> list[str]:
    """Names of processes that did not print READY before the deadline (or died)."""
    pending = dict(procs)
    buffers = {name: b"" for name in procs}
    while pending and time.monotonic() < deadline:
        fds = {proc.stdout.fileno(): name for name, proc in pending.items() if proc.stdout}
        readable, _, _ = select.select(list(fds), [], [], max(0.0, min(1.0, deadline - time.monotonic())))
        for fd in readable:
            name = fds[fd]
            chunk = os.read(fd, 256)
            buffers[name] += chunk
            if b"READY" in buffers[name] or not chunk:
                proc = pending.pop(name)
                if not chunk:
                    proc.wait(timeout=STOP_TIMEOUT)
                    buffers[name] = b"dead"
    return [n for n in procs if b"READY" not in buffers[n]]


def up(
    scenario_id: str,
    faults: list[str] | None = None,
    traffic: bool = True,
    root: Path | None = None,
    privileged: bool | None = None,
) -> dict[str, Any]:
    """Start a scenario; returns the state (also written to <runtime dir>/state.json)."""
    root = root or runtime_dir()
    existing = read_state(root)
    if existing and any(_alive(p["pid"]) for p in existing["processes"]):
        raise IcsauditError(
            f"lab {existing['scenario']} is already running (state in {root})",
            hint="run `icsaudit lab down` first",
        )
    scenario = load_scenario(scenario_id)
    devices, flows = select_parts(scenario, list(faults or []), traffic)
    ports = device_ports(devices, privileged)
    for device in devices:
        transport = STANDARD_PORTS[device.protocol][1].split("+")[0]
        if _listening(device.address, ports[device.name], transport):
            raise IcsauditError(
                f"{device.address}:{ports[device.name]}/{transport} is already in use (device {device.name})",
                hint="stop whatever holds it, or `icsaudit lab down`",
            )
    root.mkdir(parents=True, exist_ok=True)
    journal_dir = root / "journal"
    logs = root / "logs"
    for folder in (journal_dir, logs):
        folder.mkdir(exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
    procs: dict[str, subprocess.Popen] = {}
    state: dict[str, Any] = {
        "scenario": scenario.id,
        "title": scenario.title,
        "faults": list(faults or []),
        "traffic": traffic,
        "started": time.time(),
        "root": str(root),
        "processes": [],
        "devices": [],
    }
    try:
        for device in devices:
            procs[device.name] = _spawn(
                [
                    "device",
                    msgspec.json.encode(device).decode(),
                    str(ports[device.name]),
                    str(journal_dir / f"{device.name}.jsonl"),
                ],
                logs / f"{device.name}.log",
                root,
            )
            state["devices"].append(_describe(device, ports[device.name]))
        failed = _wait_ready(procs, time.monotonic() + START_TIMEOUT)
        if failed:
            detail = "; ".join(f"{n}: {_tail(logs / f'{n}.log')}" for n in failed)
            raise IcsauditError(f"lab devices did not start: {detail}", hint=f"logs in {logs}")
        if flows:
            targets = {d.name: [d.address, ports[d.name], d.protocol] for d in devices}
            procs["traffic"] = _spawn(
                ["traffic", msgspec.json.encode(flows).decode(), json.dumps(targets)],
                logs / "traffic.log",
                root,
            )
            if _wait_ready({"traffic": procs["traffic"]}, time.monotonic() + START_TIMEOUT):
                raise IcsauditError(f"lab traffic did not start: {_tail(logs / 'traffic.log')}")
    except BaseException:
        _stop([p.pid for p in procs.values()])
        raise
    state["processes"] = [{"name": name, "pid": proc.pid} for name, proc in procs.items()]
    state["traffic_flows"] = [
        {"name": f.name, "kind": f.kind, "source": f.source, "target": f.target} for f in flows
    ]
    for proc in procs.values():
        if proc.stdout:
            proc.stdout.close()
    _state_path(root).write_text(json.dumps(state, indent=2))
    return state


def _describe(device: DeviceSpec, port: int) -> dict[str, Any]:
    identity = {k: v for k, v in msgspec.structs.asdict(device.identity).items() if v not in ("", 0)}
    return {
        "name": device.name,
        "address": device.address,
        "port": port,
        "protocol": device.protocol,
        "transport": STANDARD_PORTS[device.protocol][1],
        "role": device.role,
        "identity": identity,
    }


def _tail(path: Path, lines: int = 1) -> str:
    try:
        text = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "no output"


def _stop(pids: list[int]) -> list[int]:
    """SIGTERM each lab child, wait, SIGKILL what is left; returns pids that could not be stopped."""
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        _reap(pids)
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    time.sleep(0.1)
    _reap(pids)
    return [p for p in pids if _alive(p)]


def _reap(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def down(root: Path | None = None) -> dict[str, Any] | None:
    """Stop the running scenario; the journal stays readable until the next ``up``."""
    root = root or runtime_dir()
    state = read_state(root)
    if state is None:
        return None
    left = _stop([p["pid"] for p in state["processes"]])
    if left:
        raise IcsauditError(f"could not stop lab processes {left}")
    _state_path(root).unlink()
    (root / "last-state.json").write_text(json.dumps(state, indent=2))
    return state


def status(root: Path | None = None) -> dict[str, Any] | None:
    state = read_state(root)
    if state is None:
        return None
    alive = {p["name"]: _alive(p["pid"]) for p in state["processes"]}
    for device in state["devices"]:
        device["running"] = alive.get(device["name"], False)
    state["traffic_running"] = alive.get("traffic", False)
    return state


def journal(root: Path | None = None, device: str | None = None) -> list[dict[str, Any]]:
    root = root or runtime_dir()
    folder = root / "journal"
    if not folder.is_dir():
        raise InputError(f"no lab journal in {root}", hint="start a scenario with `icsaudit lab up`")
    return read_journal(sorted(folder.glob("*.jsonl")), device)


@contextmanager
def running(
    scenario_id: str, faults: list[str] | None = None, traffic: bool = True, root: Path | None = None
) -> Iterator[dict[str, Any]]:
    """A scenario for the length of a with-block (tests, the probe engineer's checks); always stopped."""
    state = up(scenario_id, faults, traffic, root)
    try:
        yield state
    finally:
        down(root)
