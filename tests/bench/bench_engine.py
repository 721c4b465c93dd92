"""Engine benchmark: 100k flows + 100k events, load + every check, against a plain-Python loop.

``bench_engine()`` returns (label, value) rows and prints nothing; tests/bench/run.py prints them.
The evidence looks like a plant: most flows stay inside their zone or use a declared conduit, a
minority crosses zones without one, and events are mostly writes. The worst case (random endpoints:
~90% of flows cross zones, most on no conduit, a quarter of the events credentials) is measured too;
the target applies to the plant. Each case is measured once, cold (fresh site model and database).
The Python baseline evaluates the same conditions as a representative subset of checks (IC-01,
IC-02, ZC-01, ZC-02, RA-01, DR-01, CB-05) row by row over the same enriched dicts, then scales to
the full catalog by check count, as a per-record engine would.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict

from icsaudit.engine.checks import load_checks
from icsaudit.engine.profiles import load_profile
from icsaudit.engine.runner import CheckRun, run_check
from icsaudit.engine.site import SiteModel
from icsaudit.engine.tables import build_database
from icsaudit.evidence.model import Capture, Event, Evidence, Flow, Ref
from icsaudit.ids import digest_id

PROTOCOLS = ["modbus", "s7comm", "enip", "dnp3", "bacnet", "opcua", "http", "rdp", "syslog", "tls"]
ZONES = 10
# Shares of flows inside one zone and on a declared conduit (zone i -> i+1); the rest cross zones
# without a conduit. None: random endpoints (the worst case).
PLANT = (0.88, 0.10)
EVENT_KINDS = ["write", "control", "mode", "credential"]
PLANT_EVENT_WEIGHTS = [85, 10, 3, 2]


def synthetic(
    n_flows: int = 100_000, n_events: int = 100_000, seed: int = 7, mix: tuple[float, float] | None = PLANT
) -> tuple[Evidence, SiteModel]:
    import msgspec

    from icsaudit.engine.model import Site

    rng = random.Random(seed)
    site = msgspec.convert(
        {
            "name": "bench",
            "profile": "chemical-toxic",
            "zones": [
                {
                    "id": f"z{i}",
                    "cidrs": [f"10.{i}.0.0/16"],
                    "purdue_level": [1, 1, 2, 3, 4][i % 5],
                    "csl": [2, 3, 3, 3, 4][i % 5],
                    "safety": i == 0,
                }
                for i in range(ZONES)
            ],
            "conduits": [{"from": f"z{i}", "to": f"z{(i + 1) % ZONES}"} for i in range(ZONES)],
            "masters": [f"10.2.0.{i}" for i in range(1, 20)],
            "hmis": [f"10.2.0.{i}" for i in range(20, 40)],
            "engineering_workstations": ["10.2.0.50"],
            "log_collectors": ["10.3.0.9"],
            "assets": [{"ip": f"10.1.0.{i}", "role": "plc"} for i in range(1, 200)],
        },
        Site,
    )
    model = SiteModel(site, load_profile("chemical-toxic"))
    hosts = [f"10.{rng.randrange(ZONES)}.{rng.randrange(40)}.{rng.randrange(1, 250)}" for _ in range(8000)]
    by_zone: dict[int, list[str]] = defaultdict(list)
    for host in hosts:
        by_zone[int(host.split(".")[1])].append(host)

    def server_for(client: str) -> str:
        if mix is None:
            return rng.choice(hosts)
        zone, draw = int(client.split(".")[1]), rng.random()
        if draw < mix[0]:
            return rng.choice(by_zone[zone])
        if draw < mix[0] + mix[1]:
            return rng.choice(by_zone[(zone + 1) % ZONES])
        return rng.choice(by_zone[(zone + rng.randrange(2, ZONES)) % ZONES])  # no conduit that way

    flows = []
    for i in range(n_flows):
        proto = PROTOCOLS[i % len(PROTOCOLS)]
        client = rng.choice(hosts)
        server = server_for(client)
        ops = {"read": rng.randrange(100)}
        if rng.random() < 0.05:
            ops["write"] = rng.randrange(1, 5)
        if rng.random() < 0.005:
            ops["program"] = 1
        flows.append(
            Flow(
                flow_id=digest_id(i),
                client_ip=client,
                server_ip=server,
                transport="tcp",
                server_port=502 + i % 7,
                protocol=proto,
                packets=rng.randrange(2, 5000),
                first_seen=1.7e9 + i,
                last_seen=1.7e9 + i + 60,
                ops=ops,
                functions={f"fc{rng.randrange(1, 17)}": 3},
                exceptions=rng.randrange(3),
            )
        )
    events = []
    for i in range(n_events):
        f = flows[rng.randrange(n_flows)]
        events.append(
            Event(
                event_id=digest_id("e", i),
                kind=rng.choices(EVENT_KINDS, PLANT_EVENT_WEIGHTS)[0] if mix else rng.choice(EVENT_KINDS),
                category="write",
                protocol=f.protocol,
                function="fc6",
                client_ip=f.client_ip,
                server_ip=f.server_ip,
                server_port=f.server_port,
                flow_id=f.flow_id,
                detail={"unit_id": 1, "address": i % 1000},
                ref=Ref(source="passive", file="bench.pcap", frame=i + 1, ts=1.7e9 + i),
            )
        )
    capture = Capture(packets=10_000_000, first_ts=1.7e9, last_ts=1.7e9 + n_flows, sources=["passive"])
    return Evidence(capture=capture, flows=flows, events=events), model


def _python_conditions(rows: list[dict]) -> int:
    """The same conditions as a few checks, row by row (what a per-record engine does)."""
    found = 0
    per_client: dict[str, set] = defaultdict(set)
    for r in rows:
        ops = r["ops"]
        writes = ops.get("write", 0)
        if r["protocol"] == "modbus" and writes and not (r["c_master"] or r["c_hmi"] or r["c_ews"]):
            found += 1
        if ops.get("program", 0) and not r["c_ews"]:
            found += 1
        if r["c_zone"] != r["s_zone"] and not r["allowed"]:
            found += 1
        if (r["c_level"] or 0) >= 4 and (r["s_level"] if r["s_level"] is not None else 9) <= 1:
            found += 1
        if r["protocol"] in ("rdp", "vnc", "ssh") and (r["s_level"] or 9) <= 2 and r["c_zone"] != r["s_zone"]:
            found += 1
        if r["s_safety"] and r["c_zone"] != r["s_zone"] and writes:
            found += 1
        per_client[r["client_ip"]].add(r["server_ip"])
    return found + sum(1 for s in per_client.values() if len(s) >= 8)


class Phase:
    """Wall and process CPU seconds: on a shared machine wall time includes waiting for a core."""

    def __init__(self) -> None:
        self.wall, self.cpu = -time.perf_counter(), -time.process_time()

    def stop(self) -> Phase:
        self.wall += time.perf_counter()
        self.cpu += time.process_time()
        return self

    def __str__(self) -> str:
        return f"{self.wall:.3f} (cpu {self.cpu:.3f})"


def _run(evidence: Evidence, model: SiteModel) -> tuple[Phase, Phase, dict[str, CheckRun]]:
    """Cold load + every applicable check: (load, queries, runs by check id)."""
    checks = [c for c in load_checks() if model.profile.applies(c.id)]
    load = Phase()
    db = build_database(evidence, model)
    load.stop()
    queries = Phase()
    runs = {c.id: run_check(db, c) for c in checks}
    queries.stop()
    db.con.close()
    return load, queries, runs


def _total(load: Phase, queries: Phase) -> str:
    return f"{load.wall + queries.wall:.3f} (cpu {load.cpu + queries.cpu:.3f})"


def _statuses(runs: dict[str, CheckRun]) -> str:
    statuses = [r.status for r in runs.values()]
    return (
        f"{len(statuses)} ({statuses.count('fail')} fail, {statuses.count('pass')} pass, "
        f"{statuses.count('not-assessed')} not-assessed, {statuses.count('error')} error)"
    )


def bench_engine() -> list[tuple[str, str]]:
    evidence, model = synthetic()
    load, queries, runs = _run(evidence, model)
    worst_evidence, worst_model = synthetic(mix=None)
    worst_load, worst_queries, worst_runs = _run(worst_evidence, worst_model)

    # plain-Python baseline over the same enriched rows (enrichment itself not counted for Python)
    conduits = {(c.from_zone, c.to_zone) for c in model.site.conduits}
    rows = []
    for f in evidence.flows:
        ch, sh = model.host(f.client_ip), model.host(f.server_ip)
        cz, sz = (ch.zone.id if ch.zone else ""), (sh.zone.id if sh.zone else "")
        rows.append(
            {
                "protocol": f.protocol,
                "ops": f.ops,
                "client_ip": f.client_ip,
                "server_ip": f.server_ip,
                "c_master": ch.is_master,
                "c_hmi": ch.is_hmi,
                "c_ews": ch.is_ews,
                "c_zone": cz,
                "s_zone": sz,
                "c_level": ch.zone.purdue_level if ch.zone else None,
                "s_level": sh.zone.purdue_level if sh.zone else None,
                "s_safety": sh.zone.safety if sh.zone else False,
                "allowed": cz == sz or (cz, sz) in conduits,
            }
        )
    py_started = time.perf_counter()
    _python_conditions(rows)
    py_seven = time.perf_counter() - py_started
    py_all = py_seven * len(runs) / 7
    inside, on_conduit = PLANT
    return [
        ("engine: flows / events", f"{len(evidence.flows)} / {len(evidence.events)}"),
        (
            "engine: plant flows in-zone / on conduits / off-conduit",
            f"{inside:.0%} / {on_conduit:.0%} / {1 - inside - on_conduit:.0%} "
            f"(ZC-01 rows: {len(runs['ZC-01'].rows)})",
        ),
        ("engine: checks run", _statuses(runs)),
        ("engine: load + enrich (s)", str(load)),
        ("engine: all check queries (s)", str(queries)),
        ("engine: total (s, target <= 2)", _total(load, queries)),
        ("engine: plain-Python 7 conditions (s)", f"{py_seven:.3f}"),
        ("engine: plain Python scaled to all checks / DuckDB queries", f"{py_all / queries.wall:.1f}x"),
        ("engine: worst case, random endpoints (ZC-01 rows)", f"{len(worst_runs['ZC-01'].rows)}"),
        ("engine: worst case checks run", _statuses(worst_runs)),
        ("engine: worst case load + enrich / queries (s)", f"{worst_load} / {worst_queries}"),
        ("engine: worst case total (s)", _total(worst_load, worst_queries)),
    ]


if __name__ == "__main__":
    for label, value in bench_engine():
        print(f"{label:<60} {value}")
