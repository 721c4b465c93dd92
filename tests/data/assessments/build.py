"""Build the report fixtures from the contract structs, so they stay valid as the contract evolves.

A water plant dosing chlorine gas, audited twice (Q1 and Q2). Run to regenerate the JSON files:

    .venv/bin/python -m tests.data.assessments.build
"""

from __future__ import annotations

from pathlib import Path

from icsaudit.engine.model import (
    Assessment,
    AssetRecord,
    CaptureSummary,
    CheckResult,
    EvidenceLink,
    Finding,
    FrameworkCoverage,
    RankedRemediation,
    RequirementResult,
    Risk,
    SiteSummary,
    ZoneFlow,
    ZoneSummary,
)
from icsaudit.evidence.model import (
    Asset,
    Capture,
    CaptureFile,
    Event,
    Evidence,
    Flow,
    Identity,
    Ref,
    Service,
)
from icsaudit.ids import digest_id
from icsaudit.jsonio import write_json_atomic

HERE = Path(__file__).resolve().parent
T0 = 1772438400.0  # 2026-03-02 08:00 UTC, start of the Q1 capture window
WEEK = 7 * 86400.0
Q2 = 91 * 86400.0
CAPTURE_FILE = "wtp-span-scada-2026w10.pcapng"

# (asset_id/ip, mac, name, zone, role, declared_role, vendor, model, firmware, serial, purdue, protocols, declared)
ASSETS = [
    (
        "10.20.4.15",
        "00:1a:2b:3c:4d:15",
        "corp-lt-jsmith",
        "ent-it",
        "it-host",
        "",
        "Dell",
        "Latitude 5440",
        "Windows 11 23H2",
        "CN0F2J7K9",
        4.0,
        ["rdp", "modbus", "dns"],
        False,
    ),
    (
        "10.30.1.10",
        "00:0c:29:aa:01:10",
        "wtp-jump01",
        "dmz",
        "server",
        "server",
        "VMware",
        "Virtual Platform",
        "Windows Server 2022",
        "VMW-42-1a-77-0e",
        3.5,
        ["rdp", "ssh"],
        True,
    ),
    (
        "10.40.1.20",
        "00:0c:29:aa:02:20",
        "wtp-hist01",
        "ops",
        "historian",
        "historian",
        "AVEVA",
        "Historian 2023",
        "2023 R2",
        "AVH-2023-88213",
        3.0,
        ["modbus", "opcua", "ntp"],
        True,
    ),
    (
        "10.50.1.11",
        "00:80:f4:12:34:11",
        "wtp-hmi01",
        "scada",
        "hmi",
        "hmi",
        "Schneider Electric",
        "Magelis GTU",
        "V3.2.1",
        "8A2311-HMI-0193",
        2.0,
        ["modbus", "http"],
        True,
    ),
    (
        "10.50.1.12",
        "00:80:f4:12:34:12",
        "wtp-hmi02",
        "scada",
        "hmi",
        "hmi",
        "Schneider Electric",
        "Magelis GTU",
        "V3.2.1",
        "8A2311-HMI-0194",
        2.0,
        ["modbus"],
        True,
    ),
    (
        "10.50.1.30",
        "3c:52:82:0e:77:30",
        "wtp-ews01",
        "scada",
        "ews",
        "ews",
        "HP",
        "Z2 G9",
        "Windows 10 LTSC",
        "CZC2417QX3",
        2.0,
        ["modbus", "umas", "ftp"],
        True,
    ),
    (
        "10.60.1.101",
        "00:80:f4:0c:a1:01",
        "cl2-dose-plc01",
        "dosing",
        "plc",
        "plc",
        "Schneider Electric",
        "BMX P34 2020",
        "SV 3.10",
        "SN-21A0457731",
        1.0,
        ["modbus", "umas", "telnet", "ftp"],
        True,
    ),
    (
        "10.60.1.102",
        "00:80:f4:0c:a1:02",
        "cl2-dose-plc02",
        "dosing",
        "plc",
        "plc",
        "Schneider Electric",
        "BMX P34 2020",
        "SV 2.70",
        "SN-19B0311842",
        1.0,
        ["modbus", "umas"],
        True,
    ),
    (
        "10.60.1.150",
        "00:30:de:41:90:50",
        "cl2-scale-ied01",
        "dosing",
        "ied",
        "ied",
        "WAGO",
        "750-8212",
        "03.10.08",
        "WG8212-0099417",
        1.0,
        ["modbus"],
        True,
    ),
    (
        "10.70.1.5",
        "00:00:bc:5e:20:05",
        "cl2-sis-ctrl01",
        "sis",
        "plc",
        "plc",
        "Rockwell Automation",
        "GuardLogix 5580",
        "33.011",
        "RA-GLX-60F1C2D7",
        1.0,
        ["enip", "cip"],
        True,
    ),
    (
        "10.70.1.40",
        "00:00:bc:5e:20:40",
        "cl2-gasdet-ied01",
        "sis",
        "ied",
        "ied",
        "Draeger",
        "Polytron 8310",
        "2.4.1",
        "ARHK-0417",
        0.0,
        ["modbus"],
        True,
    ),
    (
        "10.80.9.2",
        "00:a0:45:9c:31:02",
        "pump-st-north-rtu",
        "remote",
        "rtu",
        "rtu",
        "Phoenix Contact",
        "RTU 3000",
        "1.9.2",
        "PXC-1377210",
        1.0,
        ["dnp3"],
        True,
    ),
    (
        "10.80.9.1",
        "00:a0:45:9c:31:01",
        "pump-st-north-gw",
        "remote",
        "network",
        "network",
        "Sierra Wireless",
        "AirLink RV55",
        "4.16.0",
        "SW-RV55-N7Y2Q",
        1.0,
        ["dnp3", "http"],
        False,
    ),
    (
        "192.168.77.23",
        "f8:ff:c2:10:aa:23",
        "vendor-svc-laptop",
        "",
        "it-host",
        "",
        "Apple",
        "MacBook Pro",
        "macOS 14.4",
        "C02FK1XAMD6R",
        None,
        ["modbus", "vnc"],
        False,
    ),
]

FRAMEWORK_TITLES = {
    "iec62443-3-3": "IEC 62443-3-3 system security requirements (SR ids only)",
    "nist-800-53r5": "NIST SP 800-53 Rev. 5 (with SP 800-82 Rev. 3 OT overlay)",
    "iaea-nss17": "IAEA NSS 17-T computer security levels",
    "awwa-g430": "AWWA G430 / CISA CPG (water sector anchor)",
}


def _ref(frame: int, ts: float) -> dict:
    return {"file": CAPTURE_FILE, "frame": frame, "ts": ts, "source": "passive"}


def _risk(likelihood: int, consequence: int, *factors: str) -> Risk:
    score = likelihood * consequence
    level = (
        "critical"
        if score >= 20
        else "high"
        if score >= 12
        else "medium"
        if score >= 6
        else "low"
        if score >= 3
        else "info"
    )
    return Risk(
        likelihood=likelihood, consequence=consequence, score=score, level=level, factors=list(factors)
    )


def _finding(
    check_id: str,
    title: str,
    severity: str,
    message: str,
    zone: str,
    assets: list[str],
    risk: Risk | None,
    remediation: str,
    first: float,
    last: float,
    *,
    flows: list[str] = (),
    events: list[str] = (),
    frames: list[dict] = (),
    row: dict | None = None,
) -> Finding:
    return Finding(
        finding_id=digest_id(check_id, *assets, *flows),
        check_id=check_id,
        title=title,
        severity=severity,
        message=message,
        zone=zone,
        asset_ids=list(assets),
        evidence=EvidenceLink(
            flow_ids=list(flows), event_ids=list(events), asset_ids=list(assets), frames=list(frames)
        ),
        row=row or {},
        risk=risk,
        remediation=remediation,
        first_seen=first,
        last_seen=last,
    )


CHECKS = {
    # check_id: (title, area, base, maps, remediation)
    "ZC-02": (
        "IT (L4-5) host talks directly to an L0-1 device",
        "zones-conduits",
        "critical",
        {
            "iec62443-3-3": ["SR 5.1", "SR 5.2", "SR 1.13"],
            "nist-800-53r5": ["sc-7", "ac-4"],
            "iaea-nss17": ["CSL-2.R1"],
            "attack-ics": ["T0886", "T0822"],
        },
        "Block L4 to L1 traffic at the OT firewall; route engineering access through the DMZ jump host.",
    ),
    "CB-04": (
        "Toxic-dosing set-point writes from outside the HMI",
        "cbrn",
        "critical",
        {
            "iec62443-3-3": ["SR 2.1"],
            "nist-800-53r5": ["ac-3", "au-12"],
            "iaea-nss17": ["CSL-2.R2"],
            "attack-ics": ["T0836", "T0831"],
        },
        "Restrict Modbus writes to the chlorine dosing PLC to the two HMIs (PLC access-control list) "
        "and alarm on any other writer.",
    ),
    "ZC-06": (
        "SIS reachable from a non-SIS engineering workstation",
        "zones-conduits",
        "critical",
        {
            "iec62443-3-3": ["SR 5.1", "SR 2.1"],
            "nist-800-53r5": ["ac-4", "ac-3"],
            "attack-ics": ["T0843", "T0880"],
        },
        "Give the SIS its own engineering workstation and a separate conduit; remove the BPCS EWS route.",
    ),
    "IC-01": (
        "Modbus write from a source not on the allowlist",
        "industrial-control",
        "high",
        {
            "iec62443-3-3": ["SR 2.1", "SR 3.1"],
            "nist-800-53r5": ["ac-3", "sc-8"],
            "attack-ics": ["T0855", "T0836"],
        },
        "Declare the legitimate masters in the site model and block writes from all other hosts.",
    ),
    "CT-01": (
        "Unneeded cleartext services on controllers",
        "cleartext",
        "high",
        {
            "iec62443-3-3": ["SR 4.1", "SR 7.7"],
            "nist-800-53r5": ["sc-8", "cm-7"],
            "attack-ics": ["T0842", "T0866"],
        },
        "Disable Telnet and FTP on the PLC (Ethernet module security tab) and enable the access-control list.",
    ),
    "CT-02": (
        "Cleartext credentials seen",
        "cleartext",
        "high",
        {"iec62443-3-3": ["SR 1.5", "SR 4.1"], "nist-800-53r5": ["ia-5", "sc-8"], "attack-ics": ["T0859"]},
        "Rotate the exposed FTP credential and replace FTP with SFTP or a signed project transfer.",
    ),
    "AV-07": (
        "Cellular gateway in an OT zone",
        "asset-visibility",
        "high",
        {"iec62443-3-3": ["SR 1.6", "SR 5.2"], "nist-800-53r5": ["ac-18", "sc-7"], "attack-ics": ["T0883"]},
        "Put the cellular gateway behind a VPN concentrator in the DMZ and disable its public web UI.",
    ),
    "ZC-07": (
        "OT host uses external DNS",
        "zones-conduits",
        "medium",
        {"iec62443-3-3": ["SR 5.2", "SR 7.7"], "nist-800-53r5": ["sc-7", "cm-7"], "attack-ics": ["T0869"]},
        "Point OT hosts at the DMZ resolver; block outbound DNS at the boundary.",
    ),
    "AM-01": (
        "Unauthenticated time sync",
        "monitoring",
        "low",
        {"iec62443-3-3": ["SR 2.11"], "nist-800-53r5": ["au-8"]},
        "Use authenticated NTP (NTS or symmetric keys) from the site time server.",
    ),
    "AM-03": (
        "Zone with no captured traffic",
        "monitoring",
        "info",
        {"iec62443-3-3": ["SR 6.2"], "nist-800-53r5": ["si-4"]},
        "Add a SPAN or TAP for the remote pump-station link so its traffic is assessed.",
    ),
    "IC-03": (
        "Mode change, stop or restart",
        "industrial-control",
        "critical",
        {
            "iec62443-3-3": ["SR 2.1", "SR 3.1"],
            "nist-800-53r5": ["ac-3", "cm-5"],
            "attack-ics": ["T0858", "T0816"],
        },
        "",
    ),
    "CT-03": (
        "SNMP v1/v2c or default community",
        "cleartext",
        "high",
        {"iec62443-3-3": ["SR 1.5"], "nist-800-53r5": ["ia-5"], "attack-ics": ["T0812"]},
        "",
    ),
    "AV-03": (
        "Firmware matches a published advisory",
        "asset-visibility",
        "high",
        {"iec62443-3-3": ["SR 7.8", "SR 3.3"], "nist-800-53r5": ["ra-5", "si-2"], "attack-ics": ["T0866"]},
        "Update the PLC firmware to SV 3.50 or later (vendor advisory).",
    ),
    "IC-04": (
        "DNP3 control without Secure Authentication",
        "industrial-control",
        "high",
        {"iec62443-3-3": ["SR 1.2"], "nist-800-53r5": ["ia-3"], "attack-ics": ["T0855"]},
        "",
    ),
}


def _findings_q1() -> list[Finding]:
    return [
        _finding(
            "ZC-02",
            CHECKS["ZC-02"][0],
            "critical",
            "10.20.4.15 (corp-lt-jsmith, ent-it L4) opened 3 Modbus/TCP connections to 10.60.1.101 (dosing L1)",
            "dosing",
            ["10.20.4.15", "10.60.1.101"],
            _risk(5, 5, "reachable from IT", "CSL 2 zone", "toxic release weight 5"),
            CHECKS["ZC-02"][4],
            T0 + 86400 * 2 + 3600 * 14,
            T0 + 86400 * 2 + 3600 * 14 + 40,
            flows=["f-7d1c0a93e2b4"],
            frames=[_ref(481220, T0 + 86400 * 2 + 3600 * 14)],
            row={"client_ip": "10.20.4.15", "server_ip": "10.60.1.101", "server_port": 502},
        ),
        _finding(
            "CB-04",
            CHECKS["CB-04"][0],
            "critical",
            "10.20.4.15 wrote holding register 40110 (Cl2 dose set-point) on 10.60.1.101 at 14:00:12 UTC",
            "dosing",
            ["10.20.4.15", "10.60.1.101"],
            _risk(4, 5, "write outside HMI", "toxic release weight 5", "CSL 2 zone"),
            CHECKS["CB-04"][4],
            T0 + 86400 * 2 + 3600 * 14 + 12,
            T0 + 86400 * 2 + 3600 * 14 + 12,
            flows=["f-7d1c0a93e2b4"],
            events=["e-5b0f113c"],
            frames=[_ref(481231, T0 + 86400 * 2 + 3600 * 14 + 12)],
            row={"client_ip": "10.20.4.15", "server_ip": "10.60.1.101", "function": "fc6", "register": 40110},
        ),
        _finding(
            "ZC-06",
            CHECKS["ZC-06"][0],
            "critical",
            "10.50.1.30 (wtp-ews01, BPCS EWS) opened EtherNet/IP sessions to the SIS controller 10.70.1.5",
            "sis",
            ["10.50.1.30", "10.70.1.5"],
            _risk(3, 5, "safety zone", "toxic release weight 5"),
            CHECKS["ZC-06"][4],
            T0 + 86400 * 4 + 3600 * 9,
            T0 + 86400 * 4 + 3600 * 10,
            flows=["f-a90e1b2c4d33"],
            frames=[_ref(902117, T0 + 86400 * 4 + 3600 * 9)],
        ),
        _finding(
            "IC-01",
            CHECKS["IC-01"][0],
            "high",
            "192.168.77.23 (vendor-svc-laptop, unzoned) wrote 14 coils on 10.60.1.102",
            "dosing",
            ["192.168.77.23", "10.60.1.102"],
            _risk(3, 4, "unzoned host", "CSL 2 zone"),
            CHECKS["IC-01"][4],
            T0 + 86400 * 5 + 3600 * 11,
            T0 + 86400 * 5 + 3600 * 12,
            flows=["f-c3b2a1908f7e"],
            events=["e-77aa0b12", "e-77aa0b13"],
            frames=[
                _ref(1204410, T0 + 86400 * 5 + 3600 * 11),
                _ref(1204466, T0 + 86400 * 5 + 3600 * 11 + 30),
            ],
        ),
        _finding(
            "CT-01",
            CHECKS["CT-01"][0],
            "high",
            "Telnet (tcp/23) and FTP (tcp/21) answer on 10.60.1.101 (cl2-dose-plc01)",
            "dosing",
            ["10.60.1.101"],
            _risk(3, 4, "CSL 2 zone"),
            CHECKS["CT-01"][4],
            T0 + 3600,
            T0 + WEEK - 3600,
            frames=[_ref(2210, T0 + 3600)],
        ),
        _finding(
            "CT-02",
            CHECKS["CT-02"][0],
            "high",
            "FTP login in clear from 10.50.1.30 to 10.60.1.101 (user hash 3f9a…, frame 77120)",
            "dosing",
            ["10.50.1.30", "10.60.1.101"],
            _risk(3, 4, "credential reuse likely"),
            CHECKS["CT-02"][4],
            T0 + 86400 + 3600 * 8,
            T0 + 86400 + 3600 * 8,
            flows=["f-0e4d55a7b1c9"],
            events=["e-c0ffee01"],
            frames=[_ref(77120, T0 + 86400 + 3600 * 8)],
        ),
        _finding(
            "AV-07",
            CHECKS["AV-07"][0],
            "high",
            "Cellular gateway 10.80.9.1 (pump-st-north-gw) serves HTTP to the Internet side",
            "remote",
            ["10.80.9.1"],
            _risk(4, 3, "reachable from Internet"),
            CHECKS["AV-07"][4],
            T0 + 600,
            T0 + WEEK - 600,
            frames=[_ref(455, T0 + 600)],
        ),
        _finding(
            "AV-03",
            CHECKS["AV-03"][0],
            "high",
            "10.60.1.102 (cl2-dose-plc02) runs SV 2.70, affected by ICSA-23-257-01",
            "dosing",
            ["10.60.1.102"],
            _risk(2, 5, "CSAF advisory", "CSL 2 zone"),
            CHECKS["AV-03"][4],
            T0 + 120,
            T0 + 120,
            frames=[_ref(96, T0 + 120)],
        ),
        _finding(
            "ZC-07",
            CHECKS["ZC-07"][0],
            "medium",
            "10.40.1.20 (wtp-hist01) queried 8.8.8.8 for time.windows.com",
            "ops",
            ["10.40.1.20"],
            _risk(2, 3, "external resolver"),
            CHECKS["ZC-07"][4],
            T0 + 7200,
            T0 + WEEK - 7200,
            flows=["f-1d2e3f405162"],
            frames=[_ref(10442, T0 + 7200)],
        ),
        _finding(
            "AM-01",
            CHECKS["AM-01"][0],
            "low",
            "10.40.1.20 syncs time with unauthenticated NTP mode 3",
            "ops",
            ["10.40.1.20"],
            _risk(1, 3, "integrity of timestamps"),
            CHECKS["AM-01"][4],
            T0 + 60,
            T0 + WEEK - 60,
            flows=["f-99aa88bb77cc"],
            frames=[_ref(31, T0 + 60)],
        ),
        _finding(
            "AM-03",
            CHECKS["AM-03"][0],
            "info",
            "No traffic captured from zone remote (DNP3 radio link)",
            "remote",
            [],
            None,
            CHECKS["AM-03"][4],
            None,
            None,
        ),
    ]


def _findings_q2() -> list[Finding]:
    """Q2: the IT laptop path and telnet are fixed, the SIS route is still open, a new DNP3 finding appears."""
    kept = [f for f in _findings_q1() if f.check_id not in ("ZC-02", "CB-04", "CT-01", "AM-03")]
    for f in kept:
        if f.first_seen is not None:
            f.first_seen += Q2
            f.last_seen = (f.last_seen or f.first_seen) + Q2
        f.evidence.frames = [dict(fr, ts=fr["ts"] + Q2) for fr in f.evidence.frames]
    new = _finding(
        "IC-04",
        CHECKS["IC-04"][0],
        "high",
        "Direct operate on 10.80.9.2 (pump-st-north-rtu) without DNP3 SAv5 from 10.50.1.11",
        "remote",
        ["10.50.1.11", "10.80.9.2"],
        _risk(3, 3, "remote site over cellular"),
        "Enable DNP3 Secure Authentication v5 on the master and the RTU.",
        T0 + Q2 + 5000,
        T0 + Q2 + 9000,
        flows=["f-dd0011223344"],
        events=["e-dn900001"],
        frames=[_ref(60211, T0 + Q2 + 5000)],
    )
    return [*kept, new]


def _zones(findings: list[Finding], assets: list[AssetRecord]) -> list[ZoneSummary]:
    zones = [
        ZoneSummary(id="ent-it", name="Enterprise IT", purdue_level=4, csl=4, sl_t=1, function="business-it"),
        ZoneSummary(id="dmz", name="OT DMZ", purdue_level=3.5, csl=3, sl_t=2, function="dmz"),
        ZoneSummary(
            id="ops", name="Operations / historian", purdue_level=3, csl=3, sl_t=2, function="operations"
        ),
        ZoneSummary(
            id="scada", name="SCADA supervisory", purdue_level=2, csl=3, sl_t=2, function="supervisory"
        ),
        ZoneSummary(
            id="dosing", name="Chlorine dosing", purdue_level=1, csl=2, sl_t=3, function="chlorine-dosing"
        ),
        ZoneSummary(
            id="sis",
            name="Leak detection and scrubber SIS",
            purdue_level=1,
            csl=2,
            sl_t=3,
            safety=True,
            function="chlorine-leak-detection",
        ),
        ZoneSummary(
            id="remote", name="Remote pump stations", purdue_level=1, csl=3, sl_t=2, function="remote-sites"
        ),
    ]
    for zone in zones:
        zone.assets = sum(1 for a in assets if a.zone == zone.id)
        zone.observed = zone.id != "remote"
        counts: dict[str, int] = {}
        for f in findings:
            if f.zone == zone.id:
                counts[f.severity] = counts.get(f.severity, 0) + 1
        zone.findings = counts
    return zones


def _assets(findings: list[Finding], rows=ASSETS) -> list[AssetRecord]:
    records = []
    for ip, mac, name, zone, role, declared, vendor, model, fw, serial, level, protos, is_declared in rows:
        records.append(
            AssetRecord(
                asset_id=ip,
                ip=ip,
                mac=mac,
                name=name,
                zone=zone,
                role=role,
                declared_role=declared,
                vendor=vendor,
                model=model,
                firmware=fw,
                serial=serial,
                purdue_level=level,
                protocols=protos,
                declared=is_declared,
                findings=sum(1 for f in findings if ip in f.asset_ids),
            )
        )
    return records


ZONE_FLOWS_Q1 = [
    ZoneFlow(
        client_zone="ent-it",
        server_zone="dmz",
        protocol="rdp",
        server_port=3389,
        transport="tcp",
        flows=4,
        packets=18210,
        allowed=True,
    ),
    ZoneFlow(
        client_zone="dmz",
        server_zone="scada",
        protocol="rdp",
        server_port=3389,
        transport="tcp",
        flows=3,
        packets=9120,
        allowed=True,
    ),
    ZoneFlow(
        client_zone="ops",
        server_zone="scada",
        protocol="modbus",
        server_port=502,
        transport="tcp",
        flows=2,
        packets=120044,
        allowed=True,
    ),
    ZoneFlow(
        client_zone="scada",
        server_zone="dosing",
        protocol="modbus",
        server_port=502,
        transport="tcp",
        flows=6,
        packets=884120,
        allowed=True,
    ),
    ZoneFlow(
        client_zone="scada",
        server_zone="dosing",
        protocol="ftp",
        server_port=21,
        transport="tcp",
        flows=1,
        packets=212,
        allowed=False,
    ),
    ZoneFlow(
        client_zone="ent-it",
        server_zone="dosing",
        protocol="modbus",
        server_port=502,
        transport="tcp",
        flows=1,
        packets=96,
        allowed=False,
    ),
    ZoneFlow(
        client_zone="scada",
        server_zone="sis",
        protocol="enip",
        server_port=44818,
        transport="tcp",
        flows=1,
        packets=3310,
        allowed=False,
    ),
    ZoneFlow(
        client_zone="scada",
        server_zone="remote",
        protocol="dnp3",
        server_port=20000,
        transport="tcp",
        flows=1,
        packets=5120,
        allowed=True,
    ),
    ZoneFlow(
        client_zone="",
        server_zone="dosing",
        protocol="modbus",
        server_port=502,
        transport="tcp",
        flows=1,
        packets=402,
        allowed=False,
    ),
    ZoneFlow(
        client_zone="ops",
        server_zone="ent-it",
        protocol="dns",
        server_port=53,
        transport="udp",
        flows=1,
        packets=388,
        allowed=False,
    ),
]


def _results(findings: list[Finding], extra_status: dict[str, str]) -> list[CheckResult]:
    results = []
    for check_id, (title, area, base, maps, remediation) in CHECKS.items():
        count = sum(1 for f in findings if f.check_id == check_id)
        severities = [f.severity for f in findings if f.check_id == check_id]
        status = "fail" if count else extra_status.get(check_id, "pass")
        reason = {
            "not-assessed": "no SNMP traffic captured and probes not allowed in this zone",
            "error": "query failed: column server_zone missing from evidence",
        }.get(status, "")
        results.append(
            CheckResult(
                check_id=check_id,
                title=title,
                area=area,
                status=status,
                severity=severities[0] if severities else base,
                base_severity=base,
                source="passive",
                reason=reason,
                findings=count,
                maps=maps,
                remediation=remediation,
            )
        )
    return results


def _frameworks(
    findings: list[Finding], results: list[CheckResult], answered_partial: bool
) -> list[FrameworkCoverage]:
    failing = {r.check_id for r in results if r.status == "fail"}
    status_of = {r.check_id: r.status for r in results}
    out = []
    catalog = {
        "iec62443-3-3": [
            ("SR 1.1", "Human user identification and authentication"),
            ("SR 1.2", "Software process and device identification and authentication"),
            ("SR 1.5", "Authenticator management"),
            ("SR 1.6", "Wireless access management"),
            ("SR 1.13", "Access via untrusted networks"),
            ("SR 2.1", "Authorization enforcement"),
            ("SR 2.8", "Auditable events"),
            ("SR 2.11", "Timestamps"),
            ("SR 3.1", "Communication integrity"),
            ("SR 3.3", "Security functionality verification"),
            ("SR 4.1", "Information confidentiality"),
            ("SR 5.1", "Network segmentation"),
            ("SR 5.2", "Zone boundary protection"),
            ("SR 6.2", "Continuous monitoring"),
            ("SR 7.3", "Control system backup"),
            ("SR 7.7", "Least functionality"),
            ("SR 7.8", "Control system component inventory"),
        ],
        "nist-800-53r5": [
            ("ac-3", "Access Enforcement"),
            ("ac-4", "Information Flow Enforcement"),
            ("ac-18", "Wireless Access"),
            ("au-8", "Time Stamps"),
            ("au-12", "Audit Record Generation"),
            ("cm-5", "Access Restrictions for Change"),
            ("cm-7", "Least Functionality"),
            ("cp-9", "System Backup"),
            ("ia-3", "Device Identification and Authentication"),
            ("ia-5", "Authenticator Management"),
            ("ra-5", "Vulnerability Monitoring and Scanning"),
            ("sc-7", "Boundary Protection"),
            ("sc-8", "Transmission Confidentiality and Integrity"),
            ("si-2", "Flaw Remediation"),
            ("si-4", "System Monitoring"),
        ],
        "iaea-nss17": [
            ("CSL-2.R1", "CSL 2: no inbound connection from lower-level zones"),
            ("CSL-2.R2", "CSL 2: only authorised, local changes to control functions"),
            ("CSL-3.R1", "CSL 3: no direct Internet connectivity"),
            ("CSL-1.R1", "CSL 1: one-way outward communication only"),
        ],
        "awwa-g430": [
            ("G430-4.2", "Network segmentation of SCADA"),
            ("G430-4.5", "Remote access controlled"),
            ("G430-4.8", "Backups of PLC programs tested"),
        ],
    }
    manual = {
        "SR 7.3": ("answered-no", "Backups not tested since 2024"),
        "cp-9": ("answered-yes", "Nightly"),
        "G430-4.8": ("answered-partial" if answered_partial else "answered-no", "Only dosing PLCs"),
        "SR 1.1": ("answered-yes", "AD accounts on HMIs"),
        "CSL-1.R1": ("not-applicable", "No CSL 1 zone"),
    }
    for fw, reqs in catalog.items():
        coverage = FrameworkCoverage(framework=fw, title=FRAMEWORK_TITLES[fw])
        for req_id, title in reqs:
            checks = sorted(c for c, r in CHECKS.items() if req_id in r[3].get(fw, []))
            if req_id in manual:
                status, comment = manual[req_id]
                answer = {
                    "value": status.removeprefix("answered-"),
                    "comment": comment,
                    "by": "plant OT lead",
                    "date": "2026-03-10",
                }
                coverage.requirements.append(
                    RequirementResult(id=req_id, title=title, status=status, checks=checks, answer=answer)
                )
                continue
            if any(c in failing for c in checks):
                status = "not-satisfied"
            elif checks and all(status_of[c] == "pass" for c in checks):
                status = "satisfied"
            else:
                status = "not-assessed"
            coverage.requirements.append(
                RequirementResult(id=req_id, title=title, status=status, checks=checks)
            )
        counts: dict[str, int] = {}
        for req in coverage.requirements:
            counts[req.status] = counts.get(req.status, 0) + 1
        coverage.counts = counts
        out.append(coverage)
    return out


def _remediations(findings: list[Finding]) -> list[RankedRemediation]:
    by_check: dict[str, list[Finding]] = {}
    for f in findings:
        by_check.setdefault(f.check_id, []).append(f)
    order = list(reversed(("info", "low", "medium", "high", "critical")))
    ranked = []
    for check_id, items in by_check.items():
        ranked.append(
            RankedRemediation(
                check_id=check_id,
                title=CHECKS[check_id][0],
                remediation=items[0].remediation,
                findings=len(items),
                risk_reduction=sum(f.risk.score for f in items if f.risk),
                max_level=min((f.risk.level if f.risk else "info" for f in items), key=order.index),
            )
        )
    return sorted(ranked, key=lambda r: (-r.risk_reduction, r.check_id))


def _matrix(findings: list[Finding]) -> list[list[int]]:
    matrix = [[0] * 5 for _ in range(5)]
    for f in findings:
        if f.risk:
            matrix[f.risk.likelihood - 1][f.risk.consequence - 1] += 1
    return matrix


def build_assessment(quarter: int = 1) -> Assessment:
    findings = _findings_q1() if quarter == 1 else _findings_q2()
    rows = ASSETS
    if quarter == 2:  # the IT laptop is gone, a new historian replica appeared
        rows = [a for a in ASSETS if a[0] != "10.20.4.15"] + [
            (
                "10.40.1.21",
                "00:0c:29:aa:02:21",
                "wtp-hist02",
                "ops",
                "historian",
                "historian",
                "AVEVA",
                "Historian 2023",
                "2023 R2",
                "AVH-2023-90001",
                3.0,
                ["opcua"],
                True,
            )
        ]
    assets = _assets(findings, rows)
    extra = {
        "IC-03": "pass",
        "CT-03": "not-assessed",
        "IC-04": "pass" if quarter == 1 else "pass",
        "AM-03": "pass",
    }
    if quarter == 2:
        extra["AM-01"] = "error"
    results = _results(findings, extra)
    shift = 0.0 if quarter == 1 else Q2
    zone_flows = (
        ZONE_FLOWS_Q1
        if quarter == 1
        else [z for z in ZONE_FLOWS_Q1 if z.client_zone != "ent-it" or z.server_zone != "dosing"]
    )
    by_sev: dict[str, int] = {}
    for f in findings:
        by_sev[f.severity] = by_sev.get(f.severity, 0) + 1
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    return Assessment(
        generator="icsaudit 0.1.0, checks 2026.03 (report fixture)",
        assessment_id=digest_id("fixture", "water-chlorine", quarter),
        created=T0 + WEEK + shift,
        site=SiteSummary(
            name="Riverbend Water Treatment Plant",
            facility_id="US-WTP-0417",
            profile="water-chlorine",
            profile_title="Water treatment with chlorine gas",
        ),
        evidence_sha256=digest_id("evidence", quarter, length=64) * 2,
        capture=CaptureSummary(
            files=[
                {
                    "path": CAPTURE_FILE if quarter == 1 else CAPTURE_FILE.replace("w10", "w23"),
                    "sha256": digest_id("pcap", quarter) * 4,
                    "packets": 4_812_330,
                    "complete": True,
                }
            ],
            first_ts=T0 + shift,
            last_ts=T0 + WEEK + shift,
            packets=4_812_330,
            sources=["passive"],
            decode_errors=17,
            tcp_gaps=3,
        ),
        zones=_zones(findings, assets),
        assets=assets,
        zone_flows=zone_flows,
        results=results,
        findings=findings,
        frameworks=_frameworks(findings, results, answered_partial=quarter == 2),
        remediations=_remediations(findings),
        risk_matrix=_matrix(findings),
        summary={
            "findings_by_severity": by_sev,
            "checks_by_status": by_status,
            "unzoned_hosts": sum(1 for a in assets if not a.zone),
        },
    )


def build_evidence() -> Evidence:
    """Evidence behind the Q1 assessment: carries hostnames, serials, a credential event and payload bytes."""
    ref = Ref(source="passive:modbus", file=CAPTURE_FILE, frame=481231, ts=T0 + 86400 * 2 + 3600 * 14 + 12)
    assets = [
        Asset(
            asset_id=a[0],
            ip=a[0],
            mac=a[1],
            hostnames=[a[2], f"{a[2]}.riverbend-wtp.local"],
            vendor=a[6],
            model=a[7],
            firmware=a[8],
            serial=a[9],
            role=a[4],
            protocols=a[11],
            first_seen=T0,
            last_seen=T0 + WEEK,
        )
        for a in ASSETS
    ]
    return Evidence(
        generator="icsaudit 0.1.0",
        capture=Capture(
            files=[
                CaptureFile(
                    path=f"/srv/captures/riverbend/{CAPTURE_FILE}",
                    sha256="ab" * 32,
                    format="pcapng",
                    packets=4_812_330,
                    first_ts=T0,
                    last_ts=T0 + WEEK,
                )
            ],
            packets=4_812_330,
            first_ts=T0,
            last_ts=T0 + WEEK,
            sources=["passive"],
        ),
        assets=assets,
        services=[
            Service(
                service_id="s-telnet-101",
                asset_id="10.60.1.101",
                ip="10.60.1.101",
                transport="tcp",
                port=23,
                protocol="telnet",
                banner="cl2-dose-plc01 login: (SN-21A0457731)",
            )
        ],
        flows=[
            Flow(
                flow_id="f-7d1c0a93e2b4",
                client_ip="10.20.4.15",
                server_ip="10.60.1.101",
                transport="tcp",
                server_port=502,
                protocol="modbus",
                client_mac="00:1a:2b:3c:4d:15",
                server_mac="00:80:f4:0c:a1:01",
                packets=96,
                ops={"write": 1, "read": 20},
            )
        ],
        events=[
            Event(
                event_id="e-5b0f113c",
                kind="write",
                category="write",
                protocol="modbus",
                function="fc6",
                client_ip="10.20.4.15",
                server_ip="10.60.1.101",
                server_port=502,
                flow_id="f-7d1c0a93e2b4",
                detail={"register": 40110, "value": 3850, "payload": "0006 9cae 0f0a"},
                ref=ref,
            ),
            Event(
                event_id="e-c0ffee01",
                kind="credential",
                category="auth",
                protocol="ftp",
                client_ip="10.50.1.30",
                server_ip="10.60.1.101",
                server_port=21,
                detail={"user": "plcadmin", "password_sha256": "9f" * 32, "where": "USER/PASS"},
                ref=ref,
            ),
        ],
        identities=[
            Identity(
                identity_id="i-101",
                asset_id="10.60.1.101",
                ip="10.60.1.101",
                protocol="modbus",
                fields={"vendor": "Schneider Electric", "serial": "SN-21A0457731"},
                raw={"objects": {"0x00": "Schneider Electric", "0x05": "cl2-dose-plc01"}},
                ref=ref,
            )
        ],
    )


def main() -> None:
    write_json_atomic(HERE / "water-chlorine.json", build_assessment(1))
    write_json_atomic(HERE / "water-chlorine-q2.json", build_assessment(2))
    write_json_atomic(HERE / "water-chlorine.evidence.json", build_evidence())


if __name__ == "__main__":
    main()
