"""Contracts of the judging half: the site model (input, written by the facility) and the
assessment (output, what the evidence means). Engine, lab, reports and probes all use these.

The assessment has a versioned JSON schema generated from these structs
(``icsaudit/engine/assessment.schema.json``) and is written atomically.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

ASSESSMENT_SCHEMA_VERSION = "1.0"

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
Status = Literal["fail", "pass", "not-assessed", "error"]
RequirementStatus = Literal[
    "satisfied",
    "not-satisfied",
    "not-assessed",
    "answered-yes",
    "answered-no",
    "answered-partial",
    "not-applicable",
]


# --------------------------------------------------------------------------------------------
# Site model (site.yaml)
# --------------------------------------------------------------------------------------------
class SiteZone(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str = ""
    template: str = ""  # zone template id from the profile; its levels apply unless set here
    cidrs: list[str] = []
    assets: list[str] = []  # individual addresses (take precedence over CIDRs)
    purdue_level: float | None = None  # 0, 1, 2, 3, 3.5, 4, 5
    csl: int | None = None  # IAEA NSS 17-T computer security level, 1 (most stringent) .. 5
    sl_t: int | None = None  # IEC 62443 target security level 1..4
    safety: bool | None = None  # safety instrumented / protection zone
    one_way: bool | None = None  # only outbound flows allowed (data diode)
    probe_allowed: bool | None = None  # can only make the profile stricter
    # e.g. "containment-hvac", "chlorine-dosing", "physical-protection", "radiation-monitoring"
    function: str = ""


class SiteConduit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str = ""
    from_zone: str = msgspec.field(name="from")
    to_zone: str = msgspec.field(name="to")
    protocols: list[str] = []  # empty: any protocol
    ports: list[int] = []  # empty: any port
    via: list[str] = []  # hosts the conduit must pass through (jump host, proxy)
    one_way: bool = False


class SiteAsset(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ip: str = ""
    mac: str = ""
    name: str = ""
    role: str = ""  # plc, rtu, ied, hmi, ews, historian, master, server, it-host, network, ...
    zone: str = ""
    criticality: str = ""  # low | medium | high | critical
    vendor: str = ""
    model: str = ""
    expected_firmware: str = ""
    unit_ids: list[int] = []  # Modbus unit ids it answers (probes ask only these)
    dnp3_addresses: list[int] = []
    # ports it serves, written as --ports writes them (502, "10502:modbus"); when given, probes ask
    # only these ports of this asset (empty: not declared, the run's port list applies)
    services: list[int | str] = []
    tags: list[str] = []


class Site(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    profile: str  # profile id, e.g. "water-chlorine"
    facility_id: str = ""
    zones: list[SiteZone] = []
    conduits: list[SiteConduit] = []
    assets: list[SiteAsset] = []
    masters: list[str] = []  # hosts allowed to issue commands/writes
    engineering_workstations: list[str] = []
    hmis: list[str] = []
    jump_hosts: list[str] = []
    log_collectors: list[str] = []
    time_servers: list[str] = []
    do_not_probe: list[str] = []
    probe_windows: list[str] = []  # e.g. "Sat 02:00-04:00"
    baseline: str = ""  # path to the evidence of a baseline period (new function codes, new masters)


# --------------------------------------------------------------------------------------------
# Assessment
# --------------------------------------------------------------------------------------------
class EvidenceLink(msgspec.Struct, kw_only=True):
    """What a finding rests on: ids into the evidence tables and frame references."""

    flow_ids: list[str] = []
    event_ids: list[str] = []
    asset_ids: list[str] = []
    service_ids: list[str] = []
    identity_ids: list[str] = []
    frames: list[dict[str, Any]] = []  # [{file, frame, ts, source}]


class Risk(msgspec.Struct, kw_only=True):
    likelihood: int  # 1..5
    consequence: int  # 1..5
    score: int  # likelihood * consequence
    level: Severity
    factors: list[str] = []  # why: "reachable from IT", "KEV", "CSL 2 zone", "toxic release weight 5" ...


class Finding(msgspec.Struct, kw_only=True):
    finding_id: str  # stable: digest of check id and the evidence keys of the row
    check_id: str
    title: str
    severity: Severity  # effective severity after profile rules
    message: str
    zone: str = ""
    asset_ids: list[str] = []
    evidence: EvidenceLink = msgspec.field(default_factory=EvidenceLink)
    row: dict[str, Any] = {}  # the SQL row that produced the finding
    risk: Risk | None = None
    remediation: str = ""
    first_seen: float | None = None
    last_seen: float | None = None


class CheckResult(msgspec.Struct, kw_only=True):
    check_id: str
    title: str
    area: str
    status: Status
    severity: Severity  # effective severity for this site
    base_severity: Severity
    source: str = ""  # passive | probe | config (comma-separated)
    reason: str = ""  # why not-assessed / error
    findings: int = 0
    maps: dict[str, list[str]] = {}
    remediation: str = ""


class RequirementResult(msgspec.Struct, kw_only=True):
    id: str
    title: str
    status: RequirementStatus
    checks: list[str] = []
    answer: dict[str, Any] | None = None  # {value, comment, by, date}


class FrameworkCoverage(msgspec.Struct, kw_only=True):
    framework: str  # iec62443-3-3, nist-800-53r5, iaea-nss17, attack-ics, national rule id
    title: str
    requirements: list[RequirementResult] = []
    counts: dict[str, int] = {}  # status -> count


class ZoneSummary(msgspec.Struct, kw_only=True):
    id: str
    name: str = ""
    purdue_level: float | None = None
    csl: int | None = None
    sl_t: int | None = None
    safety: bool = False
    one_way: bool = False
    function: str = ""
    assets: int = 0
    observed: bool = False  # any traffic seen from/to the zone
    findings: dict[str, int] = {}  # severity -> count


class AssetRecord(msgspec.Struct, kw_only=True):
    asset_id: str
    ip: str = ""
    mac: str = ""
    name: str = ""
    zone: str = ""  # "" when the host is in no declared zone (reported, not dropped)
    role: str = ""
    declared_role: str = ""
    vendor: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    purdue_level: float | None = None
    protocols: list[str] = []
    declared: bool = False
    findings: int = 0


class ZoneFlow(msgspec.Struct, kw_only=True):
    """Traffic between two zones, aggregated for the zone map."""

    client_zone: str
    server_zone: str
    protocol: str
    server_port: int
    transport: str
    flows: int
    packets: int
    allowed: bool  # covered by a declared conduit


class RankedRemediation(msgspec.Struct, kw_only=True):
    check_id: str
    title: str
    remediation: str
    findings: int
    risk_reduction: int  # sum of risk scores removed when fixed
    max_level: Severity


class SiteSummary(msgspec.Struct, kw_only=True):
    name: str
    facility_id: str = ""
    profile: str
    profile_title: str = ""


class CaptureSummary(msgspec.Struct, kw_only=True):
    files: list[dict[str, Any]] = []  # [{path, sha256, packets, complete}]
    first_ts: float | None = None
    last_ts: float | None = None
    packets: int = 0
    sources: list[str] = []
    decode_errors: int = 0
    tcp_gaps: int = 0


class Assessment(msgspec.Struct, kw_only=True):
    schema_version: str = ASSESSMENT_SCHEMA_VERSION
    generator: str = ""  # "icsaudit <version>, checks <version>"
    assessment_id: str = ""  # stable digest of evidence + site + checks versions
    created: float = 0.0  # the end of the capture window (not wall time: reruns reproduce)
    site: SiteSummary
    evidence_sha256: str = ""
    capture: CaptureSummary = msgspec.field(default_factory=CaptureSummary)
    zones: list[ZoneSummary] = []
    assets: list[AssetRecord] = []
    zone_flows: list[ZoneFlow] = []
    results: list[CheckResult] = []
    findings: list[Finding] = []
    frameworks: list[FrameworkCoverage] = []
    remediations: list[RankedRemediation] = []
    risk_matrix: list[list[int]] = []  # [likelihood-1][consequence-1] -> findings
    summary: dict[str, Any] = {}  # findings_by_severity, checks_by_status, unzoned_hosts ...
