"""SNMPv3 engine discovery end to end on the lab (127.0.0.0/8 only): the simulated Schneider agent
answers the discovery with a Report carrying its RFC 3411 engine id (enterprise 3833, format 3, a
Schneider MAC), the probe turns it into identity fields without any community, the agent's journal
shows one read and nothing else, and nmap's snmp-info reports no field the probe lacks."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from icsaudit.lab import control
from icsaudit.probes import snmp
from icsaudit.probes.evidence import build_evidence
from icsaudit.probes.guard import Guard, TargetPolicy, Transcript
from icsaudit.probes.registry import parse_ports
from icsaudit.probes.run import make_target, run_probes

pytestmark = pytest.mark.lab
DEVICE = "plc-dosing-snmp"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def _probe(ip: str, port: int, community: str | None, transcript: Transcript):
    guard = Guard(TargetPolicy.from_targets(ip), rate=20, transcript=transcript)
    make = lambda host, spec: make_target(host, spec, None, (1,), (), community)  # noqa: E731
    return guard, run_probes(guard, {ip: parse_ports(f"{port}:snmp")}, make)


def test_snmpv3_discovery_on_the_lab_agent(lab_root: Path, tmp_path: Path) -> None:
    with control.running("water-chlorine", ["snmp-default-community"], traffic=False, root=lab_root) as state:
        device = next(d for d in state["devices"] if d["name"] == DEVICE)
        ip, port = device["address"], device["port"]
        assert ipaddress.ip_address(ip) in LOOPBACK

        # no community file: the discovery alone
        transcript = Transcript(tmp_path / "v3.jsonl")
        guard, report = _probe(ip, port, None, transcript)
        transcript.close()
        assert not guard.backed_off and not report.warnings
        (found,) = report.results
        fields = found.fields
        assert found.probe == "snmpv3"
        assert fields["vendor"] == "Schneider Electric" and fields["snmp_enterprise"] == "3833"
        assert fields["engine_id"] == "80000ef903000054000a0b"  # 127.0.10.11 -> MAC 00:00:54:00:0a:0b
        assert fields["engine_id_format"] == "mac" and fields["mac"] == "00:00:54:00:0a:0b"
        assert fields["engine_boots"] == "1" and int(fields["engine_time"]) < 600
        assert re.fullmatch(r"0d00h\d\dm\d\ds", fields["uptime"])
        assert found.raw["report"] == "usmStatsUnknownEngineIDs"
        journal = control.journal(lab_root, DEVICE)
        assert [
            (r["function"], r["category"], r["result"], r["detail"]["version"], r["detail"]["user"])
            for r in journal
        ] == [("get", "read", "accepted", 3, "")]
        evidence = build_evidence(report.results, transcript)
        (asset,) = evidence.assets
        assert (
            asset.vendor == "Schneider Electric" and asset.provenance["vendor"].ref.source == "probe:snmpv3"
        )

        # with the community: the v2c GET, then the discovery, on one service
        transcript = Transcript(tmp_path / "both.jsonl")
        guard, report = _probe(ip, port, "public", transcript)
        transcript.close()
        assert [r.probe for r in report.results] == ["snmp", "snmpv3"]
        assert report.results[0].fields["description"] == "Schneider Electric BMX P34 2020 firmware v3.10"
        (service,) = build_evidence(report.results, transcript).services
        assert service.details["snmp_version"] == "v2c" and service.details["snmpv3_discovery"] is True
        journal = control.journal(lab_root, DEVICE)
        assert [(r["detail"]["version"], r["category"]) for r in journal] == [
            (3, "read"),
            (1, "read"),
            (3, "read"),
        ]

        # nmap's snmp-info against the same agent: every field it prints, the probe has too
        if shutil.which("nmap") is None:
            pytest.skip("nmap is not installed")
        out = subprocess.run(
            ["nmap", "-Pn", "-n", "-sU", "-p", str(port), "--script", "snmp-info", ip],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        nse = dict(re.findall(r"^\|[_ ]\s+(\w+): (.*)$", out, re.M))
        assert nse["enterprise"] == "Schneider Electric", out
        assert nse["engineIDFormat"] == fields["engine_id_format"]
        assert nse["engineIDData"] == fields["engine_id_data"].replace(":", "")  # nmap 7.93 prints no colons
        assert nse["snmpEngineBoots"] == fields["engine_boots"]
        assert re.fullmatch(
            r"\d+[smhd].*", nse["snmpEngineTime"]
        )  # nmap: "42s"; ours: seconds and 0d00h00m42s
        assert snmp.ICS_ENTERPRISES[int(fields["snmp_enterprise"])] == nse["enterprise"]
