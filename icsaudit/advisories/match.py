"""Match identified devices (vendor, model/order number, firmware) against the advisory store.

An index by normalized vendor, then by order-number/name key, product family and name token keeps
matching at a few dictionary look-ups per asset instead of assets x advisories.

Confidence of a match:
- high: the model matched (order number, catalog number, product name, or a product that is the
  device's whole family) and the firmware is inside the affected range (or all versions are affected);
- medium: the model matched but the firmware is unknown, the range cannot be compared, or the range
  carries a condition the evidence cannot check ("only if basic authentication is used");
- low: only the product family matched (the device gave no precise model) and the firmware is in
  range or unknown.
A firmware outside the range is no match: the advisory says that version is not affected.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from icsaudit.advisories.model import Advisory, CveDetail, KevEntry, Product, Remediation, VulnerabilityMatch
from icsaudit.advisories.normalize import (
    catalog_keys,
    compact,
    contains_sequence,
    family_of,
    is_specific,
    model_tokens,
    order_numbers,
    vendor_from_model,
    vendor_keys,
)
from icsaudit.advisories.store import default_store_path, load_advisories
from icsaudit.advisories.versions import Version, VersionRange, parse_range, parse_version
from icsaudit.evidence.model import Asset, Evidence

CONFIDENCE_RANK = {"low": 1, "medium": 2, "high": 3}
# "Update to V2.4 or later version", "upgrade the firmware to version 11.003": the fixed version.
_FIX_VERSION = re.compile(
    r"(?:update|upgrade)\w*\s+(?:\w+\s+){0,6}?to\s+(?:version\s+|firmware\s+(?:version\s+)?)?"
    r"([vVrR]?\d[\w.\-]*(?:\s+(?:SP|Update|HF)\s?\d+)*)",
    re.I,
)


@dataclass(frozen=True, eq=False)
class _Entry:
    """One advisory product prepared for matching."""

    advisory: Advisory
    product: Product
    keys: frozenset[str]
    tokens: tuple[str, ...]
    family: str
    family_product: bool  # the product is the whole family ("S7-1200 CPU family", "ControlLogix 5580")
    version_range: VersionRange


@dataclass
class _VendorIndex:
    by_key: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    by_family: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    by_token: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    products: int = 0


@dataclass(frozen=True)
class _Device:
    asset_id: str
    vendors: tuple[str, ...]
    model: str
    firmware: str
    version: Version | None
    keys: frozenset[str]
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class _Hit:
    entry: _Entry
    confidence: str
    reason: str


def _product_keys(product: Product) -> frozenset[str]:
    keys = {compact(n) for n in product.model_numbers}
    keys.update(compact(n) for n in order_numbers(product.name))
    name = compact(" ".join(model_tokens(product.name)))
    if len(name) >= 4:
        keys.add(name)  # the whole name: "SINEC NMS", "ControlLogix 5580"
    for key in catalog_keys(product.name):
        keys.update({key, key.split("/")[0] + "/*"})
    keys.discard("")
    return frozenset(keys)


def _device_keys(model: str) -> frozenset[str]:
    keys = {compact(n) for n in order_numbers(model)}
    catalog = catalog_keys(model)
    keys.update(catalog)
    if not catalog and "-" in model and model.strip()[:4].isdigit():
        keys.add(compact(model) + "/*")  # "1756-EN2T" without series: any series of that catalog number
    name = compact(" ".join(model_tokens(model)))
    if len(name) >= 4:
        keys.add(name)
    keys.discard("")
    return frozenset(keys)


class AdvisoryIndex:
    """Advisories and KEV in memory, indexed for matching."""

    def __init__(self, advisories: list[Advisory], kev: dict[str, KevEntry]) -> None:
        self.advisories = advisories
        self.kev = kev
        self.vendors: dict[str, _VendorIndex] = defaultdict(_VendorIndex)
        # advisory id -> product id -> indexes of the vulnerabilities that list it as affected
        self.vulns_of: dict[str, dict[str, list[int]]] = {}
        self._details_cache: dict[tuple[str, frozenset[tuple[str, str]]], tuple[list[CveDetail], str]] = {}
        for advisory in advisories:
            by_product: dict[str, list[int]] = defaultdict(list)
            for position, vuln in enumerate(advisory.vulnerabilities):
                for pid in vuln.known_affected:
                    by_product[pid].append(position)
            self.vulns_of[advisory.advisory_id] = by_product
            for product in advisory.products:
                self._add(advisory, product)

    @classmethod
    def from_store(cls, store: Path | None = None) -> AdvisoryIndex:
        return cls(*load_advisories(store or default_store_path()))

    def _add(self, advisory: Advisory, product: Product) -> None:
        for vendor in vendor_keys(product.vendor) or ["unknown"]:
            family = family_of(vendor, product.name, *product.model_numbers)
            toks = model_tokens(product.name)
            entry = _Entry(
                advisory=advisory,
                product=product,
                keys=_product_keys(product),
                tokens=toks,
                family=family.name if family else "",
                family_product=bool(family) and (toks == family.tokens or "family" in product.name.lower()),
                version_range=parse_range(product.version, product.version_kind or "product_version_range"),
            )
            index = self.vendors[vendor]
            index.products += 1
            for key in entry.keys:
                index.by_key[key].append(entry)
            if entry.family:
                index.by_family[entry.family].append(entry)
            for token in set(toks):
                index.by_token[token].append(entry)

    def vendor_names(self) -> list[str]:
        return sorted(self.vendors)

    # ---------------------------------------------------------------------------------------------
    def device(self, asset_id: str, vendor: str, model: str, firmware: str, mac_vendor: str = "") -> _Device:
        vendors = [v for v in vendor_keys(vendor) if v in self.vendors]
        if not vendors:
            guessed = vendor_from_model(model)
            vendors = [guessed] if guessed else [v for v in vendor_keys(mac_vendor) if v in self.vendors]
        return _Device(
            asset_id=asset_id,
            vendors=tuple(vendors),
            model=model.strip(),
            firmware=firmware.strip(),
            version=parse_version(firmware) if firmware else None,
            keys=_device_keys(model),
            tokens=model_tokens(model),
        )

    def match_device(self, device: _Device) -> list[VulnerabilityMatch]:
        hits: dict[int, _Hit] = {}
        for vendor in device.vendors:
            index = self.vendors.get(vendor)
            if index is None or not device.model:
                continue
            for candidate, level, reason in self._candidates(index, vendor, device):
                hit = self._judge(candidate, level, reason, device)
                if hit and (
                    id(candidate) not in hits
                    or CONFIDENCE_RANK[hit.confidence] > CONFIDENCE_RANK[hits[id(candidate)].confidence]
                ):
                    hits[id(candidate)] = hit
        by_advisory: dict[str, list[_Hit]] = defaultdict(list)
        for hit in hits.values():
            by_advisory[hit.entry.advisory.advisory_id].append(hit)
        matches = [m for group in by_advisory.values() if (m := self._match(device, group))]
        return sorted(matches, key=lambda m: (-CONFIDENCE_RANK[m.confidence], -(m.cvss or 0), m.advisory_id))

    def _candidates(self, index: _VendorIndex, vendor: str, device: _Device):
        for key in device.keys:
            for entry in index.by_key.get(key, ()):
                yield entry, "model", f"order/catalog number or name {device.model!r}"
        family = family_of(vendor, device.model)
        family_level = bool(family) and (device.tokens == family.tokens or not is_specific(device.tokens))
        if family:
            for entry in index.by_family.get(family.name, ()):
                if entry.family_product:
                    yield entry, "model", f"{entry.product.name!r} covers the {family.name} family"
                elif family_level:
                    yield entry, "family", f"only the {family.name} family is known"
        if is_specific(device.tokens) and not family_level:
            rarest = min(device.tokens, key=lambda t: len(index.by_token.get(t, ())))
            for entry in index.by_token.get(rarest, ()):
                if contains_sequence(entry.tokens, device.tokens):
                    yield entry, "model", f"product name contains {device.model!r}"

    @staticmethod
    def _judge(entry: _Entry, level: str, reason: str, device: _Device) -> _Hit | None:
        rng = entry.version_range
        inside = rng.contains(device.version)
        if inside is False:
            return None  # the advisory says this firmware is not affected
        if inside is True:
            why = "all versions affected" if rng.kind == "all" else f"{device.firmware} in {rng.text}"
            confidence = "high"
        elif rng.kind == "unparsed":
            why, confidence = f"range {rng.text!r} not comparable ({rng.problem})", "medium"
        else:
            why, confidence = (
                "firmware unknown" if not device.firmware else f"firmware {device.firmware!r} not comparable",
                "medium",
            )
        if rng.condition and confidence == "high":
            why, confidence = f"{why}, only when: {rng.condition}", "medium"
        if level == "family":
            confidence = "low"
        return _Hit(entry, confidence, f"{reason}; {why}")

    def _match(self, device: _Device, hits: list[_Hit]) -> VulnerabilityMatch | None:
        advisory = hits[0].entry.advisory
        confidence_of = {h.entry.product.product_id: h.confidence for h in hits}
        details, remediation = self._details(advisory, frozenset(confidence_of.items()))
        if not details:
            return None
        best = max(hits, key=lambda h: (CONFIDENCE_RANK[h.confidence], h.entry.family_product is False))
        top = max(details, key=lambda d: d.cvss or 0)
        return VulnerabilityMatch(
            asset_id=device.asset_id,
            advisory_id=advisory.advisory_id,
            title=advisory.title,
            cves=sorted({d.cve for d in details}),
            cvss=top.cvss,
            cvss_vector=top.cvss_vector,
            kev=any(d.kev for d in details),
            confidence=max((d.confidence for d in details), key=CONFIDENCE_RANK.__getitem__),
            product=best.entry.product.name or best.entry.product.full_name,
            version_range=best.entry.product.version,
            remediation=remediation,
            url=advisory.url,
            firmware=device.firmware,
            reason=best.reason,
            details=details,
        )

    def _details(
        self, advisory: Advisory, matched: frozenset[tuple[str, str]]
    ) -> tuple[list[CveDetail], str]:
        """CVEs, scores, KEV and remediation text of an advisory for the matched product ids (with their
        confidence); the same products recur across a plant, so this is cached."""
        key = (advisory.advisory_id, matched)
        if key in self._details_cache:
            return self._details_cache[key]
        confidence_of = dict(matched)
        details: list[CveDetail] = []
        remediation: dict[str, None] = {}  # ordered set of texts
        by_product = self.vulns_of[advisory.advisory_id]
        for position in sorted({i for pid in confidence_of for i in by_product.get(pid, ())}):
            vuln = advisory.vulnerabilities[position]
            ids = {pid for pid in vuln.known_affected if pid in confidence_of}
            scored = [vuln.scores[pid] for pid in ids if pid in vuln.scores]
            cvss, vector = max(scored) if scored else (vuln.cvss, vuln.cvss_vector)
            kev = self.kev.get(vuln.cve)
            details.append(
                CveDetail(
                    cve=vuln.cve or vuln.title,
                    confidence=max((confidence_of[pid] for pid in ids), key=CONFIDENCE_RANK.__getitem__),
                    cvss=cvss,
                    cvss_vector=vector,
                    kev=kev is not None,
                    kev_date_added=kev.date_added if kev else "",
                    kev_required_action=kev.required_action if kev else "",
                    kev_due_date=kev.due_date if kev else "",
                    kev_ransomware=kev.ransomware if kev else "",
                    fixed=_fixed(
                        [
                            r
                            for r in vuln.remediations
                            if not r.product_ids or not ids.isdisjoint(r.product_ids)
                        ]
                    ),
                )
            )
            for rem in vuln.remediations:
                if not rem.product_ids or not ids.isdisjoint(rem.product_ids):
                    remediation[f"{rem.category}: {rem.details}" + (f" ({rem.url})" if rem.url else "")] = (
                        None
                    )
        result = (sorted(details, key=lambda d: d.cve), "\n".join(remediation))
        self._details_cache[key] = result
        return result

    def match_assets(self, assets: list[Asset]) -> list[VulnerabilityMatch]:
        found: list[VulnerabilityMatch] = []
        # A plant has many identical devices: match each identity once, then copy per asset.
        seen: dict[tuple[str, str, str, str], list[VulnerabilityMatch]] = {}
        for asset in assets:
            identity = (asset.vendor, asset.model, asset.firmware, asset.mac_vendor)
            if identity not in seen:
                device = self.device("", *identity)
                seen[identity] = self.match_device(device)
            found.extend(msgspec.structs.replace(m, asset_id=asset.asset_id) for m in seen[identity])
        return found

    def coverage(self, asset: Asset) -> str:
        """Whether an asset could be assessed: assessed | no-model | no-firmware | vendor-not-in-store."""
        device = self.device(asset.asset_id, asset.vendor, asset.model, asset.firmware, asset.mac_vendor)
        if not device.model:
            return "no-model"
        if not device.vendors:
            return "vendor-not-in-store"
        return "assessed" if device.version is not None else "no-firmware"


def _fixed(remediations: list[Remediation]) -> str:
    """The fixed version a vendor_fix names, else its first line; "no fix available" when the advisory says so."""
    for rem in remediations:
        if rem.category == "vendor_fix":
            found = _FIX_VERSION.search(rem.details)
            return found.group(1).rstrip(".") if found else rem.details.splitlines()[0][:160]
    if any(r.category in ("none_available", "no_fix_planned") for r in remediations):
        return "no fix available"
    return ""


def match_assets(
    assets: list[Asset], *, store: Path | None = None, index: AdvisoryIndex | None = None
) -> list[VulnerabilityMatch]:
    """Advisories that affect the given assets (see the module docstring for confidence)."""
    return (index or AdvisoryIndex.from_store(store)).match_assets(assets)


def vulnerability_rows(
    evidence: Evidence, *, store: Path | None = None, index: AdvisoryIndex | None = None
) -> list[dict[str, Any]]:
    """One row per (asset, advisory, CVE) for the engine's DuckDB table ``vulnerabilities``.

    Raises InputError when there is no advisory store: the check should then be not-assessed.
    """
    rows: list[dict[str, Any]] = []
    ips = {a.asset_id: a.ip for a in evidence.assets}
    for match in match_assets(evidence.assets, store=store, index=index):
        for detail in match.details:
            rows.append(
                {
                    "asset_id": match.asset_id,
                    "ip": ips.get(match.asset_id, ""),
                    "advisory": match.advisory_id,  # the engine's column name (checks/…/AV-03.yaml)
                    "advisory_id": match.advisory_id,
                    "fixed": detail.fixed,
                    "title": match.title,
                    "cve": detail.cve,
                    "cvss": detail.cvss,
                    "cvss_vector": detail.cvss_vector,
                    "kev": detail.kev,
                    "kev_date_added": detail.kev_date_added,
                    "kev_required_action": detail.kev_required_action,
                    "kev_due_date": detail.kev_due_date,
                    "kev_ransomware": detail.kev_ransomware,
                    "confidence": detail.confidence,
                    "product": match.product,
                    "version_range": match.version_range,
                    "firmware": match.firmware,
                    "remediation": match.remediation,
                    "url": match.url,
                    "reason": match.reason,
                }
            )
    return rows


def vulnerability_coverage_rows(
    evidence: Evidence, *, store: Path | None = None, index: AdvisoryIndex | None = None
) -> list[dict[str, Any]]:
    """One row per asset for a table ``vulnerability_assets`` (asset_id, status, vendor, model, firmware):
    status ``assessed`` only when vendor, model and firmware were known, so AV-03 can mark the rest
    not-assessed instead of pass."""
    idx = index or AdvisoryIndex.from_store(store)
    return [
        {
            "asset_id": a.asset_id,
            "status": idx.coverage(a),
            "vendor": a.vendor,
            "model": a.model,
            "firmware": a.firmware,
        }
        for a in evidence.assets
    ]
