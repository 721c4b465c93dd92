"""Check fixtures: small YAML files holding a site model and evidence, for ``icsaudit checks test``.

A fixture may name a ``base`` fixture (relative path): its site keys replace the base's, its evidence
lists are appended to the base's. Ids and references left out are filled in deterministically so a
fixture says only what matters to the check (a flow is client, server, protocol and its ops).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from icsaudit.engine.checks import FIXTURE_KINDS, Check
from icsaudit.engine.model import Site
from icsaudit.engine.profiles import load_profile
from icsaudit.engine.runner import run_check
from icsaudit.engine.site import SiteModel
from icsaudit.engine.tables import build_database
from icsaudit.engine.yamldoc import load_yaml
from icsaudit.errors import InputError
from icsaudit.evidence.model import Evidence
from icsaudit.ids import digest_id

DEFAULT_PORTS = {
    "modbus": 502,
    "s7comm": 102,
    "s7comm_plus": 102,
    "enip": 44818,
    "cip": 44818,
    "dnp3": 20000,
    "iec104": 2404,
    "bacnet": 47808,
    "opcua": 4840,
    "mms": 102,
    "fins": 9600,
    "telnet": 23,
    "ftp": 21,
    "tftp": 69,
    "http": 80,
    "snmp": 161,
    "ssh": 22,
    "tls": 443,
    "rdp": 3389,
    "vnc": 5900,
    "smb": 445,
    "dns": 53,
    "ntp": 123,
    "syslog": 514,
    "teamviewer": 5938,
    "anydesk": 7070,
    "goose": 0x88B8,
    "sv": 0x88BA,
    "profinet_dcp": 0x8892,
}
UDP_PROTOCOLS = {"bacnet", "snmp", "tftp", "dns", "ntp", "syslog", "fins"}
ETH_PROTOCOLS = {"goose", "sv", "profinet_dcp"}


def _fill_evidence(evidence: dict[str, Any]) -> dict[str, Any]:
    for flow in evidence.get("flows", []):
        proto = flow.setdefault("protocol", "unknown")
        flow.setdefault(
            "transport", "eth" if proto in ETH_PROTOCOLS else "udp" if proto in UDP_PROTOCOLS else "tcp"
        )
        flow.setdefault("server_port", DEFAULT_PORTS.get(proto, 0))
        flow.setdefault("packets", 10)
        flow.setdefault("bytes", 1000)
        flow.setdefault("first_seen", 1_700_000_000.0)
        flow.setdefault("last_seen", 1_700_000_600.0)
        flow.setdefault(
            "flow_id",
            digest_id(flow["client_ip"], flow["server_ip"], flow["transport"], flow["server_port"], proto),
        )
        flow.setdefault(
            "first_ref",
            {"source": f"passive:{proto}", "file": "fixture.pcap", "frame": 1, "ts": flow["first_seen"]},
        )
    for index, event in enumerate(evidence.get("events", []), start=1):
        event.setdefault("protocol", "unknown")
        event.setdefault("category", event.get("kind", "other"))
        event.setdefault(
            "ref",
            {
                "source": f"passive:{event['protocol']}",
                "file": "fixture.pcap",
                "frame": 100 + index,
                "ts": 1_700_000_100.0 + index,
            },
        )
        event.setdefault(
            "event_id",
            digest_id(
                "event",
                index,
                event.get("kind"),
                event.get("client_ip"),
                event.get("server_ip"),
                event.get("function"),
            ),
        )
    for service in evidence.get("services", []):
        service.setdefault("asset_id", service["ip"])
        service.setdefault("transport", "udp" if service["protocol"] in UDP_PROTOCOLS else "tcp")
        service.setdefault("port", DEFAULT_PORTS.get(service["protocol"], 0))
        service.setdefault("service_id", digest_id(service["ip"], service["transport"], service["port"]))
    for index, ident in enumerate(evidence.get("identities", []), start=1):
        ident.setdefault("asset_id", ident.get("ip", ""))
        ident.setdefault(
            "ref", {"source": f"passive:{ident['protocol']}", "file": "fixture.pcap", "frame": 200 + index}
        )
        ident.setdefault("identity_id", digest_id("identity", ident["asset_id"], ident["protocol"]))
    for asset in evidence.get("assets", []):
        asset.setdefault("ip", asset["asset_id"])
    return evidence


@dataclass
class Fixture:
    path: Path
    site: SiteModel
    evidence: Evidence
    baseline: Evidence | None
    vulnerabilities: list[dict[str, Any]] | None
    vulnerability_assets: list[dict[str, Any]] | None


def _raw(path: Path) -> dict[str, Any]:
    doc = load_yaml(path)
    data = doc.data
    if not isinstance(data, dict) or not ({"site", "evidence", "base"} & set(data)):
        raise doc.error((), "a fixture is a mapping with base, site and/or evidence")
    if "base" in data:
        base = _raw((path.parent / data["base"]).resolve())
        site = {**base.get("site", {}), **data.get("site", {})}
        evidence = dict(base.get("evidence", {}))
        for key, value in data.get("evidence", {}).items():
            evidence[key] = [*evidence.get(key, []), *value] if isinstance(value, list) else value
        merged = {**base, **data, "site": site, "evidence": evidence}
        merged.pop("base")
        return merged
    return data


@cache
def load_fixture(path: str | Path) -> Fixture:
    path = Path(path)
    data = _raw(path)
    try:
        site = msgspec.convert(data["site"], Site)
        evidence = msgspec.convert(_fill_evidence(data.get("evidence", {})), Evidence)
        baseline = msgspec.convert(_fill_evidence(data["baseline"]), Evidence) if "baseline" in data else None
    except msgspec.ValidationError as exc:
        raise InputError(f"{path}: invalid fixture: {exc}") from None
    model = SiteModel(site, load_profile(site.profile), str(path))
    return Fixture(
        path, model, evidence, baseline, data.get("vulnerabilities"), data.get("vulnerability_assets")
    )


@dataclass
class FixtureResult:
    check_id: str
    fixture: str
    expected: str
    status: str
    reason: str
    rows: int

    @property
    def ok(self) -> bool:
        return self.status == self.expected


def run_fixture(check: Check, path: Path, expected: str) -> FixtureResult:
    fixture = load_fixture(path)
    db = build_database(
        fixture.evidence,
        fixture.site,
        baseline=fixture.baseline,
        vulnerabilities=fixture.vulnerabilities,
        vulnerability_assets=fixture.vulnerability_assets,
    )
    try:
        run = run_check(db, check)
    finally:
        db.con.close()
    return FixtureResult(check.id, str(path), expected, run.status, run.reason, len(run.rows))


def test_checks(checks: list[Check]) -> list[FixtureResult]:
    """Every check must fail on its fail fixtures, pass on its pass fixtures and be not-assessed on its
    not-assessed fixtures."""
    results = []
    for check in checks:
        for kind in FIXTURE_KINDS:
            for path in check.fixture_paths(kind):
                results.append(run_fixture(check, path, kind))
    return results
