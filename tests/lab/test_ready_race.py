"""A device reports READY only when its own socket listens, never because another process holds the
address (the intermittent start issue: READY printed, then the device failed or bound late)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from icsaudit.lab.model import DeviceSpec

pytestmark = pytest.mark.lab


def _run_device(spec: DeviceSpec, journal: Path) -> tuple[int, str]:
    """Run one device runner to its end (it cannot bind, so it ends by itself); stdout and exit code."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "icsaudit.lab.runner", "device", msgspec.json.encode(spec).decode(),
         str(spec.port), str(journal)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.parametrize(
    ("protocol", "kind"), [("modbus", socket.SOCK_STREAM), ("bacnet", socket.SOCK_DGRAM)]
)
def test_device_is_not_ready_on_another_process_socket(protocol: str, kind: int, tmp_path: Path) -> None:
    address, port = "127.0.99.7", 15020 if kind == socket.SOCK_STREAM else 15021
    holder = socket.socket(socket.AF_INET, kind)
    try:
        holder.bind((address, port))
        if kind == socket.SOCK_STREAM:
            holder.listen()
        spec = DeviceSpec(name=f"blocked-{protocol}", protocol=protocol, address=address, port=port)
        code, out = _run_device(spec, tmp_path / "journal.jsonl")
    finally:
        holder.close()
    assert "READY" not in out
    assert code != 0
