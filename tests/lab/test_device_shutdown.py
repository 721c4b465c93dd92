"""A device stopped with a client connection still open shuts down cleanly: no traceback in its log.

Python 3.11's stream server logged a CancelledError traceback for every connection handler that
asyncio.run cancelled at exit (the ENIP device, with the HMI's session open, showed it on each `down`).
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from icsaudit.lab import control

pytestmark = pytest.mark.lab


def test_enip_device_stops_without_traceback(lab_root: Path) -> None:
    state = control.up("chemical-sis", [], traffic=False, root=lab_root)
    try:
        device = next(d for d in state["devices"] if d["protocol"] == "enip")
        with socket.create_connection(
            (device["address"], device["port"]), timeout=5, source_address=("127.0.22.21", 0)
        ) as client:
            # a ListIdentity round proves the device's handler holds the connection before `down`
            client.sendall(struct.pack("<HHII8sI", 0x63, 0, 0, 0, bytes(8), 0))
            reply = b""
            while len(reply) < 24:
                chunk = client.recv(4096)
                assert chunk, "the ENIP device closed the connection"
                reply += chunk
            assert reply[:2] == b"\x63\x00"
            # then a RegisterSession header whose body never comes: the handler waits in a read
            client.sendall(struct.pack("<HHII8sI", 0x65, 4, 0, 0, bytes(8), 0))
            control.down(lab_root)
    finally:
        if control.read_state(lab_root):
            control.down(lab_root)
    log = (lab_root / "logs" / f"{device['name']}.log").read_text()
    assert "Traceback" not in log, log
