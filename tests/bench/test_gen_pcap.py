"""The bench capture generator: deterministic, exact size, and real traffic the dissectors recognise."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from icsaudit.passive.pipeline import analyze
from icsaudit.passive.protocols import default_registry
from tests.bench.gen_pcap import generate

EXPECTED = {"modbus", "s7comm", "enip", "dnp3", "iec104", "bacnet", "opcua", "http", "dns", "snmp"}


def test_same_seed_same_bytes_and_exact_count(tmp_path: Path) -> None:
    first = generate(tmp_path / "a.pcap", 3000, seed=7)
    second = generate(tmp_path / "b.pcap", 3000, seed=7)
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    other = generate(tmp_path / "c.pcap", 3000, seed=8)
    assert other.read_bytes() != first.read_bytes()
    evidence = analyze([first])
    assert evidence.capture.packets == 3000 and evidence.capture.tcp_gaps == 0
    present = {c.name for c in default_registry().dissectors} & EXPECTED
    assert present <= set(evidence.capture.protocols)  # every protocol with a dissector is decoded


def test_tshark_decodes_every_protocol(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed")
    capture = generate(tmp_path / "a.pcap", 3000, seed=3)
    proc = subprocess.run(
        [tshark, "-n", "-r", str(capture), "-q", "-z", "io,phs"], capture_output=True, text=True, check=True
    )
    for name in (
        "modbus",
        "s7comm",
        "cip",
        "dnp3",
        "iec60870_asdu",
        "bacapp",
        "opcua",
        "http",
        "dns",
        "snmp",
    ):
        assert f" {name} " in f" {proc.stdout} ".replace("\n", " "), name
    assert "_ws.malformed" not in proc.stdout
