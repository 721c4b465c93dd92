"""The scenarios' normal traffic and faults put real requests on the wire that reach their devices:
proved by each device's journal and, for BACnet, by tshark decoding the capture."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from icsaudit.lab import control
from icsaudit.lab.scenarios import load_scenario, scenario_ids, select

from .conftest import start

pytestmark = pytest.mark.lab

JOURNAL_WAIT = 45.0  # seconds; the slowest flow runs every 10 s
# Traffic kinds whose journal category is fixed by what the client sends.
EXPECTED_CATEGORY = {
    "modbus-read": "read",
    "modbus-write": "write",
    "s7-read": "read",
    "s7-stop": "mode",
    "s7-download": "program",
    "bacnet-read": "read",
    "bacnet-write": "write",
    "enip-read": "read",
}


def _wait_for_flows(root: Path, flows: list[Any]) -> set[tuple[str, str, str]]:
    """Poll the journal until every flow's (source, target) appears, and with its expected category
    where the kind fixes one; return the seen triples. Waiting on the pair alone is not enough: two
    flows can share a pair (an HMI that polls and, under a fault, downloads to the same PLC)."""
    wanted_pairs = {(f.source, f.target) for f in flows}
    wanted_triples = {
        (f.source, f.target, EXPECTED_CATEGORY[f.kind]) for f in flows if f.kind in EXPECTED_CATEGORY
    }
    seen: set[tuple[str, str, str]] = set()
    deadline = time.monotonic() + JOURNAL_WAIT
    while time.monotonic() < deadline:
        seen = {(r["peer"], r["device"], r["category"]) for r in control.journal(root)}
        if wanted_pairs <= {(peer, device) for peer, device, _ in seen} and wanted_triples <= seen:
            break
        time.sleep(0.5)
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("scenario_id", scenario_ids())
def test_every_flow_reaches_its_device(scenario_id: str, lab_root: Path) -> None:
    scenario = load_scenario(scenario_id)
    faults = list(scenario.faults)
    _, flows = select(scenario, faults)
    assert flows, f"{scenario_id} has no traffic"
    start(lab_root, scenario_id, faults)
    try:
        seen = _wait_for_flows(lab_root, flows)
    finally:
        control.down(lab_root)
    pairs = {(peer, device) for peer, device, _ in seen}
    missing = sorted(
        f"{f.name} ({f.source} -> {f.target})" for f in flows if (f.source, f.target) not in pairs
    )
    assert not missing, f"traffic never reached its device: {missing}"
    wrong = sorted(
        f.name
        for f in flows
        if f.kind in EXPECTED_CATEGORY and (f.source, f.target, EXPECTED_CATEGORY[f.kind]) not in seen
    )
    assert not wrong, f"journaled with the wrong category: {wrong}; journal has {sorted(seen)}"


def _bacnet_requests(pcap: Path) -> set[tuple[str, str, str]]:
    """(source, destination, service) of every BACnet confirmed request tshark decodes in pcap."""
    out = subprocess.run(
        [
            "tshark", "-r", str(pcap), "-Y", "bacapp.type == 0", "-T", "fields",
            "-e", "ip.src", "-e", "ip.dst", "-e", "bacapp.confirmed_service",
        ],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    return {tuple(line.split("\t")) for line in out.splitlines() if line.count("\t") == 2}


def test_bsl3_bacnet_reads_and_containment_writes_are_on_the_wire(lab_root: Path, tmp_path: Path) -> None:
    if shutil.which("tshark") is None or shutil.which("tcpdump") is None:
        pytest.skip("tshark/tcpdump not installed")
    from icsaudit.lab.capture import capture

    device, hmi, it_host = "127.0.30.11", "127.0.31.21", "127.0.33.41"
    read, write = "12", "15"  # BACnetConfirmedServiceChoice readProperty, writeProperty
    wanted = {(hmi, device, read), (it_host, device, write)}
    state = start(lab_root, "bsl3-hvac", ["bacnet-containment-writes"])
    requests: set[tuple[str, str, str]] = set()
    try:
        for attempt in range(3):  # the write runs every 5 s: a few 6 s windows always hold one
            pcap = tmp_path / f"bsl3-{attempt}.pcap"
            capture(state, 6, pcap)
            requests |= _bacnet_requests(pcap)
            if wanted <= requests:
                break
        records = [r for r in control.journal(lab_root) if r["device"] == "nae-ahu"]
    finally:
        control.down(lab_root)
    assert wanted <= requests, f"tshark decoded only {sorted(requests)}"
    journaled = {(r["peer"], r["function"], r["category"]) for r in records}
    assert (hmi, "ReadPropertyRequest", "read") in journaled
    assert (it_host, "WritePropertyRequest", "write") in journaled
    writes = [r for r in records if r["function"] == "WritePropertyRequest"]
    assert {r["detail"]["object"] for r in writes} == {"analog-value,1"}
    assert all(r["peer_port"] == 47808 for r in records if r["peer"] in (hmi, it_host))
