"""Profiles load; synthetic sites per profile assess end to end; bad sites/profiles name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from icsaudit.engine.assess import assess
from icsaudit.engine.profiles import load_profile_file, load_profiles, profile_ids
from icsaudit.engine.site import parse_site
from icsaudit.errors import InputError
from icsaudit.evidence.model import Capture, Evidence, Flow
from icsaudit.ids import digest_id
from icsaudit.paths import data_dir

SITES = Path(__file__).resolve().parent.parent / "data" / "sites"
PROFILES = [
    "nuclear-power",
    "research-reactor",
    "radioactive-source",
    "chemical-toxic",
    "bsl-lab",
    "water-chlorine",
]


def test_six_profiles_load() -> None:
    assert profile_ids() == sorted(PROFILES)
    for profile in load_profiles():
        assert all(not (t.probe_allowed and (t.csl <= 2 or t.safety)) for t in profile.zone_templates)


def _flow(client: str, server: str, protocol: str, port: int, **ops: int) -> Flow:
    return Flow(
        flow_id=digest_id(client, server, protocol),
        client_ip=client,
        server_ip=server,
        transport="tcp",
        server_port=port,
        protocol=protocol,
        packets=20,
        first_seen=1.7e9,
        last_seen=1.7e9 + 60,
        ops=ops,
    )


def synthetic_evidence(model) -> Evidence:
    """Normal HMI polling of every level-1 zone, plus an IT host writing Modbus to the first field device."""
    zones = model.site.zones
    hmi = model.site.hmis[0]
    it = next(z for z in zones if model.zones[z.id].purdue_level == 4)
    field = [z for z in zones if model.zones[z.id].purdue_level <= 1]
    flows = [_flow(hmi, z.cidrs[0].replace("0/24", "5"), "modbus", 502, read=100) for z in field]
    intruder = it.cidrs[0].replace("0/24", "66")
    flows.append(_flow(intruder, field[0].cidrs[0].replace("0/24", "5"), "modbus", 502, write=3))
    return Evidence(
        capture=Capture(packets=10_000, first_ts=1.7e9, last_ts=1.7e9 + 3600, sources=["passive"]),
        flows=flows,
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_synthetic_site_end_to_end(profile: str) -> None:
    model = parse_site(SITES / f"{profile}.yaml")
    assert model.profile.id == profile
    result = assess(synthetic_evidence(model), model)
    by_check = {}
    for finding in result.findings:
        by_check.setdefault(finding.check_id, []).append(finding)
    # the IT host writing to a level 0-1 device: direct IT->field (critical), no conduit, not a master
    assert [f.row["client_ip"] for f in by_check["ZC-02"]] == [next(iter(by_check["ZC-02"])).row["client_ip"]]
    assert by_check["ZC-02"][0].severity == "critical"
    assert by_check["ZC-02"][0].row["client_ip"].endswith(".66")
    assert by_check["IC-01"][0].row["ops_write"] == 3
    assert any(f.row.get("client_ip", "").endswith(".66") for f in by_check["ZC-01"])
    statuses = {r.check_id: r.status for r in result.results}
    assert "error" not in statuses.values()
    assert statuses["IC-04"] == "not-assessed"  # no DNP3 traffic: never a silent pass
    assert statuses["RA-01"] == "pass"
    assert result.summary["unzoned_hosts"] == []
    assert all(fw.requirements for fw in result.frameworks)


def test_unzoned_hosts_are_reported_not_dropped() -> None:
    model = parse_site(SITES / "water-chlorine.yaml")
    evidence = synthetic_evidence(model)
    from icsaudit.passive.inventory import build_assets

    evidence.flows.append(_flow("192.168.77.7", "10.1.0.5", "modbus", 502, read=1))
    evidence.assets = build_assets(evidence)
    result = assess(evidence, model)
    assert "192.168.77.7" in result.summary["unzoned_hosts"]
    record = next(a for a in result.assets if a.ip == "192.168.77.7")
    assert record.zone == ""


def test_zone_lookup_asset_list_beats_most_specific_cidr(tmp_path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("""name: t
profile: water-chlorine
zones:
  - {id: wide, template: it, cidrs: [10.0.0.0/8]}
  - {id: narrow, template: scada, cidrs: [10.1.0.0/16]}
  - {id: pinned, template: chlorine, assets: [10.1.2.3]}
""")
    model = parse_site(path)
    assert model.zone_of("10.9.9.9").id == "wide"
    assert model.zone_of("10.1.9.9").id == "narrow"
    assert model.zone_of("10.1.2.3").id == "pinned"
    assert model.zone_of("172.16.0.1") is None
    assert model.zones["pinned"].probe_allowed is False  # template forbids it


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("name: t\nprofile: oil-rig\n", 2, "valid profiles: bsl-lab, chemical-toxic"),
        ("name: t\nprofile: bsl-lab\nzones:\n  - {id: a, csl: 9}\n", 4, "9 is not one of 1, 2, 3, 4, 5"),
        (
            "name: t\nprofile: bsl-lab\nzones:\n  - {id: a, template: reactor}\n",
            4,
            "no zone template 'reactor'",
        ),
        ("name: t\nprofile: bsl-lab\nzones:\n  - {id: a, cidrs: [10.0.0.300/24]}\n", 4, "is not a CIDR"),
        ("name: t\nprofile: bsl-lab\nconduits:\n  - {from: a, to: b}\n", 4, "unknown zone 'a'"),
        ("name: t\nprofile: bsl-lab\ncolour: red\n", 3, "colour"),
    ],
)
def test_bad_site_names_file_and_line(tmp_path, text: str, line: int, words: str) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        parse_site(path)
    assert f"{path}:{line}:" in info.value.message
    assert words in info.value.message


def test_bad_profile_names_file_and_line(tmp_path) -> None:
    text = (data_dir("profiles") / "bsl-lab.yaml").read_text()
    bad = text.replace(
        "containment-hvac, criticality: 5}", "containment-hvac, criticality: 5, probe_allowed: true}", 1
    )
    # duplicate key in flow mapping is a YAML error; make it a schema-level probe violation instead
    bad = text.replace(
        "safety: true, probe_allowed: false, function: containment-hvac",
        "safety: true, probe_allowed: true, function: containment-hvac",
    )
    path = tmp_path / "bsl-lab.yaml"
    path.write_text(bad)
    line = next(
        i for i, ln in enumerate(bad.splitlines(), 1) if "probe_allowed: true, function: containment" in ln
    )
    with pytest.raises(InputError) as info:
        load_profile_file(path)
    assert f"{path}:{line}:" in info.value.message and "never allowed" in info.value.message
