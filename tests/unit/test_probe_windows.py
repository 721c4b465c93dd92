"""A profile's probe_policy, enforced on every probe run (`icsaudit probe` and `audit --probe` share
icsaudit.probes.session): ``windows_required`` refuses probing unless the site declares a probe
window and now is inside one (one error line naming the profile and what to add; a dry run shows the
refusal and still prints the plan; audit keeps its passive evidence); ``max_pps`` caps the rate;
``min_csl`` refuses zones below it. Fake devices on 127.0.68.x count every connection."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from icsaudit.cli import main
from icsaudit.engine.site import SiteModel, parse_site
from icsaudit.errors import SafetyRefusal
from icsaudit.probes.session import ProbeRequest, prepare, probe
from tests.data.craft import ether, ipv4, pcap, tcp
from tests.unit.test_probe_fakes import FakeTcpDevice, modbus_identity_reply

PLC = "127.0.68.1"
SATURDAY_3AM = dt.datetime(2026, 3, 7, 3, 0)  # a Saturday
MONDAY_10AM = dt.datetime(2026, 3, 9, 10, 0)

# research-reactor: probe_policy {allowed: true, min_csl: 3, max_pps: 5, windows_required: true}
SITE = """
name: Windows test reactor
profile: {profile}
zones:
  - {{id: facility, template: {template}, cidrs: [127.0.68.1/32]}}
assets:
  - {{ip: {plc}, name: plc-facility, zone: facility, services: ["{port}:modbus"]}}
"""


@pytest.fixture
def device():
    fake = FakeTcpDevice(PLC, modbus_identity_reply)
    yield fake
    fake.close()


def write_site(
    tmp_path: Path, port: int, windows: list[str] | None = None, profile: str = "research-reactor"
) -> Path:
    template = "facility" if profile == "research-reactor" else "operations"  # both CSL 3
    text = SITE.format(profile=profile, template=template, plc=PLC, port=port)
    if windows is not None:
        text += f"probe_windows: {json.dumps(windows)}\n"
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def cli(*args: str | Path):
    return CliRunner().invoke(main, [*map(str, args)])


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def another_day() -> str:
    """A whole-day window on a day that is not today (three days off: no midnight race)."""
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[(dt.datetime.now().weekday() + 3) % 7]
    return f"{day} 00:00-24:00"


# ------------------------------------------------------------------------------- windows_required
def test_refused_when_the_site_declares_no_window(tmp_path: Path, device: FakeTcpDevice) -> None:
    path = write_site(tmp_path, device.port)
    with pytest.raises(SafetyRefusal) as refusal:
        probe(ProbeRequest(site_model=parse_site(path), targets=PLC, now=SATURDAY_3AM))
    message = refusal.value.message
    assert "profile research-reactor requires probe windows" in message
    assert "probe_windows" in message and str(path) in message
    # the CLI: one error line naming the profile and what to add, exit 3, no evidence, nothing sent
    out = tmp_path / "ev.json"
    result = cli("probe", "--site", path, "-o", out, "-q")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    (line,) = error_lines(result.output)
    assert "profile research-reactor" in line and "probe_windows:" in line and str(path) in line
    assert not out.exists()
    assert device.settled_connections() == 0 and device.requests == []


def test_refused_outside_the_sites_windows(tmp_path: Path, device: FakeTcpDevice) -> None:
    path = write_site(tmp_path, device.port, ["Sat 02:00-04:00"])
    with pytest.raises(SafetyRefusal) as refusal:
        probe(ProbeRequest(site_model=parse_site(path), targets=PLC, now=MONDAY_10AM))
    message = refusal.value.message
    assert "outside the site's probe windows (Sat 02:00-04:00)" in message
    assert "profile research-reactor requires" in message
    path = write_site(tmp_path, device.port, [another_day()])
    result = cli("probe", "--site", path, "-o", tmp_path / "ev.json", "-q")
    assert result.exit_code == 3, result.output
    (line,) = error_lines(result.output)
    assert "outside the site's probe windows" in line and "profile research-reactor" in line
    assert device.settled_connections() == 0 and device.requests == []


def test_allowed_inside_a_window(tmp_path: Path, device: FakeTcpDevice) -> None:
    path = write_site(tmp_path, device.port, ["Sat 02:00-04:00"])
    outcome = probe(ProbeRequest(site_model=parse_site(path), targets=PLC, now=SATURDAY_3AM))
    assert outcome.results == 1
    path = write_site(tmp_path, device.port, ["daily 00:00-24:00"])  # always open
    out = tmp_path / "ev.json"
    result = cli("probe", "--site", path, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["identities"][0]["fields"]["vendor"] == "Acme"
    assert device.settled_connections() == 2


@pytest.mark.parametrize("windows", [None, "another day"])
def test_dry_run_shows_the_refusal_and_the_plan(
    tmp_path: Path, device: FakeTcpDevice, windows: str | None
) -> None:
    path = write_site(tmp_path, device.port, [another_day()] if windows else None)
    prep = prepare(ProbeRequest(site_model=parse_site(path), targets=PLC), dry_run=True)
    assert isinstance(prep.window_refusal, SafetyRefusal)
    prep.log.close()
    result = cli("probe", "--site", path, "--dry-run")
    assert result.exit_code == 0, result.output
    refused = [x for x in result.output.splitlines() if x.startswith("refused: a real run now:")]
    assert len(refused) == 1 and "profile research-reactor" in refused[0]
    assert f"{PLC}:{device.port}/tcp modbus" in result.output  # the plan is still printed
    assert "nothing sent; a real run now would be refused" in result.output
    assert device.settled_connections() == 0 and device.requests == []


def test_windows_required_false_changes_nothing(tmp_path: Path, device: FakeTcpDevice) -> None:
    # water-chlorine has windows_required: false: no window needed
    path = write_site(tmp_path, device.port, profile="water-chlorine")
    out = tmp_path / "ev.json"
    result = cli("probe", "--site", path, "-o", out, "-q")
    assert result.exit_code == 0, result.output
    result = cli("probe", "--site", path, "--dry-run")
    assert result.exit_code == 0 and "a real run now" not in result.output
    # the same reactor site, its profile's flag turned off: probed without any window
    model = parse_site(write_site(tmp_path, device.port))
    policy = {**model.profile.probe_policy, "windows_required": False}
    relaxed = SiteModel(model.site, msgspec.structs.replace(model.profile, probe_policy=policy))
    assert probe(ProbeRequest(site_model=relaxed, targets=PLC, now=MONDAY_10AM)).results == 1
    # a site's own windows still hold when the profile does not require them
    windowed = parse_site(write_site(tmp_path, device.port, ["Sat 02:00-04:00"], profile="water-chlorine"))
    with pytest.raises(SafetyRefusal, match="outside the site's probe windows") as refusal:
        probe(ProbeRequest(site_model=windowed, targets=PLC, now=MONDAY_10AM))
    assert "requires" not in refusal.value.message
    assert device.settled_connections() == 2


def test_audit_keeps_passive_evidence_when_probing_is_refused(tmp_path: Path, device: FakeTcpDevice) -> None:
    path = write_site(tmp_path, device.port)
    frames = [ether(ipv4("127.0.68.9", PLC, 6, tcp(40000, 502, 1 + i, b"\x00"))) for i in range(10)]
    capture = tmp_path / "span.pcap"
    capture.write_bytes(pcap([(1_700_000_000 + i * 0.01, f) for i, f in enumerate(frames)]))
    out = tmp_path / "out"
    result = cli("audit", "--site", path, "--pcap", capture, "--probe", "-q", "--fail-on", "none", "-o", out)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    stage = [x for x in result.output.splitlines() if x.strip().startswith("probe:")]
    assert len(stage) == 1 and "nothing probed: profile research-reactor requires probe windows" in stage[0]
    assert any(x.startswith("warning: probe: profile research-reactor") for x in result.output.splitlines())
    evidence = json.loads((out / "evidence.json").read_text())
    assert {(f["client_ip"], f["server_ip"]) for f in evidence["flows"]} == {("127.0.68.9", PLC)}
    assert evidence["capture"]["sources"] != [] and not (out / "probe-evidence.json").exists()
    assert (out / "assessment.json").exists() and (out / "bundle").exists()
    assert device.settled_connections() == 0 and device.requests == []


# ------------------------------------------------------------------------------- max_pps, min_csl
def test_profile_max_pps_caps_the_rate(tmp_path: Path) -> None:
    model = parse_site(write_site(tmp_path, 502, ["daily 00:00-24:00"]))  # research-reactor: max_pps 5
    prep = prepare(ProbeRequest(site_model=model, targets=PLC, rate=50), dry_run=True)
    assert prep.rate == 5 and prep.guard.pps == 5
    assert "rate capped at 5 packets/s by profile research-reactor" in prep.notes
    prep = prepare(ProbeRequest(site_model=model, targets=PLC, rate=2), dry_run=True)
    assert prep.rate == 2  # a lower requested rate stands
    result = cli("probe", "--site", tmp_path / "site.yaml", "--rate", "50", "--dry-run")
    assert result.exit_code == 0 and "note: rate capped at 5 packets/s" in result.output


def test_profile_min_csl_refuses_zones_below_it(tmp_path: Path) -> None:
    from icsaudit.probes.guard import TargetPolicy

    path = tmp_path / "site.yaml"
    path.write_text(
        SITE.format(profile="research-reactor", template="facility", plc=PLC, port=502)
        + "  - {ip: 127.0.68.20, name: it-server, zone: it}\n"
    )
    path.write_text(
        path.read_text().replace("zones:\n", "zones:\n  - {id: it, template: it, cidrs: [127.0.68.16/28]}\n")
    )
    model = parse_site(path)  # facility: CSL 3, it: CSL 4
    assert model.zones["facility"].probe_allowed and model.zones["it"].probe_allowed
    policy = {**model.profile.probe_policy, "min_csl": 4}
    strict = SiteModel(model.site, msgspec.structs.replace(model.profile, probe_policy=policy))
    assert not strict.zones["facility"].probe_allowed and strict.zones["it"].probe_allowed
    rule = TargetPolicy.from_site(strict).refusal(PLC)
    assert rule == (
        f"{PLC} is in zone facility: CSL 3 (profile research-reactor allows probes only from CSL 4: min_csl)"
    )
    assert TargetPolicy.from_site(strict).refusal("127.0.68.20") is None
    prep = prepare(ProbeRequest(site_model=strict, check_window=False), dry_run=True)
    assert PLC not in prep.hosts and "127.0.68.20" in prep.hosts
    prep.log.close()
