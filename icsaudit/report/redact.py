"""Redaction for sharing: internal (everything), regulator (keyed pseudonyms), regional (counts only).

Regulator: every IP/MAC address, host name, asset name and serial number becomes a stable keyed
pseudonym (HMAC-SHA256), so the same facility's bundles stay comparable over time while nobody
without the key can reverse them. Replacement runs over every string of the documents (messages,
SQL rows, banners included); credentials and payloads are dropped, not pseudonymised.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from icsaudit.engine.model import Assessment
from icsaudit.errors import InputError
from icsaudit.evidence.model import Evidence
from icsaudit.report.view import coverage_percent, iso

LEVELS = ("internal", "regulator", "regional")
IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\w]|\.\d)")
MAC = re.compile(r"(?<![\w:-])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![\w:-])")
IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# keys whose values are secrets or process payloads: dropped at regulator level
SECRET_KEY = re.compile(
    r"pass|cred|user|login|hash|secret|token|community|payload|value|data|raw|bytes|key", re.IGNORECASE
)


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise InputError(f"unknown redaction level {level!r}; valid levels: {', '.join(LEVELS)}")
    return level


def pseudonym_key(signing_key: Ed25519PrivateKey | None, key_file: Path | None) -> bytes:
    """From a --pseudonym-key file, else derived from the signing key (HKDF, domain-separated)."""
    if key_file is not None:
        try:
            data = Path(key_file).read_bytes()
        except OSError as exc:
            raise InputError(f"{key_file}: cannot read pseudonym key: {exc.strerror or exc}") from None
        if len(data.strip()) < 16:
            raise InputError(f"{key_file}: pseudonym key too short (need at least 16 bytes)")
        return data.strip()
    if signing_key is None:
        raise InputError("redaction needs a key: pass --key or --pseudonym-key")
    raw = signing_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"icsaudit pseudonyms v1").derive(raw)


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def __call__(self, kind: str, value: str) -> str:
        digest = hmac.new(self.key, f"{kind}\x1f{value.lower()}".encode(), hashlib.sha256).hexdigest()
        return f"{kind}-{digest[:10]}"


def _tokens(assessment: Assessment, evidence: Evidence | None) -> dict[str, str]:
    """Sensitive literal -> kind, from every place the contracts keep identities."""
    found: dict[str, str] = {}

    def add(value: str, kind: str) -> None:
        value = (value or "").strip()
        if len(value) >= 3:
            found.setdefault(value, kind)

    for x in assessment.assets:
        add(x.ip, "ip"), add(x.mac, "mac"), add(x.name, "host"), add(x.serial, "sn"), add(x.asset_id, "asset")
    if evidence is not None:
        for x in evidence.assets:
            add(x.ip, "ip"), add(x.mac, "mac"), add(x.serial, "sn"), add(x.asset_id, "asset")
            for name in x.hostnames:
                add(name, "host")
        for i in evidence.identities:
            add(i.ip, "ip"), add(i.mac, "mac")
            for field in ("serial", "name", "hostname", "serial_number", "station_name"):
                add(i.fields.get(field, ""), "sn" if "serial" in field else "host")
        for f in evidence.flows:
            add(f.client_ip, "ip"), add(f.server_ip, "ip"), add(f.client_mac, "mac"), add(f.server_mac, "mac")
        for s in evidence.services:
            add(s.ip, "ip")
        for e in evidence.events:
            add(e.client_ip, "ip"), add(e.server_ip, "ip")
    return found


class _Replacer:
    def __init__(self, tokens: dict[str, str], pseudo: Pseudonymizer) -> None:
        self.pseudo = pseudo
        self.kinds = {k.lower(): v for k, v in tokens.items()}
        ordered = sorted(tokens, key=len, reverse=True)  # longest first: an FQDN before its host name
        self.pattern = (
            re.compile(
                r"(?<![\w.:-])(?:" + "|".join(re.escape(t) for t in ordered) + r")(?![\w:-]|\.\w)",
                re.IGNORECASE,
            )
            if ordered
            else None
        )

    def text(self, value: str) -> str:
        if self.pattern is not None:
            value = self.pattern.sub(lambda m: self.pseudo(self.kinds[m.group(0).lower()], m.group(0)), value)
        value = MAC.sub(lambda m: self.pseudo("mac", m.group(0).replace("-", ":")), value)
        value = IPV4.sub(lambda m: self.pseudo("ip", m.group(0)), value)
        return IPV6.sub(
            lambda m: self.pseudo("ip", m.group(0)) if m.group(0).count(":") >= 2 else m.group(0), value
        )

    def walk(self, node: Any, drop_secrets: bool = False) -> Any:
        if isinstance(node, str):
            return self.text(node)
        if isinstance(node, list | tuple):  # to_builtins keeps tuples (e.g. protocol conversations)
            return [self.walk(v, drop_secrets) for v in node]
        if isinstance(node, dict):
            return {
                self.text(k): self.walk(v, drop_secrets)
                for k, v in node.items()
                if not (drop_secrets and SECRET_KEY.search(k))
            }
        return node


def redact_assessment(a: Assessment, replacer: _Replacer) -> Assessment:
    doc = msgspec.to_builtins(a)
    for finding in doc.get("findings", []):
        finding["row"] = replacer.walk(finding.get("row", {}), drop_secrets=True)
    for f in doc.get("capture", {}).get("files", []):
        f["path"] = Path(str(f.get("path", ""))).name  # directories name people and sites
    return msgspec.convert(replacer.walk(doc), Assessment)


def redact_evidence(e: Evidence, replacer: _Replacer) -> Evidence:
    doc = msgspec.to_builtins(e)
    for event in doc.get("events", []):
        event["detail"] = (
            {} if event.get("kind") == "credential" else replacer.walk(event.get("detail", {}), True)
        )
    for identity in doc.get("identities", []):
        identity["raw"] = {}  # protocol payloads as the device sent them
    for service in doc.get("services", []):
        service["details"] = replacer.walk(service.get("details", {}), True)
    for f in doc.get("capture", {}).get("files", []):
        f["path"] = Path(str(f.get("path", ""))).name
    return msgspec.convert(replacer.walk(doc), Evidence)


def regulator_copy(
    a: Assessment, evidence: Evidence | None, key: bytes
) -> tuple[Assessment, Evidence | None]:
    replacer = _Replacer(_tokens(a, evidence), Pseudonymizer(key))
    return redact_assessment(a, replacer), (
        redact_evidence(evidence, replacer) if evidence is not None else None
    )


def zone_type(zone) -> str:
    parts = [zone.function or "unspecified"]
    if zone.csl is not None:
        parts.append(f"CSL {zone.csl}")
    if zone.safety:
        parts.append("safety")
    return " / ".join(parts)


def facility_summary(a: Assessment, facility_label: str) -> dict[str, Any]:
    """Counts only (by check, severity, zone type and profile): what the regional level shares,
    and what aggregate compares across facilities whatever the redaction level."""
    zone_types = {z.id: zone_type(z) for z in a.zones}
    by_zone_type: dict[str, dict[str, int]] = {}
    by_severity: dict[str, int] = {}
    for f in a.findings:
        by_severity[f.severity] = by_severity.get(f.severity, 0) + 1
        bucket = by_zone_type.setdefault(zone_types.get(f.zone, "unzoned"), {})
        bucket[f.severity] = bucket.get(f.severity, 0) + 1
    return {
        "format": "icsaudit-facility-summary",
        "version": 1,
        "facility": facility_label,
        "profile": a.site.profile,
        "profile_title": a.site.profile_title,
        "period": {
            "start": iso(a.capture.first_ts, seconds=False),
            "end": iso(a.capture.last_ts, seconds=False),
        },
        "schema_version": a.schema_version,
        "findings_by_severity": dict(sorted(by_severity.items())),
        "findings_by_zone_type": {k: dict(sorted(v.items())) for k, v in sorted(by_zone_type.items())},
        "checks": [
            {
                "check_id": r.check_id,
                "title": r.title,
                "area": r.area,
                "status": r.status,
                "severity": r.severity,
                "findings": r.findings,
            }
            for r in sorted(a.results, key=lambda r: r.check_id)
        ],
        "frameworks": [
            {
                "framework": fw.framework,
                "title": fw.title,
                "counts": dict(sorted(fw.counts.items())),
                "covered_percent": coverage_percent(fw.counts),
            }
            for fw in a.frameworks
        ],
    }


def regional_summary(a: Assessment, key: bytes) -> dict[str, Any]:
    label = Pseudonymizer(key)("facility", a.site.facility_id or a.site.name)
    return facility_summary(a, label)
