from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from icsaudit.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_lab_cli_list_and_bad_input(lab_root: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["lab", "list", "--format", "json"])
    assert result.exit_code == 0
    ids = {s["id"] for s in json.loads(result.output)["scenarios"]}
    assert {"water-chlorine", "chemical-sis", "bsl3-hvac", "research-reactor"} <= ids
    result = runner.invoke(main, ["lab", "up", "no-such-scenario"])
    assert result.exit_code != 0 and "unknown scenario" in result.output
    for command in ("list", "up", "run", "status", "down", "journal", "capture", "score"):
        help_text = runner.invoke(main, ["lab", command, "--help"]).output
        assert "Example:" in help_text


DOCKER = "/usr/bin/docker"  # Debian's docker.io CLI; another one may come first in PATH
CONTAINER_SCENARIO = "bsl3-hvac"
CONTAINER_FAULT = "bacnet-containment-writes"


def _docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, check=check)


def _wait(condition: Callable[[], bool], attempts: int, what: str, alive: Callable[[], bool]) -> None:
    """Poll condition every 0.5 s, at most `attempts` times; fail early when the container died."""
    for _ in range(attempts):
        if condition():
            return
        if not alive():
            pytest.fail(f"container exited while waiting for {what}")
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.lab
@pytest.mark.slow
def test_container_image_runs_a_scenario() -> None:
    """make lab-image's script builds the image with no registry; the container runs bsl3-hvac with
    host networking; the host reads both devices' identities; docker stop ends it cleanly."""
    from pymodbus.client import ModbusTcpClient

    from icsaudit.lab.devices.ready import _listening
    from icsaudit.lab.scenarios import load_scenario

    if not os.path.exists(DOCKER):
        pytest.skip("docker.io is not installed")
    if _docker("info", check=False, timeout=30).returncode != 0:
        pytest.skip("dockerd is not running")
    devices = {d.name: d for d in load_scenario(CONTAINER_SCENARIO).devices}
    bacnet, plc = devices["nae-ahu"], devices["exhaust-plc"]
    if _listening(plc.address, 502, "tcp") or _listening(bacnet.address, 47808, "udp"):
        pytest.fail(f"{CONTAINER_SCENARIO} already runs on this host: stop it first (icsaudit lab down)")
    subprocess.run(["bash", str(REPO / "lab/build-image.sh")], check=True, timeout=600)

    name = f"icsaudit-lab-test-{os.getpid()}"
    _docker(
        "run", "-d", "--name", name, "--network", "host", "local/icsaudit-lab:latest",
        "run", CONTAINER_SCENARIO, "--faults", CONTAINER_FAULT,
    )  # fmt: skip

    def running() -> bool:
        state = _docker("inspect", "-f", "{{.State.Running}}", name, check=False)
        return state.stdout.strip() == "true"

    try:
        _wait(lambda: _listening(plc.address, 502, "tcp"), 240, "the Modbus PLC to listen", running)
        client = ModbusTcpClient(plc.address, port=502, timeout=5, retries=0)
        assert client.connect()
        try:
            info = client.read_device_information(read_code=1, object_id=0, device_id=1).information
        finally:
            client.close()
        assert info[0].decode() == plc.identity.vendor
        assert info[1].decode() == plc.identity.order_number
        assert info[2].decode() == plc.identity.firmware

        if shutil.which("nmap"):
            out = subprocess.run(
                ["nmap", "-Pn", "-n", "-sU", "-p", "47808", "--script", "bacnet-info", bacnet.address],
                capture_output=True, text=True, timeout=120,
            ).stdout  # fmt: skip
            assert bacnet.identity.model in out and bacnet.identity.firmware in out

        # The container's own journal: our identity request, and its traffic reaching the BACnet device.
        def journaled() -> set[tuple[str, str, str]]:
            text = _docker("exec", name, "icsaudit", "lab", "journal", "--format", "json").stdout
            return {(r["peer"], r["device"], r["category"]) for r in json.loads(text)}

        wanted = {("127.0.31.21", "nae-ahu", "read"), ("127.0.33.41", "nae-ahu", "write")}
        _wait(lambda: wanted <= journaled(), 60, "the container's traffic in its journal", running)
        assert any(peer == "127.0.0.1" and device == "exhaust-plc" for peer, device, _ in journaled())

        _docker("stop", "-t", "20", name, timeout=60)
        # 0, not 137: `lab run` handled SIGTERM as PID 1 and stopped its devices itself
        assert _docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"
        assert not _listening(plc.address, 502, "tcp") and not _listening(bacnet.address, 47808, "udp")
    finally:
        _docker("rm", "-f", name, check=False)
    assert _docker("ps", "-aq", "--filter", f"name={name}").stdout.strip() == ""
