"""CISA's Known Exploited Vulnerabilities catalog (known_exploited_vulnerabilities.json) -> ``KevCatalog``.

Recognized by its shape (catalogVersion + vulnerabilities[].cveID), as its JSON schema describes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from icsaudit.advisories.model import KevCatalog, KevEntry
from icsaudit.errors import InputError


def is_kev(doc: Any) -> bool:
    return isinstance(doc, dict) and "catalogVersion" in doc and isinstance(doc.get("vulnerabilities"), list)


def parse_kev(doc: dict[str, Any], source: Path) -> KevCatalog:
    entries: list[KevEntry] = []
    for index, item in enumerate(doc["vulnerabilities"]):
        if not isinstance(item, dict) or not str(item.get("cveID", "")).startswith("CVE-"):
            raise InputError(f"{source}: vulnerabilities[{index}] has no cveID of the form CVE-YYYY-NNNN")
        if not item.get("dateAdded"):
            raise InputError(f"{source}: vulnerabilities[{index}] ({item['cveID']}) has no dateAdded")
        entries.append(
            KevEntry(
                cve=item["cveID"],
                vendor=str(item.get("vendorProject", "")),
                product=str(item.get("product", "")),
                name=str(item.get("vulnerabilityName", "")),
                date_added=str(item["dateAdded"]),
                required_action=str(item.get("requiredAction", "")),
                due_date=str(item.get("dueDate", "")),
                ransomware=str(item.get("knownRansomwareCampaignUse", "")),
            )
        )
    count = doc.get("count")
    if isinstance(count, int) and count != len(entries):
        raise InputError(f"{source}: count says {count} entries, the file has {len(entries)}")
    return KevCatalog(
        version=str(doc["catalogVersion"]), released=str(doc.get("dateReleased", "")), entries=entries
    )
