"""icsaudit's safe probes vs nmap's ICS NSE scripts (s7-info, modbus-discover, enip-info, bacnet-info)
against the same lab devices (icsaudit.lab device processes, standard ports, 127.0.5.1-4) in the
same run. Wall time includes each tool's start-up; requests, unit ids and foreign payloads come from
the devices' own journals, connections from icsaudit's transcript and nmap's --packet-trace.

bench_probes() returns (label, value) rows and prints nothing; `make bench` prints them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

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
RATE = 50  # packets/s for the timed icsaudit run (default 10: 22 paced sends take ~2.2 s by design)
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


def _run_icsaudit(work: Path) -> dict:
    out = work / "ev.json"
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "icsaudit",
            "probe",
            "--target",
            ",".join(PROTOCOL_OF),
            "--ports",
            "502,102,44818,47808",
            "--rate",
            str(RATE),
            "-q",
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    evidence = json.loads(out.read_text())
    transcript = [json.loads(x) for x in (work / "ev.transcript.jsonl").read_text().splitlines()]
    fields = Counter()
    for ident in evidence["identities"]:
        fields[PROTOCOL_OF[ident["ip"]]] += len(ident["fields"])
    conns = Counter(PROTOCOL_OF[r["target"]] for r in transcript if r["event"] == "connect")
    payloads = Counter((r["target"], r["hex"]) for r in transcript if r["event"] == "request")
    return {
        "wall": wall,
        "fields": fields,
        "connections": conns,
        "duplicates": sum(n - 1 for n in payloads.values()),
    }


def _run_nmap(work: Path) -> dict:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            "nmap",
            "-Pn",
            "-n",
            "-sT",
            "-sU",
            "-p",
            "T:502,102,44818,U:47808",
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


def bench_probes() -> list[tuple[str, str]]:
    if shutil.which("nmap") is None:
        return [("probes vs nmap NSE", "skipped: nmap not installed")]
    work = Path(tempfile.mkdtemp(prefix="bench-probes-"))
    procs = _start(work)
    try:
        t0 = time.time()
        ours = _run_icsaudit(work)
        t1 = time.time()
        time.sleep(0.5)
        nmap = _run_nmap(work)
        t2 = time.time()
        ours.update(_journal_figures(_journal(work, t0, t1)))
        nmap.update(_journal_figures(_journal(work, t1 + 0.25, t2)))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
    rows = [
        (
            f"probes: wall s, 4 devices x 4 ports (icsaudit --rate {RATE} vs nmap -sT -sU + 4 NSE)",
            f"{ours['wall']:.2f} vs {nmap['wall']:.2f} (x{nmap['wall'] / ours['wall']:.2f})",
        )
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
    shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":  # manual run
    for label, value in bench_probes():
        print(f"{label:<70} {value}")
