"""Structs of the advisory store (normalized CSAF advisories, KEV entries) and of a match.

The store keeps each advisory as one msgspec-encoded ``Advisory``: only what matching and reporting
need, in a shape that does not depend on how CSAF nests it.
"""

from __future__ import annotations

import msgspec


class Product(msgspec.Struct, kw_only=True, frozen=True):
    """One leaf of a CSAF product tree: a product name with its affected-version expression."""

    product_id: str
    vendor: str  # as written in the advisory
    name: str  # product_name branch (the product family branch when there is no product_name)
    full_name: str = ""  # product.name of the leaf
    version_kind: str = ""  # product_version | product_version_range | "" (no version leaf)
    version: str = ""  # the expression as written (vers:all/<V2.9.7, <=1.4.0, V35.011 ...)
    model_numbers: list[str] = []


class Remediation(msgspec.Struct, kw_only=True, frozen=True):
    category: str  # vendor_fix | mitigation | workaround | none_available | no_fix_planned
    details: str
    product_ids: list[str] = []
    url: str = ""


class Vulnerability(msgspec.Struct, kw_only=True, frozen=True):
    cve: str  # "" when the advisory gives none (then ``title`` names it)
    title: str = ""
    cvss: float | None = None  # CVSS v3 base score, the highest given for the product ids
    cvss_vector: str = ""
    scores: dict[str, tuple[float, str]] = {}  # product id -> (base score, vector)
    known_affected: list[str] = []
    fixed: list[str] = []
    remediations: list[Remediation] = []


class Advisory(msgspec.Struct, kw_only=True):
    advisory_id: str  # document.tracking.id, e.g. ICSA-24-284-08
    revision: str  # document.tracking.version
    title: str
    url: str = ""
    initial_release: str = ""
    current_release: str = ""
    publisher: str = ""
    products: list[Product] = []
    vulnerabilities: list[Vulnerability] = []


class KevEntry(msgspec.Struct, kw_only=True, frozen=True):
    cve: str
    vendor: str = ""
    product: str = ""
    name: str = ""
    date_added: str = ""
    required_action: str = ""
    due_date: str = ""
    ransomware: str = ""  # knownRansomwareCampaignUse: Known | Unknown


class KevCatalog(msgspec.Struct, kw_only=True):
    version: str
    released: str
    entries: list[KevEntry]


class CveDetail(msgspec.Struct, kw_only=True):
    """One CVE of a matched advisory, as it applies to the matched product."""

    cve: str
    confidence: str = "high"  # of the matched product ids this CVE lists (see VulnerabilityMatch)
    cvss: float | None = None
    cvss_vector: str = ""
    kev: bool = False
    kev_date_added: str = ""
    kev_required_action: str = ""
    kev_due_date: str = ""
    kev_ransomware: str = ""
    fixed: str = ""  # fixed version from the vendor_fix text, that text, or "no fix available"


class VulnerabilityMatch(msgspec.Struct, kw_only=True):
    """An asset that an advisory says is (probably) affected."""

    asset_id: str
    advisory_id: str
    title: str
    cves: list[str]
    cvss: float | None  # highest CVSS v3 base score among the matched CVEs
    cvss_vector: str
    kev: bool  # any matched CVE is in CISA KEV (known exploited)
    confidence: str  # high | medium | low
    product: str  # the advisory's product name that matched
    version_range: str  # the affected-version expression as written
    remediation: str  # advisory text for the matched product ids (vendor fix, mitigation, workaround)
    url: str
    firmware: str = ""  # the asset's firmware as compared
    reason: str = ""  # why this confidence: "order number 6ES7... and V2.9.4 in <V2.9.7"
    details: list[CveDetail] = []
