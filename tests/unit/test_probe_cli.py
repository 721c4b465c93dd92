"""`icsaudit probe`: dry run sends nothing, bad input is one line and a non-zero exit, a real run
writes evidence whose identities point at transcript lines, an unreachable target is one warning."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from icsaudit.cli import main
from tests.unit.test_probe_fakes import FakeTcpDevice, modbus_identity_reply


def run(*args: str):
    return CliRunner().invoke(main, ["probe", *args])


def test_help_has_example() -> None:
    result = run("--help")
    assert result.exit_code == 0 and "Example:" in result.output


def test_dry_run_prints_every_request_and_sends_nothing() -> None:
    device = FakeTcpDevice("127.0.63.71", modbus_identity_reply)
    try:
        result = run(
            "--target",
            "127.0.63.71",
            "--ports",
            f"{device.port}:modbus,{device.port}:s7",
            "--dry-run",
            "--unit-id",
            "1",
            "--unit-id",
            "2",
        )
        assert result.exit_code == 0, result.output
        lines = [x for x in result.output.splitlines() if x.startswith("127.0.63.71")]
        assert len(lines) == 4 + 6  # 2 units x basic/regular, S7: CR, setup, 4 SZL reads
        assert f"127.0.63.71:{device.port}/tcp modbus  000100000005012b0e0100  unit 1" in result.output
        assert "nothing sent" in result.output
        assert device.settled_connections() == 0 and device.requests == []
    finally:
        device.close()


def test_bad_input_is_one_line() -> None:
    cases = [
        ([], "nothing to probe"),
        (["--target", "plc.example", "--dry-run"], "not an IP address"),
        (["--target", "127.0.63.1", "--ports", "9999", "--dry-run"], "no standard probe"),
        (["--target", "127.0.63.1", "--ports", "502:write", "--dry-run"], "unknown probe"),
        (["--target", "127.0.63.1", "--timeout", "1", "--dry-run"], "below the 2 s minimum"),
        (["--target", "127.0.63.1"], "no output file"),
    ]
    for args, words in cases:
        result = run(*args)
        assert result.exit_code != 0, args
        errors = [x for x in result.output.splitlines() if x.startswith("error:")]
        assert len(errors) == 1 and words in errors[0], result.output


def test_snmp_credentials_come_from_a_file(tmp_path: Path) -> None:
    creds = tmp_path / "snmp.yaml"
    creds.write_text("community: s3cret\n")
    result = run("--target", "127.0.63.5", "--ports", "161", "--snmp-credentials", str(creds), "--dry-run")
    assert result.exit_code == 0 and "GET sysDescr" in result.output and b"s3cret".hex() in result.output
    creds.write_text("user: admin\nv3: {auth: sha}\n")
    result = run("--target", "127.0.63.5", "--ports", "161", "--snmp-credentials", str(creds), "--dry-run")
    assert result.exit_code != 0 and "SNMPv3" in result.output


def test_real_run_writes_evidence_and_goes_on_past_an_unreachable_target(tmp_path: Path) -> None:
    device = FakeTcpDevice("127.0.63.81", modbus_identity_reply)
    try:
        out = tmp_path / "ev.json"
        result = run(
            "--target", "127.0.63.81,127.0.63.82", "--ports", f"{device.port}:modbus", "-o", str(out), "-q"
        )
        assert result.exit_code == 0, result.output
        evidence = json.loads(out.read_text())
        assert evidence["capture"]["sources"] == ["probe:modbus"]
        (identity,) = evidence["identities"]
        assert identity["fields"]["vendor"] == "Acme" and identity["fields"]["model"] == "PLC-9X"
        transcript = tmp_path / "ev.transcript.jsonl"
        assert identity["ref"]["file"] == str(transcript)
        lines = transcript.read_text().splitlines()
        assert json.loads(lines[identity["ref"]["frame"] - 1])["event"] == "reply"
        assert evidence["assets"][0]["vendor"] == "Acme"
        assert evidence["assets"][0]["provenance"]["vendor"]["ref"]["source"] == "probe:modbus"
        assert all("verdict" in json.loads(x) for x in lines if json.loads(x)["event"] == "request")
        assert "1 identities/banners from 1 hosts" in result.output
        warnings = [x for x in result.output.splitlines() if x.startswith("warning: 127.0.63.82")]
        assert len(warnings) == 1 and "unreachable or closed" in warnings[0]
    finally:
        device.close()


SERVICES_SITE = """
name: Declared services works
profile: water-chlorine
zones:
  - {{id: process, template: process, cidrs: [127.0.63.80/29]}}
assets:
  - {{ip: 127.0.63.81, name: plc-declared, zone: process, services: ["{port}:modbus"]}}
"""


def test_declared_services_are_the_only_ports_asked(tmp_path: Path) -> None:
    """A site that declares an asset's services: the other ports of the run see no packet at all;
    an explicit --ports narrows the declared services, and is told what it left out."""
    from icsaudit.engine.site import parse_site
    from icsaudit.probes.session import ProbeRequest, probe

    declared = FakeTcpDevice("127.0.63.81", modbus_identity_reply)
    other = FakeTcpDevice("127.0.63.81", modbus_identity_reply)  # open, but not declared
    try:
        path = tmp_path / "site.yaml"
        path.write_text(SERVICES_SITE.format(port=declared.port))
        site = parse_site(path)
        outcome = probe(ProbeRequest(site_model=site, targets="127.0.63.81", check_window=False))
        assert outcome.results == 1 and declared.settled_connections() == 1
        ports = f"{other.port}:modbus,{declared.port}:modbus"
        outcome = probe(ProbeRequest(site_model=site, targets="127.0.63.81", ports=ports, check_window=False))
        assert outcome.results == 1 and declared.settled_connections() == 2
        assert (
            f"127.0.63.81: ports {other.port} not probed: the site declares other services" in outcome.notes
        )
        assert other.connections == 0 and other.requests == []
        # a dry run plans the same: declared services only, and no discovery sweep of the range
        result = run(
            "--site",
            str(path),
            "--target",
            "127.0.63.81",
            "--ports",
            ports,
            "--discover",
            "connect",
            "--dry-run",
        )
        assert result.exit_code == 0, result.output
        assert f":{other.port}/" not in result.output and "discovery" not in result.output
        assert f"127.0.63.81:{declared.port}/tcp modbus" in result.output
    finally:
        declared.close()
        other.close()


def test_a_bad_declared_service_names_the_asset(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SERVICES_SITE.format(port="9999").replace(':modbus"', '"'))
    result = run("--site", str(path), "--dry-run")
    assert result.exit_code != 0
    assert "site asset plc-declared: services: port 9999 has no standard probe" in result.output
