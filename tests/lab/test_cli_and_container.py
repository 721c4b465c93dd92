from __future__ import annotations

import json
import os
import shutil
import subprocess
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


@pytest.mark.lab
@pytest.mark.slow
def test_container_image_runs_a_scenario() -> None:
    docker = "/usr/bin/docker"
    if not (os.path.exists(docker) and shutil.which("debootstrap")):
        pytest.skip("docker.io / debootstrap not installed")
    if subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("dockerd is not running")
    subprocess.run(["bash", str(REPO / "lab/build-image.sh")], check=True, timeout=900)
    name = "icsaudit-lab-test"
    subprocess.run(
        [
            docker,
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "--network",
            "host",
            "--init",
            "local/icsaudit-lab:latest",
            "run",
            "water-chlorine",
            "--no-traffic",
        ],
        check=True,
        timeout=60,
    )
    try:
        from pymodbus.client import ModbusTcpClient

        client = ModbusTcpClient("127.0.10.11", port=502, timeout=5, retries=10)
        for _ in range(60):
            if client.connect():
                break
            subprocess.run(["sleep", "1"])
        info = client.read_device_information(read_code=1, object_id=0, device_id=1).information
        client.close()
        assert info[0] == b"Schneider Electric"
    finally:
        subprocess.run([docker, "stop", name], capture_output=True, timeout=60)
