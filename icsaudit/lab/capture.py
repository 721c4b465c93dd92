"""Record the lab's traffic on the loopback interface with tcpdump (or dumpcap), filtered to the
running scenario's zones and device addresses."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from icsaudit.errors import IcsauditError, InputError
from icsaudit.lab.safety import require_loopback, require_loopback_network
from icsaudit.lab.scenarios import load_scenario

START_WAIT = 1.0  # tcpdump needs a moment before its first packet is recorded (nse-baseline.md §6.6)


def capture_filter(state: dict[str, Any]) -> str:
    """BPF: the scenario's zone networks plus every device address (the scanner's 127.0.0.1 replies
    are caught through the device side)."""
    scenario = load_scenario(state["scenario"])
    nets = sorted({require_loopback_network(c) for z in scenario.site.zones for c in z.cidrs})
    hosts = sorted({require_loopback(d["address"]) for d in state["devices"]})
    return " or ".join([f"net {n}" for n in nets] + [f"host {h}" for h in hosts])


def capture(state: dict[str, Any], seconds: float, output: Path) -> dict[str, Any]:
    if seconds <= 0:
        raise InputError("--seconds must be positive")
    tool = shutil.which("tcpdump") or shutil.which("dumpcap")
    if tool is None:
        raise IcsauditError("neither tcpdump nor dumpcap is installed", hint="apt-get install tcpdump")
    bpf = capture_filter(state)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if tool.endswith("tcpdump"):
        args = [tool, "-i", "lo", "-U", "-s", "0", "-w", str(output), bpf]
    else:
        args = [tool, "-i", "lo", "-q", "-P", "-w", str(output), "-f", bpf]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(START_WAIT)
        if proc.poll() is not None:
            raise _capture_error(proc.stderr.read().decode(errors="replace") if proc.stderr else "")
        time.sleep(seconds)
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    if not output.is_file():
        raise _capture_error(err.decode(errors="replace"))
    return {
        "file": str(output),
        "seconds": seconds,
        "filter": bpf,
        "tool": Path(tool).name,
        "bytes": output.stat().st_size,
    }


def _capture_error(stderr: str) -> IcsauditError:
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "capture failed"
    if "ermission" in stderr or "Operation not permitted" in stderr:
        return IcsauditError(
            f"no capture rights on the loopback interface: {text}",
            hint="run as root, or grant tcpdump cap_net_raw,cap_net_admin (setcap)",
        )
    return IcsauditError(f"capture failed: {text}")
