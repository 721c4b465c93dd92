"""Probe results and their transcript become evidence: identities with source "probe:<name>" and a
reference to the transcript line of the identifying reply, services with banners, the transcript
as a capture file, and assets rebuilt by the passive inventory."""

from __future__ import annotations

import hashlib
from pathlib import Path

from icsaudit import __version__
from icsaudit.evidence.model import Capture, CaptureFile, Evidence, Identity, Ref, Service
from icsaudit.ids import digest_id
from icsaudit.passive.inventory import build_assets
from icsaudit.probes.base import ProbeResult
from icsaudit.probes.guard import Transcript

# probe protocol -> the protocol name the passive side and the checks use
SERVICE_PROTOCOLS = {
    "s7comm": "s7comm",
    "modbus": "modbus",
    "enip": "enip",
    "bacnet": "bacnet",
    "dnp3": "dnp3",
    "iec104": "iec104",
    "opcua": "opcua",
    "snmp": "snmp",
}


def build_evidence(results: list[ProbeResult], transcript: Transcript) -> Evidence:
    file = str(transcript.path) if transcript.path else ""
    identities: dict[str, Identity] = {}
    services: dict[str, Service] = {}
    for r in results:
        ref = Ref(source=f"probe:{r.probe}", file=file, frame=r.line, ts=r.ts)
        protocol = SERVICE_PROTOCOLS.get(r.protocol, r.protocol)
        service_id = digest_id("service", r.ip, r.transport, r.port, protocol)
        service = services.get(service_id)
        if service is None:
            services[service_id] = Service(
                service_id=service_id,
                asset_id=r.ip,
                ip=r.ip,
                transport=r.transport,
                port=r.port,
                protocol=protocol,
                banner=r.banner,
                details=dict(r.details),
                first_seen=r.ts,
                last_seen=r.ts,
                ref=ref,
            )
        if r.fields:
            unit = r.fields.get("unit_id") or r.fields.get("dnp3_address") or ""
            identity_id = digest_id("probe", r.probe, r.ip, r.port, unit)
            identities[identity_id] = Identity(
                identity_id=identity_id,
                asset_id=r.ip,
                ip=r.ip,
                mac=r.fields.get("mac", ""),  # a device's own statement (the SNMPv3 engine id's MAC)
                protocol=protocol,
                fields=dict(r.fields),
                raw=dict(r.raw),
                confidence="high",
                ref=ref,
            )
    records = transcript.records
    times = [rec["ts"] for rec in records]
    requests = sum(1 for rec in records if rec.get("event") in ("request", "connect"))
    sent_bytes = sum(len(rec.get("hex", "")) // 2 for rec in records if rec.get("event") == "request")
    files = []
    if transcript.path and Path(transcript.path).exists():
        data = Path(transcript.path).read_bytes()
        files.append(
            CaptureFile(
                path=file,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                format="probe",
                packets=requests,
                bytes=sent_bytes,
                first_ts=min(times, default=None),
                last_ts=max(times, default=None),
            )
        )
    sources = sorted({f"probe:{r.probe}" for r in results})
    evidence = Evidence(
        generator=f"icsaudit {__version__}",
        capture=Capture(
            files=files,
            packets=requests,
            bytes=sent_bytes,
            first_ts=min(times, default=None),
            last_ts=max(times, default=None),
            sources=sources,
        ),
        services=[services[k] for k in sorted(services)],
        identities=[identities[k] for k in sorted(identities)],
    )
    evidence.assets = build_assets(evidence)
    return evidence
