"""CSAF 2.0 advisories (as CISA publishes ICS advisories) -> ``Advisory``.

Only the parts matching needs are read: the product tree leaves with their version expressions and
order numbers, and per vulnerability its CVE, CVSS v3 scores, product status and remediations.
A document that is not usable raises ``InputError`` naming the file and the place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from icsaudit.advisories.model import Advisory, Product, Remediation, Vulnerability
from icsaudit.errors import InputError

_VERSION_LEAVES = ("product_version", "product_version_range")
_AFFECTED_STATUSES = ("known_affected", "first_affected", "last_affected")


def is_csaf(doc: Any) -> bool:
    return (
        isinstance(doc, dict) and isinstance(doc.get("document"), dict) and "csaf_version" in doc["document"]
    )


def parse_csaf(doc: dict[str, Any], source: Path) -> Advisory:
    document = doc["document"]
    if str(document.get("csaf_version")) != "2.0":
        raise InputError(f"{source}: csaf_version {document.get('csaf_version')!r} is not 2.0")
    tracking = _field(document, "tracking", dict, source, "document")
    advisory_id = _field(tracking, "id", str, source, "document.tracking")
    revision = str(_field(tracking, "version", (str, int), source, "document.tracking"))
    tree = doc.get("product_tree")
    if not isinstance(tree, dict):
        raise InputError(f"{source}: {advisory_id} has no product_tree")
    products: list[Product] = []
    _walk(tree.get("branches", []), {}, products, source, "product_tree.branches")
    for index, full in enumerate(tree.get("full_product_names", []) or []):
        products.append(_full_product(full, {}, "", "", source, f"product_tree.full_product_names[{index}]"))
    known = {p.product_id for p in products}
    for index, rel in enumerate(tree.get("relationships", []) or []):
        # "X installed on Y": the composite product is affected as X is; keep X's name and versions.
        full = rel.get("full_product_name") or {}
        base = next((p for p in products if p.product_id == rel.get("product_reference")), None)
        if full.get("product_id") and base:
            products.append(
                Product(
                    product_id=full["product_id"],
                    vendor=base.vendor,
                    name=base.name,
                    full_name=full.get("name", ""),
                    version_kind=base.version_kind,
                    version=base.version,
                    model_numbers=base.model_numbers,
                )
            )
            known.add(full["product_id"])
        elif not full.get("product_id"):
            raise InputError(
                f"{source}: product_tree.relationships[{index}] has no full_product_name.product_id"
            )
    vulnerabilities = [
        _vulnerability(v, known, source, f"vulnerabilities[{i}]")
        for i, v in enumerate(_list(doc.get("vulnerabilities", []), source, "vulnerabilities"))
    ]
    return Advisory(
        advisory_id=advisory_id,
        revision=revision,
        title=str(document.get("title", "")),
        url=_advisory_url(document.get("references", []) or []),
        initial_release=str(tracking.get("initial_release_date", "")),
        current_release=str(tracking.get("current_release_date", "")),
        publisher=str((document.get("publisher") or {}).get("name", "")),
        products=products,
        vulnerabilities=vulnerabilities,
    )


def _walk(branches: Any, path: dict[str, str], out: list[Product], source: Path, where: str) -> None:
    for index, branch in enumerate(_list(branches, source, where)):
        place = f"{where}[{index}]"
        if not isinstance(branch, dict) or "category" not in branch or "name" not in branch:
            raise InputError(f"{source}: {place} is not a branch with category and name")
        here = {**path, branch["category"]: str(branch["name"])}
        if "product" in branch:
            kind = branch["category"] if branch["category"] in _VERSION_LEAVES else ""
            out.append(
                _full_product(
                    branch["product"],
                    here,
                    kind,
                    str(branch["name"]) if kind else "",
                    source,
                    f"{place}.product",
                )
            )
        if "branches" in branch:
            _walk(branch["branches"], here, out, source, f"{place}.branches")


def _full_product(
    product: Any, path: dict[str, str], kind: str, version: str, source: Path, where: str
) -> Product:
    if not isinstance(product, dict) or not product.get("product_id"):
        raise InputError(f"{source}: {where} has no product_id")
    helper = product.get("product_identification_helper") or {}
    name = path.get("product_name") or path.get("product_family") or str(product.get("name", ""))
    return Product(
        product_id=str(product["product_id"]),
        vendor=path.get("vendor", "").strip(),
        name=name.strip(),
        full_name=str(product.get("name", "")).strip(),
        version_kind=kind,
        version=version,
        model_numbers=[str(m) for m in helper.get("model_numbers", []) or []],
    )


def _vulnerability(vuln: Any, known: set[str], source: Path, where: str) -> Vulnerability:
    if not isinstance(vuln, dict):
        raise InputError(f"{source}: {where} is not an object")
    status = vuln.get("product_status") or {}
    affected = sorted({pid for key in _AFFECTED_STATUSES for pid in status.get(key, []) or []})
    unknown = [pid for pid in affected if pid not in known]
    if unknown:
        raise InputError(
            f"{source}: {where}.product_status names product ids not in the product tree: "
            f"{', '.join(unknown[:5])}"
        )
    scores: dict[str, tuple[float, str]] = {}
    for index, score in enumerate(vuln.get("scores", []) or []):
        cvss = score.get("cvss_v3") or {}
        if "baseScore" not in cvss:
            continue  # CVSS v2 only: no v3 base score to report
        try:
            base = float(cvss["baseScore"])
        except (TypeError, ValueError):
            raise InputError(
                f"{source}: {where}.scores[{index}].cvss_v3.baseScore {cvss['baseScore']!r} is not a number"
            ) from None
        for pid in score.get("products", []) or []:
            if pid not in scores or scores[pid][0] < base:
                scores[pid] = (base, str(cvss.get("vectorString", "")))
    best = max(scores.values(), default=None)
    remediations = [
        Remediation(
            category=str(r.get("category", "")),
            details=str(r.get("details", "")).strip(),
            product_ids=list(r.get("product_ids", []) or []),
            url=str(r.get("url", "")),
        )
        for r in vuln.get("remediations", []) or []
        if isinstance(r, dict)
    ]
    return Vulnerability(
        cve=str(vuln.get("cve", "")),
        title=str(vuln.get("title", "")),
        cvss=best[0] if best else None,
        cvss_vector=best[1] if best else "",
        scores=scores,
        known_affected=affected,
        fixed=sorted(status.get("fixed", []) or []),
        remediations=remediations,
    )


def _advisory_url(references: list[dict[str, Any]]) -> str:
    selfs = [r.get("url", "") for r in references if isinstance(r, dict) and r.get("category") == "self"]
    for url in selfs:
        if "cisa.gov" in url and not url.endswith(".json"):
            return url  # the human-readable CISA page
    html = [u for u in selfs if not u.endswith(".json")]
    return (html or selfs or [""])[0]


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], source: Path, where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or value == "":
        raise InputError(f"{source}: {where}.{key} is missing or not a {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return "/".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__


def _list(value: Any, source: Path, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InputError(f"{source}: {where} is not a list")
    return value
