"""The running lab, checked with real clients, nmap's ICS NSE scripts and tshark."""

from __future__ import annotations

import asyncio
import ftplib
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from icsaudit.evidence.model import OPERATION_CATEGORIES
from icsaudit.lab import control
from icsaudit.lab.devices.ready import _listening
from icsaudit.lab.model import STANDARD_PORTS

from .conftest import start

pytestmark = pytest.mark.lab


def _port(state: dict[str, Any], name: str) -> tuple[str, int]:
    device = next(d for d in state["devices"] if d["name"] == name)
    return device["address"], device["port"]


def _nmap(args: list[str]) -> str:
    if shutil.which("nmap") is None:
        pytest.skip("nmap is not installed")
    return subprocess.run(["nmap", "-Pn", "-n", *args], capture_output=True, text=True, timeout=120).stdout


def test_water_devices_answer_real_clients_and_nmap(water_lab: dict[str, Any], lab_root: Path) -> None:
    from pymodbus.client import ModbusTcpClient

    host, port = _port(water_lab, "plc-dosing")
    client = ModbusTcpClient(host, port=port, timeout=5)
    assert client.connect()
    try:
        # registers 0-1 are the set-points the rogue host overwrites; 2-4 keep their initial values
        assert client.read_holding_registers(2, count=3, device_id=1).registers == [1, 0, 72]
        info = client.read_device_information(read_code=1, object_id=0, device_id=1).information
        assert info[0] == b"Schneider Electric" and info[1] == b"BMX P34 2020" and info[2] == b"v3.10"
    finally:
        client.close()

    import snap7

    host, port = _port(water_lab, "plc-filtration")
    s7 = snap7.client.Client()
    s7.connect(host, 0, 1, port)
    try:
        info = s7.get_cpu_info()
        assert info.SerialNumber == b"S V-L9AL63452019" and info.ModuleTypeName == b"CPU 1516-3 PN/DP"
    finally:
        s7.disconnect()

    if port == 102:  # the NSE portrules need the standard ports (nse-baseline.md §6.4)
        out = _nmap(["-sT", "-p", "502", "--script", "modbus-discover", "127.0.10.11"])
        assert "Schneider Electric BMX P34 2020 v3.10" in out
        out = _nmap(["-sT", "-p", "102", "--script", "s7-info", "127.0.10.12"])
        for text in ("6ES7 516-3AN02-0AB0", "Version: 2.9.4", "S V-L9AL63452019", "WTP-RIVERSIDE"):
            assert text in out
        out = _nmap(["-sU", "-p", "161", "--script", "snmp-sysdescr", "127.0.10.11"])
        assert "Schneider Electric BMX P34 2020 firmware v3.10" in out

    ftp = ftplib.FTP()
    ftp.connect(*_port(water_lab, "plc-dosing-ftp"), timeout=5)
    try:
        assert "230" in ftp.login()  # anonymous
    finally:
        ftp.close()

    # DNP3: link status with the dnp3py master's frame builder, over a plain socket
    from dnp3.datalink.builder import build_request_link_status

    frame = build_request_link_status(10, 1, True).to_bytes()
    with socket.create_connection(_port(water_lab, "rtu-pumping"), timeout=5) as sock:
        sock.sendall(frame)
        reply = sock.recv(64)
    assert reply[:2] == b"\x05\x64" and reply[3] & 0x0F == 11  # LINK_STATUS

    # The journal holds the normal traffic from the HMI's own address and the fault traffic
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        records = control.journal(lab_root)
        peers = {(r["peer"], r["device"], r["category"]) for r in records}
        if {
            ("127.0.11.21", "plc-dosing", "read"),
            ("127.0.11.66", "plc-dosing", "write"),
            ("127.0.11.66", "plc-filtration", "mode"),
            ("127.0.11.21", "plc-filtration", "program"),
            ("127.0.13.41", "plc-dosing", "read"),
            ("127.0.10.77", "plc-dosing", "read"),
        } <= peers:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"journal lacks expected traffic: {sorted(peers)}")
    assert all(r["category"] in OPERATION_CATEGORIES for r in records)
    assert all(r["result"] in ("accepted", "refused") for r in records)
    assert all(r["peer"].startswith("127.") for r in records)


def test_capture_decodes_in_tshark_without_malformed_packets(
    water_lab: dict[str, Any], tmp_path: Path
) -> None:
    if shutil.which("tshark") is None or shutil.which("tcpdump") is None:
        pytest.skip("tshark/tcpdump not installed")
    from icsaudit.lab.capture import capture

    pcap = tmp_path / "water.pcap"
    result = capture(control.status(), 4, pcap)
    assert result["bytes"] > 0
    protocols = subprocess.run(
        ["tshark", "-r", str(pcap), "-T", "fields", "-e", "frame.protocols"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "mbtcp" in protocols and "s7comm" in protocols
    malformed = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "_ws.malformed"], capture_output=True, text=True, timeout=120
    ).stdout
    assert malformed.strip() == ""


@pytest.mark.parametrize("scenario", ["chemical-sis", "research-reactor", "bsl3-hvac"])
def test_scenario_up_serves_identities_and_down_leaves_nothing(scenario: str, lab_root: Path) -> None:
    from icsaudit.lab.scenarios import load_scenario

    state = start(lab_root, scenario, list(load_scenario(scenario).faults), traffic=True)
    try:
        pids = [p["pid"] for p in state["processes"]]
        assert all(control._alive(pid) for pid in pids)
        for device in state["devices"]:
            if device["protocol"] == "enip":
                with socket.create_connection((device["address"], device["port"]), timeout=5) as sock:
                    sock.sendall(struct.pack("<HHII8sI", 0x63, 0, 0, 0, b"\x00" * 8, 0))
                    reply = sock.recv(512)
                assert device["identity"]["order_number"].encode() in reply
            if device["protocol"] == "opcua":
                from asyncua import Client

                async def endpoints(url: str) -> list[Any]:
                    return await Client(url, timeout=10).connect_and_get_server_endpoints()

                eps = asyncio.run(endpoints(f"opc.tcp://{device['address']}:{device['port']}/"))
                assert {e.Server.ApplicationUri for e in eps} == {device["identity"]["application_uri"]}
                # a None endpoint unless the plant configured the server secure-only
                specs = load_scenario(scenario).devices + [
                    d for f in load_scenario(scenario).faults.values() for d in f.devices
                ]
                secure = {d.name for d in specs if d.options.get("security") == "secure"}
                offers_none = any(e.SecurityPolicyUri.endswith("#None") for e in eps)
                assert offers_none == (device["name"] not in secure)
            if device["protocol"] == "bacnet" and device["port"] == 47808:
                out = _nmap(["-sU", "-p", "47808", "--script", "bacnet-info", device["address"]])
                assert device["identity"]["model"] in out and device["identity"]["firmware"] in out
            if device["protocol"] == "enip" and device["port"] == 44818 and device["name"] == "rad-monitor":
                out = _nmap(["-sT", "-p", "44818", "--script", "enip-info", device["address"]])
                assert device["identity"]["order_number"] in out
    finally:
        control.down(lab_root)
    assert not any(control._alive(pid) for pid in pids)
    for device in state["devices"]:
        transport = STANDARD_PORTS[device["protocol"]][1].split("+")[0]
        assert not _listening(device["address"], device["port"], transport)
    assert control.status(lab_root) is None
