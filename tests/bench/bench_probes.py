"""icsaudit's safe probes vs nmap's ICS NSE scripts (s7-info, modbus-discover, enip-info, bacnet-info)
against the same lab devices (icsaudit.lab device processes, standard ports, 127.0.5.1-4) in the
same run. Wall time includes each tool's start-up; requests, unit ids and foreign payloads come from
the devices' own journals, connections from icsaudit's transcript and nmap's --packet-trace.

Fair comparison: both tools get the same addresses and the same port list (TCP_PORTS, UDP_PORTS),
so each asks every port of every host. icsaudit runs at a stated cap (RATE packets/s, counted over any
1-s window; its default is 10); nmap runs as its users run it (no cap), and once more with
--max-rate RATE. Runs are interleaved, RUNS of each; the median (min) wall time is reported.
icsaudit is timed as installed (bytecode compiled, in a temporary cache) and once cold (no bytecode:
this checkout runs with PYTHONDONTWRITEBYTECODE=1, so every module is compiled at start-up).
A last row runs icsaudit from a site model that declares each asset's services, at the profile's
cap (water-chlorine: 10 packets/s): one connection per device, no port that is not declared.

bench_probes() returns (label, value) rows and prints nothing; `make bench` prints them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from statistics import median

DEVICES = [
    {
        "name": "modbus",
        "protocol": "modbus",
        "address": "127.0.5.1",
        "port": 502,
        "identity": {
            "vendor": "Schneider Electric",
            "model": "Modicon M340",
            "order_number": "BMX P34 2020",
            "firmware": "v3.10",
            "name": "PLC-A",
        },
        "options": {"unit_ids": [1], "vendor_url": "http://www.se.com"},
    },
    {
        "name": "s7",
        "protocol": "s7comm",
        "address": "127.0.5.2",
        "port": 102,
        "identity": {
            "vendor": "Siemens",
            "model": "CPU 1516-3 PN/DP",
            "order_number": "6ES7 516-3AN02-0AB0",
            "firmware": "V2.9.4",
            "serial": "S V-L9AL63452019",
            "plant_id": "CBRN-LAB-A",
            "name": "S71500/ET200MP station_1",
        },
        "options": {"module_name": "PLC_1"},
    },
    {
        "name": "enip",
        "protocol": "enip",
        "address": "127.0.5.3",
        "port": 44818,
        "identity": {
            "vendor": "Rockwell",
            "vendor_id": 1,
            "model": "1756-L81E/B",
            "firmware": "33.11",
            "serial": "0x60d2a1b3",
            "product_code": 166,
            "device_type": 14,
        },
        "options": {},
    },
    {
        "name": "bacnet",
        "protocol": "bacnet",
        "address": "127.0.5.4",
        "port": 47808,
        "identity": {
            "vendor": "Johnson Controls, Inc.",
            "vendor_id": 5,
            "model": "MS-NAE5510-2",
            "firmware": "Release 9.0.7",
            "app_software": "9.0.7.0012",
            "name": "NAE-AHU-03",
            "instance": 3056,
            "description": "AHU-3 supervisory controller",
            "location": "Bldg B Mech Room 2",
        },
        "options": {},
    },
]
PROTOCOL_OF = {"127.0.5.1": "modbus", "127.0.5.2": "s7", "127.0.5.3": "enip", "127.0.5.4": "bacnet"}
RATE = 50  # packets/s cap for the timed icsaudit runs (its default is 10), and nmap's --max-rate row
TCP_PORTS = (502, 102, 44818)  # both tools get exactly these ports on every host
UDP_PORTS = (47808,)
RUNS = 3  # timed runs of each tool, interleaved; median and min reported
SITE_RATE = 10  # the water-chlorine profile's max_pps caps the site run
SITE = """
name: Probe bench lab
profile: water-chlorine
zones:
  - {id: process, template: process, assets: [127.0.5.1, 127.0.5.2, 127.0.5.3, 127.0.5.4]}
assets:
  - {ip: 127.0.5.1, name: plc-modbus, zone: process, services: [502], unit_ids: [1]}
  - {ip: 127.0.5.2, name: plc-s7, zone: process, services: [102]}
  - {ip: 127.0.5.3, name: plc-enip, zone: process, services: [44818]}
  - {ip: 127.0.5.4, name: nae-bacnet, zone: process, services: [47808]}
"""
NSE = {"modbus-discover": "modbus", "s7-info": "s7", "enip-info": "enip", "bacnet-info": "bacnet"}


def _start(work: Path) -> list[subprocess.Popen]:
    procs = []
    for spec in DEVICES:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "icsaudit.lab.runner",
                    "device",
                    json.dumps(spec),
                    str(spec["port"]),
                    str(work / f"{spec['name']}.jsonl"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        )
    for proc in procs:
        if proc.stdout.readline().strip() != "READY":
            raise RuntimeError("lab device did not start (standard ports need root)")
    return procs


def _journal(work: Path, since: float, until: float) -> list[dict]:
    records = []
    for path in (work / f"{spec['name']}.jsonl" for spec in DEVICES):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if since <= record["ts"] <= until:
                records.append(record)
    return records


def _icsaudit_env(work: Path, cached: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if cached:  # as installed: compiled once (the untimed warm-up run), outside the checkout
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run_icsaudit(work: Path, cached: bool = True, site: Path | None = None) -> dict:
    out = work / "ev.json"
    if site is None:
        where = [
            "--target",
            ",".join(PROTOCOL_OF),
            "--ports",
            ",".join(map(str, TCP_PORTS + UDP_PORTS)),
            "--rate",
            str(RATE),
        ]
    else:
        where = ["--site", str(site)]
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "icsaudit", "probe", *where, "-q", "-o", str(out)],
        check=True,
        capture_output=True,
        env=_icsaudit_env(work, cached),
    )
    wall = time.perf_counter() - start
    evidence = json.loads(out.read_text())
    transcript = [json.loads(x) for x in (work / "ev.transcript.jsonl").read_text().splitlines()]
    fields = Counter()
    for ident in evidence["identities"]:
        fields[PROTOCOL_OF[ident["ip"]]] += len(ident["fields"])
    conns = Counter(PROTOCOL_OF[r["target"]] for r in transcript if r["event"] == "connect")
    payloads = Counter((r["target"], r["hex"]) for r in transcript if r["event"] == "request")
    sends = sorted(r["ts"] for r in transcript if r["event"] in ("connect", "request"))
    return {
        "wall": wall,
        "fields": fields,
        "connections": conns,
        "duplicates": sum(n - 1 for n in payloads.values()),
        "sends": len(sends),
        "busiest": max((sum(1 for t in sends if a <= t < a + 1) for a in sends), default=0),
        "wire": sends[-1] - sends[0] if sends else 0.0,
    }


def _run_nmap(work: Path, max_rate: int | None = None) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            "nmap",
            "-Pn",
            "-n",
            "-sT",
            "-sU",
            "-p",
            f"T:{','.join(map(str, TCP_PORTS))},U:{','.join(map(str, UDP_PORTS))}",
            *(["--max-rate", str(max_rate)] if max_rate else []),
            "--script",
            ",".join(NSE),
            "--packet-trace",
            "-oX",
            str(work / "nmap.xml"),
            "127.0.5.1-4",
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    conns = Counter()
    for line in proc.stdout.splitlines():
        match = re.search(
            r"(?:^CONN .*?> (127\.0\.5\.\d):\d+|nsock_connect_tcp\(\): TCP connection requested to "
            r"(127\.0\.5\.\d):)",
            line,
        )
        if match:
            conns[PROTOCOL_OF[match.group(1) or match.group(2)]] += 1
    fields = Counter()
    for script in ET.parse(work / "nmap.xml").iter("script"):
        if script.get("id") in NSE:
            leaves = [e for e in script.iter("elem")]
            lines = [
                x
                for x in (script.get("output") or "").splitlines()
                if ":" in x and x.split(":", 1)[1].strip()
            ]
            fields[NSE[script.get("id")]] += len(leaves) or len(lines)
    return {"wall": wall, "fields": fields, "connections": conns}


def _journal_figures(records: list[dict]) -> dict:
    by = Counter(PROTOCOL_OF.get(r["address"], "?") for r in records)
    units = {r.get("detail", {}).get("unit") for r in records if r["protocol"] == "modbus"}
    foreign = sum(
        1
        for r in records
        if r["function"] in ("not-bvlc",)
        or (
            r["protocol"] == "enip"
            and r["function"].startswith("cmd/")
            and r["category"] == "other"
            and r["result"] == "refused"
        )
    )
    bacnet = Counter(r["function"] for r in records if r["protocol"] == "bacnet")
    forbidden = sum(
        1 for r in records if r["category"] in ("write", "control", "program", "mode", "firmware")
    )
    return {
        "requests": by,
        "units": len(units - {None}),
        "foreign_udp": foreign,
        "bacnet": bacnet,
        "forbidden": forbidden,
    }


def _timed(run) -> dict:
    """One run, with the wall-clock window its journal records fall in."""
    since = time.time()
    figures = run()
    figures["window"] = (since, time.time())
    time.sleep(0.3)  # let the devices settle between runs
    return figures


def _wall(runs: list[dict]) -> str:
    walls = [r["wall"] for r in runs]
    return f"{median(walls):.2f} ({min(walls):.2f})"


def bench_probes() -> list[tuple[str, str]]:
    if shutil.which("nmap") is None:
        return [("probes vs nmap NSE", "skipped: nmap not installed")]
    work = Path(tempfile.mkdtemp(prefix="bench-probes-"))
    (work / "site.yaml").write_text(SITE)
    procs = _start(work)
    runs: dict[str, list[dict]] = {"ours": [], "cold": [], "nmap": [], "nmap_capped": [], "site": []}
    try:
        _run_icsaudit(work)  # warm-up, untimed: fills the bytecode cache as an install would
        time.sleep(0.3)
        for _ in range(RUNS):
            runs["ours"].append(_timed(lambda: _run_icsaudit(work)))
            runs["nmap"].append(_timed(lambda: _run_nmap(work)))
            runs["cold"].append(_timed(lambda: _run_icsaudit(work, cached=False)))
            runs["nmap_capped"].append(_timed(lambda: _run_nmap(work, RATE)))
        runs["site"].append(_timed(lambda: _run_icsaudit(work, site=work / "site.yaml")))
        for kind in runs.values():
            first = kind[0]
            first.update(_journal_figures(_journal(work, *first["window"])))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
    ours, nmap, site = runs["ours"][0], runs["nmap"][0], runs["site"][0]
    ports = f"tcp {','.join(map(str, TCP_PORTS))} + udp {','.join(map(str, UDP_PORTS))}"
    rows = [
        (
            f"probes: wall s median (min) of {RUNS}, 4 devices x the same 4 ports ({ports}): "
            f"icsaudit --rate {RATE} (bytecode cached) vs nmap -sT -sU + 4 NSE (no rate cap)",
            f"{_wall(runs['ours'])} vs {_wall(runs['nmap'])} "
            f"(x{median(r['wall'] for r in runs['nmap']) / median(r['wall'] for r in runs['ours']):.2f})",
        ),
        (
            "probes: wall s, icsaudit cold (no bytecode cache: every module compiled) vs nmap (no rate cap)",
            f"{_wall(runs['cold'])} vs {_wall(runs['nmap'])}",
        ),
        (
            f"probes: wall s, both under the same cap: icsaudit --rate {RATE} vs nmap --max-rate {RATE}",
            f"{_wall(runs['ours'])} vs {_wall(runs['nmap_capped'])}",
        ),
        (
            f"probes: icsaudit sends (SYNs + requests), wire s first to last, most in any 1 s (cap {RATE})",
            f"{ours['sends']}, {ours['wire']:.3f}, {ours['busiest']}",
        ),
    ]
    for proto in ("modbus", "s7", "enip", "bacnet"):
        rows.append(
            (f"probes: {proto} identity fields", f"{ours['fields'][proto]} vs {nmap['fields'][proto]}")
        )
        rows.append(
            (
                f"probes: {proto} TCP connections" if proto != "bacnet" else "probes: bacnet UDP requests",
                f"{ours['connections'][proto]} vs {nmap['connections'][proto]}"
                if proto != "bacnet"
                else f"{ours['requests'][proto]} vs {nmap['requests'][proto]}",
            )
        )
        rows.append(
            (
                f"probes: {proto} requests at the device",
                f"{ours['requests'][proto]} vs {nmap['requests'][proto]}",
            )
        )
    rows += [
        ("probes: modbus unit ids asked", f"{ours['units']} vs {nmap['units']}"),
        (
            "probes: bacnet ReadProperty / ReadPropertyMultiple",
            f"{ours['bacnet']['ReadPropertyRequest']}/{ours['bacnet']['ReadPropertyMultipleRequest']} vs "
            f"{nmap['bacnet']['ReadPropertyRequest']}/{nmap['bacnet']['ReadPropertyMultipleRequest']}",
        ),
        ("probes: foreign payloads to UDP ICS ports", f"{ours['foreign_udp']} vs {nmap['foreign_udp']}"),
        ("probes: duplicate requests (icsaudit transcript)", str(ours["duplicates"])),
        (
            "probes: write/control/program/mode/firmware at devices",
            f"{ours['forbidden']} vs {nmap['forbidden']}",
        ),
    ]
    rows += [
        (
            f"probes: icsaudit --site (declared services, profile cap {SITE_RATE}/s): wall s, sends, "
            "TCP connections, requests at the devices, identity fields",
            f"{site['wall']:.2f}, {site['sends']}, {sum(site['connections'].values())}, "
            f"{sum(site['requests'].values())}, {sum(site['fields'].values())}",
        )
    ]
    shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":  # manual run
    for label, value in bench_probes():
        print(f"{label:<70} {value}")
