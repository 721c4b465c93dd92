"""Proof on the lab: every probe against every scenario, judged by the devices' own journals.

Per scenario (all faults on, background traffic off so that every journal line is ours):
- zero write, control, program, mode or firmware requests reached any device;
- devices the scenario's own site model refuses (CSL 1-2 or safety zones, zone templates whose
  probe_allowed is false, the do-not-probe list) received nothing at all (their journals are empty),
  although they were handed to the prober;
- every other device was probed on the services its site asset declares, and identified itself;
- the configured packet-rate cap held, on the transcript and on the device journal timestamps.

Every scenario has both: a refused zone with a device in it, and a probe-allowed device.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.lab
control = pytest.importorskip("icsaudit.lab.control")
scenarios = pytest.importorskip("icsaudit.lab.scenarios")

from icsaudit.engine.profiles import load_profile  # noqa: E402
from icsaudit.engine.site import SiteModel  # noqa: E402
from icsaudit.probes.evidence import build_evidence  # noqa: E402
from icsaudit.probes.guard import BURST_GAP, Guard, TargetPolicy, Transcript  # noqa: E402
from icsaudit.probes.registry import PortSpec  # noqa: E402
from icsaudit.probes.run import declared_from_site, host_specs, make_target, run_probes  # noqa: E402
from tests.unit.test_probe_fakes import busiest_second  # noqa: E402

FORBIDDEN = {"write", "control", "program", "mode", "firmware"}
RATE = 20.0
LAB_PROBES = {
    "modbus": "modbus",
    "s7comm": "s7",
    "enip": "enip",
    "bacnet": "bacnet",
    "opcua": "opcua",
    "dnp3": "dnp3",
    "iec104": "iec104",
    "snmp": "snmp",
    "telnet": "telnet",
    "ftp": "ftp",
    "http": "http",
    "ssh": "ssh",
    "vnc": "vnc",
}


def is_refused(policy: TargetPolicy, address: str) -> bool:
    return policy.refusal(address) is not None


@pytest.fixture(scope="module", params=scenarios.scenario_ids())
def probed_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One lab run per scenario, probed once; the tests below judge the same run."""
    scenario = scenarios.load_scenario(request.param)
    tmp_path = tmp_path_factory.mktemp(scenario.id)
    root = tmp_path / "lab"
    with control.running(scenario.id, list(scenario.faults), traffic=False, root=root) as state:
        # the scenario's own site model, its zones' profile templates applied by the loader
        site = SiteModel(scenario.site, load_profile(scenario.site.profile))
        devices = state["devices"]
        addresses = sorted({d["address"] for d in devices})
        policy = TargetPolicy.from_site(site, ",".join(addresses))
        listening: dict[str, list[PortSpec]] = {}
        for device in devices:
            listening.setdefault(device["address"], []).append(
                PortSpec(device["port"], LAB_PROBES[device["protocol"]])
            )
        specs = {
            s.name: s for s in scenario.devices + [d for f in scenario.faults.values() for d in f.devices]
        }
        declared = declared_from_site(site)
        # as `icsaudit probe --site` does: a host whose asset declares services is asked on those only
        hosts = {ip: host_specs(ports, declared.get(ip), False)[0] for ip, ports in listening.items()}
        dnp3 = {
            s.address: (int(s.options.get("dnp3_address", 10)),)
            for s in specs.values()
            if s.protocol == "dnp3"
        }
        community = {
            s.address: str(s.options.get("community", "public"))
            for s in specs.values()
            if s.protocol == "snmp"
        }

        def make(ip: str, spec: PortSpec):
            # the community stands for the credentials file a facility would give by path
            return make_target(ip, spec, declared.get(ip), (1,), dnp3.get(ip, ()), community.get(ip))

        transcript = Transcript(tmp_path / "transcript.jsonl")
        guard = Guard(policy, rate=RATE, transcript=transcript)
        report = run_probes(guard, hosts, make)
        transcript.close()
        journal = control.journal(root)
    return {
        "scenario": scenario,
        "site": site,
        "policy": policy,
        "devices": devices,
        "report": report,
        "guard": guard,
        "journal": journal,
        "transcript": transcript,
    }


def test_no_forbidden_request_reached_any_device(probed_lab: dict[str, Any]) -> None:
    journal = probed_lab["journal"]
    assert journal, "the probes reached no device"
    forbidden = [r for r in journal if r["category"] in FORBIDDEN]
    assert forbidden == []


def test_marked_zones_received_nothing(probed_lab: dict[str, Any]) -> None:
    policy = probed_lab["policy"]
    refused = {d["name"] for d in probed_lab["devices"] if is_refused(policy, d["address"])}
    assert refused, "every scenario has a refused zone with a device in it"
    reached = {r["device"] for r in probed_lab["journal"]}
    assert refused & reached == set()
    refusals = [r for r in probed_lab["transcript"].records if r["event"] == "refused"]
    for device in probed_lab["devices"]:
        if device["name"] in refused:
            assert any(r["target"] == device["address"] for r in refusals)
    connected = {
        r["target"] for r in probed_lab["transcript"].records if r["event"] in ("connect", "request", "open")
    }
    assert connected.isdisjoint({d["address"] for d in probed_lab["devices"] if d["name"] in refused})
    # CSL 1-2 and safety zones are refused by the guard's own rule, whatever the template says
    for device in probed_lab["devices"]:
        zone = probed_lab["site"].zone_of(device["address"])
        if zone is not None and (zone.safety or (zone.csl is not None and zone.csl <= 2)):
            assert device["name"] in refused, device["name"]


def test_every_allowed_device_was_probed_and_identified(probed_lab: dict[str, Any]) -> None:
    policy = probed_lab["policy"]
    results = {(r.ip, r.port) for r in probed_lab["report"].results}
    identified = {(r.ip, r.port) for r in probed_lab["report"].results if r.fields}
    reached = {r["device"] for r in probed_lab["journal"]}
    allowed = [d for d in probed_lab["devices"] if not is_refused(policy, d["address"])]
    assert allowed, "every scenario has a probe-allowed device"
    assert {(d["address"], d["port"]) for d in allowed} & identified, probed_lab["report"].results
    for device in allowed:
        assert device["name"] in reached or device["protocol"] in (
            "ssh",
            "vnc",
            "ftp",
        )  # listened to only, device["name"]
        assert (device["address"], device["port"]) in results, (device["name"], probed_lab["report"].warnings)
    evidence = build_evidence(probed_lab["report"].results, probed_lab["transcript"])
    assert {i.ref.source for i in evidence.identities} <= set(evidence.capture.sources)
    assert all(i.ref.file.endswith("transcript.jsonl") and i.ref.frame > 0 for i in evidence.identities)


def test_rate_cap_held(probed_lab: dict[str, Any]) -> None:
    sends = [r["ts"] for r in probed_lab["transcript"].records if r["event"] in ("connect", "request")]
    assert sends, "every scenario has a probe-allowed device"
    # the cap is a count per second (sends may leave as a burst): timestamps are taken inside each
    # paced slot, a few ms allow for the wall clock against the limiter's monotonic one
    assert busiest_second(sends, 1.0 - 0.005) <= RATE, sends
    assert min(b - a for a, b in zip(sends, sends[1:], strict=False)) >= BURST_GAP * 0.9
    received = [r["ts"] for r in probed_lab["journal"]]
    assert busiest_second(received) <= RATE + 1  # device-side receive times jitter by a packet
