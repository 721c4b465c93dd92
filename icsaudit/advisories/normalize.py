"""Vendor and product names as advisories and devices write them, reduced to comparable keys.

Aliases are data (``aliases.yaml`` beside this module): vendor spellings, product families with the
order-number patterns of their models, and brand words that carry no model information.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

_COMPANY_SUFFIXES = re.compile(
    r"\b(ag|inc|incorporated|corp|corporation|co|ltd|limited|gmbh|kg|se|llc|plc|sa|spa|bv|ab|oy)\b\.?", re.I
)
_PARENTHESES = re.compile(r"\([^)]*\)")
_TOKENS = re.compile(r"[a-z0-9]+")
# Rockwell catalog numbers with a series: "1756-EN2T Series D", "1756-EN2T/D", "1756-EN2T, Series A/B/C".
_CATALOG = re.compile(
    r"^\s*(\d{4}[A-Z]{0,2}\s?-\s?[A-Z0-9]+)\s*(?:,?\s*series\s+|/)([A-Z](?:\s*/\s*[A-Z])*)\b", re.I
)
# Order numbers inside product names: "SIMATIC S7-1500 CPU 1511-1 PN (6ES7511-1AK02-0AB0)".
_ORDER_NUMBER = re.compile(r"\b(6[A-Z]{2}\d[\s\d]{3,4}-[0-9A-Z]{5}-[0-9A-Z]{4})\b")
_FAMILY_WORDS = re.compile(r"\b(cpu\s+)?(product\s+)?family\b", re.I)


@dataclass(frozen=True)
class Family:
    vendor: str
    name: str
    patterns: tuple[re.Pattern[str], ...]
    tokens: tuple[str, ...]  # name tokens without brand words


@dataclass(frozen=True)
class Aliases:
    vendor_by_name: dict[str, str]  # cleaned name -> vendor key
    vendor_patterns: tuple[tuple[str, re.Pattern[str]], ...]
    families: tuple[Family, ...]
    brand_words: frozenset[str]


def clean_name(name: str) -> str:
    """Lowercase, no punctuation, no company suffix: "Siemens AG" -> "siemens"."""
    text = _COMPANY_SUFFIXES.sub(" ", name.replace("&", " "))
    return " ".join(_TOKENS.findall(text.lower()))


@cache
def aliases() -> Aliases:
    doc = yaml.safe_load(resources.files("icsaudit.advisories").joinpath("aliases.yaml").read_text("utf-8"))
    brand = frozenset(word.lower() for word in doc.get("brand_words", []))
    by_name: dict[str, str] = {}
    patterns: list[tuple[str, re.Pattern[str]]] = []
    for key, spec in doc["vendors"].items():
        by_name[clean_name(key)] = key
        for name in spec.get("names", []):
            by_name[clean_name(name)] = key
        patterns.extend((key, re.compile(p, re.I)) for p in spec.get("model_patterns", []))
    families = tuple(
        Family(
            vendor=item["vendor"],
            name=item["name"],
            patterns=tuple(re.compile(p, re.I) for p in item["patterns"]),
            tokens=tuple(t for t in tokens(item["name"]) if t not in brand),
        )
        for item in doc.get("families", [])
    )
    return Aliases(by_name, tuple(patterns), families, brand)


def vendor_keys(name: str) -> list[str]:
    """Vendor keys of a vendor name; "ICONICS, Mitsubishi Electric" names two vendors."""
    table = aliases().vendor_by_name
    cleaned = clean_name(name)
    if not cleaned:
        return []
    if cleaned in table:
        return [table[cleaned]]
    for separator in (",", "/", " and "):
        parts = [clean_name(p) for p in name.split(separator)]
        if len(parts) > 1 and all(p in table for p in parts if p):
            return sorted({table[p] for p in parts if p})
    # "Rockwell Automation/Allen-Bradley" style names and unknown long forms: a known name as prefix.
    for known, key in table.items():
        if cleaned.startswith(known + " ") and len(known) > 3:
            return [key]
    return [cleaned]


def vendor_from_model(model: str) -> str:
    """The vendor whose order-number patterns the model matches, or ""."""
    for key, pattern in aliases().vendor_patterns:
        if pattern.search(model.strip()):
            return key
    for family in aliases().families:
        if any(p.search(model.strip()) for p in family.patterns):
            return family.vendor
    return ""


def family_of(vendor: str, *texts: str) -> Family | None:
    """The first family of ``vendor`` whose patterns match any of ``texts``."""
    for family in aliases().families:
        if family.vendor != vendor:
            continue
        for text in texts:
            if text and any(p.search(text.strip()) for p in family.patterns):
                return family
    return None


def tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKENS.findall(text.lower()))


def model_tokens(text: str) -> tuple[str, ...]:
    """Tokens of a model or product name without parentheses, family words and brand words."""
    stripped = _FAMILY_WORDS.sub(" ", _PARENTHESES.sub(" ", text))
    brand = aliases().brand_words
    return tuple(t for t in tokens(stripped) if t not in brand)


def compact(text: str) -> str:
    """Order-number key: uppercase letters and digits only ("6ES7 511-1AK02-0AB0" -> "6ES75111AK020AB0")."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def catalog_keys(text: str) -> set[str]:
    """Keys of a catalog number with series: {"1756EN2T/D"} (or {"1756EN2T/*"} when no series is given
    by a device, so it matches every series of the catalog number)."""
    found = _CATALOG.match(text)
    if not found:
        return set()
    base = compact(found.group(1))
    return {f"{base}/{s.strip().upper()}" for s in found.group(2).split("/")}


def order_numbers(text: str) -> list[str]:
    return [m.group(1) for m in _ORDER_NUMBER.finditer(text.upper())]


def is_specific(model_toks: tuple[str, ...]) -> bool:
    """A model name precise enough to look for inside product names: "CPU 1511-1 PN", "XCM324",
    not "1500" nor a bare brand."""
    if not model_toks:
        return False
    mixed = any(any(c.isdigit() for c in t) and any(c.isalpha() for c in t) for t in model_toks)
    with_number = any(t.isdigit() for t in model_toks)
    return mixed or (with_number and len(model_toks) >= 2)


def contains_sequence(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))
