"""Firmware versions and the affected-version expressions of CSAF advisories, as vendors write them.

Versions are compared component by component: numbers as integers (so ENIP ``33.11`` equals Rockwell's
``V33.011``), words as lowercase text (Siemens ``SP2``/``Update 3``, Mitsubishi ``1.290C``), trailing
zeros ignored (``V2.4`` equals ``V2.4.0``), a shorter version sorts before its longer continuation
(``V2.4`` < ``V2.4 SP1`` < ``V2.5``). A trailing ``x`` is a wildcard (``R210.X``, ``2.001.x``).

Ranges cover CISA's pseudo-vers (``vers:all/>=V11.5.1|<V11.6.2``), real vers schemes (``vers:generic``,
``vers:intdot``, ``vers:semver``) and the free-text forms of the real advisories (spaces written as
``_``): ``All versions < V23Q4``, ``>FW19 up to and including FW26``, several branch fixes in one bound
(``<V33.017_V34.014_V35.013_V36.011``), and bounds followed by a condition (``<V8.89 installed on CP100
devices``). What cannot be read as versions (serial-number ranges, versions of another component) is
kept as ``unparsed`` with the reason, and matching reports it with medium confidence.

Survey of the 3714 version leaves of the 300 real advisories (../shared/reference/csaf): 1795 all-versions
forms, 1873 bounds/exact versions, 18 branch-fix lists, 74 with a condition (medium confidence), and
28 not parsed, all of these forms:
- ``<=The_first_5_digits_of_serial_No._"26061"`` (22, Mitsubishi): a serial-number range, not a version;
- ``<with_Nozomi_Guardian_/_CMC_23.4.1``, ``<with_Palo_Alto_Networks_Virtual_NGFW_V11.0.1`` (3): the
  version of another component installed on the device;
- ``R15x``, ``>=R16x|<=R162.10`` (2, Honeywell): a wildcard inside a number;
- ``>= 1.31 | <= 1.4`` (1): an interval inverted when compared per component (decimal fractions?).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

Part = tuple[int, int | str]  # (1, number) or (0, word): words sort before numbers at one position

_PREFIX = re.compile(r"^\s*(?:firmware|fw|version|ver\.?|rev\.?|v\.?|r)\s*(?=\d)", re.I)
_PARTS = re.compile(r"\d+|[a-z]+")
_WORD_ALIASES = {"upd": "update", "servicepack": "sp", "hotfix": "hf"}
# Words that continue a version after a space: "V4.5 SP2 Update 3", "R511.5 TCU4 HF4", "V3.18 P025".
_QUALIFIERS = frozenset({"sp", "update", "upd", "hf", "hotfix", "p", "tcu", "sr", "kit", "ga", "uc"})
_OPERATORS = ("<=", ">=", "!=", "<", ">", "=")
_DOTTED = re.compile(r"^[vr]?\d+\.\d+", re.I)


@total_ordering
@dataclass(frozen=True)
class Version:
    text: str
    parts: tuple[Part, ...]  # as written, for wildcard prefixes
    wildcard: bool = False  # written with a trailing x: any version that starts with ``parts``

    @property
    def key(self) -> tuple[Part, ...]:
        parts = list(self.parts)
        while parts and parts[-1] == (1, 0):
            parts.pop()
        return tuple(parts)

    @property
    def major(self) -> Part | None:
        return self.parts[0] if self.parts else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def matches(self, pattern: Version) -> bool:
        """Equality, where a wildcard ``pattern`` accepts every version that starts with its parts."""
        if not pattern.wildcard:
            return self == pattern
        mine = list(self.parts) + [(1, 0)] * max(0, len(pattern.parts) - len(self.parts))
        return tuple(mine[: len(pattern.parts)]) == pattern.parts

    def __str__(self) -> str:
        return self.text


def parse_version(text: str) -> Version | None:
    """A comparable version, or None when ``text`` holds no number (empty, "unknown", "All versions")."""
    raw = text.strip().strip('"').replace("_", " ")
    if not raw or not any(ch.isdigit() for ch in raw):
        return None
    body = _PREFIX.sub("", raw).lower()
    tokens = _PARTS.findall(body)
    wildcard = False
    if tokens and tokens[-1] == "x":
        wildcard = True
        tokens.pop()
        if body.rstrip().endswith(tuple(f"{d}x" for d in "0123456789")):
            return None  # "R15x": a wildcard inside a number (R150..R159?) is not comparable
    if not tokens or not tokens[0].isdigit() and not any(t.isdigit() for t in tokens):
        return None
    parts: list[Part] = []
    for token in tokens:
        if token.isdigit():
            parts.append((1, int(token)))
        else:
            parts.append((0, _WORD_ALIASES.get(token, token)))
    return Version(text=text.strip(), parts=tuple(parts), wildcard=wildcard)


def _holds(version: Version, op: str, bound: Version) -> bool:
    if op == "=":
        return version.matches(bound)
    if op == "!=":
        return not version.matches(bound)
    if op == "<":
        return version < bound
    if op == "<=":
        return version <= bound or version.matches(bound)
    if op == ">":
        return version > bound
    return version >= bound or version.matches(bound)  # >=


@dataclass(frozen=True)
class VersionRange:
    """An affected-version expression, parsed."""

    text: str  # as written in the advisory
    kind: str  # all | constraints | branches | unparsed
    constraints: tuple[tuple[str, Version], ...] = ()
    branch_op: str = "<"  # for kind == branches: "<" or "<="
    branches: tuple[Version, ...] = ()
    condition: str = ""  # text that limits the range beyond versions ("installed on CP100 devices")
    problem: str = ""  # why an unparsed expression could not be read
    scheme: str = ""  # vers scheme (all, generic, intdot, semver) or "" for free text

    def contains(self, version: Version | None) -> bool | None:
        """True/False when the range can say, None when it cannot (unparsed, or version unknown)."""
        if self.kind == "all":
            return True
        if self.kind == "unparsed" or version is None:
            return None
        if self.kind == "branches":
            return self._in_branches(version)
        return self._in_constraints(version)

    def _in_constraints(self, version: Version) -> bool:
        # The vers containment algorithm: equalities first, then the sorted comparators pairwise.
        equal = [bound for op, bound in self.constraints if op == "="]
        if any(version.matches(bound) for bound in equal):
            return True
        if any(version.matches(bound) for op, bound in self.constraints if op == "!="):
            return False
        ordered = sorted(
            ((op, b) for op, b in self.constraints if op in ("<", "<=", ">", ">=")),
            key=lambda item: item[1].key,
        )
        if not ordered:
            return False
        first_op, first = ordered[0]
        if first_op in ("<", "<=") and _holds(version, first_op, first):
            return True
        last_op, last = ordered[-1]
        if last_op in (">", ">=") and _holds(version, last_op, last):
            return True
        for (low_op, low), (high_op, high) in zip(ordered, ordered[1:], strict=False):
            if (
                low_op in (">", ">=")
                and high_op in ("<", "<=")
                and _holds(version, low_op, low)
                and _holds(version, high_op, high)
            ):
                return True
        return False

    def _in_branches(self, version: Version) -> bool:
        # "<V33.017 V34.014 V35.013": each release line has its own fix; lines older than all are affected.
        for fix in sorted(self.branches, key=lambda b: b.key):
            if fix.major is not None and version.major is not None and fix.major >= version.major:
                return _holds(version, self.branch_op, fix) if fix.major == version.major else True
        return False


def _split_operators(text: str) -> list[str]:
    """Words, with every comparison operator as its own word: ">=V3.0.1<V3.0.3" -> [>=, V3.0.1, <, V3.0.3]."""
    spaced = re.sub(r"(<=|>=|!=|<|>|=)", r" \1 ", text)
    return spaced.split()


def _version_words(words: list[str], start: int) -> tuple[list[list[str]], int]:
    """The version(s) starting at ``words[start]``: one list of words per version (several = branches)."""
    versions: list[list[str]] = [[words[start]]]
    i = start + 1
    while i < len(words):
        word = words[i]
        if word in _OPERATORS:
            break
        lower = word.lower()
        if _DOTTED.match(word) and _DOTTED.match(versions[-1][0]):
            versions.append([word])  # another release line's fix: "V33.017 V34.014"
        elif (
            lower in _QUALIFIERS
            or lower.rstrip("0123456789") in _QUALIFIERS
            and any(c.isdigit() for c in lower)
        ):
            versions[-1].append(word)
        elif word.isdigit() and versions[-1][-1].lower() in _QUALIFIERS:
            versions[-1].append(word)  # "Update 1"
        else:
            break
        i += 1
    return versions, i


def parse_range(expression: str, kind: str = "product_version_range") -> VersionRange:
    """Parse an affected-version expression as CSAF advisories write it (see the module docstring)."""
    text = expression.strip()
    scheme = ""
    body = text
    if body.lower().startswith("vers:"):
        scheme, _, body = body[5:].partition("/")
    body = " ".join(body.replace("_", " ").split())
    condition = ""
    if not body or body == "*":
        return VersionRange(text=text, kind="all", scheme=scheme)
    if body.startswith("* "):
        return VersionRange(text=text, kind="all", condition=body[2:], scheme=scheme)
    lead = re.match(r"^all\s+(?:(\w+)\s+)?versions?\b\s*(.*)$", body, re.I)
    if lead:
        qualifier, body = lead.group(1) or "", lead.group(2)
        if qualifier:
            condition = f"{qualifier} versions"  # "All BIOS versions < V1.0": not the firmware
        if not body:
            return VersionRange(text=text, kind="all", condition=condition, scheme=scheme)
        if body.lower().startswith("with "):
            return VersionRange(text=text, kind="all", condition=body, scheme=scheme)
    body = re.sub(r"\s+up to and including\s+", "|<=", body, flags=re.I)
    body = re.sub(r"^and\s+", "", body, flags=re.I)  # "and  5.028": a split sentence in the source
    body = re.sub(r"\b(?:firmware|version|rev\.?)\s+(?=\d)", "", body, flags=re.I)  # "Firmware  20.011"
    constraints: list[tuple[str, Version]] = []
    branches: list[Version] = []
    branch_op = "<"
    for part in body.split("|"):
        words = _split_operators(part.strip())
        i = 0
        while i < len(words):
            op = "="
            if words[i] in _OPERATORS:
                op = words[i]
                i += 1
            if i >= len(words):
                return _unparsed(text, scheme, f"operator {op} without a version")
            first = words[i].strip('"')
            if not any(ch.isdigit() for ch in first):
                return _unparsed(text, scheme, f"no version after {op!r}: {' '.join(words[i:])!r}")
            if i + 1 < len(words) and "." not in first and _DOTTED.match(words[i + 1]):
                condition = _join(condition, first)  # "CPCI85 V05.11": a component name before the version
                i += 1
            found, i = _version_words(words, i)
            parsed = [parse_version(" ".join(w).strip('"')) for w in found]
            if any(v is None for v in parsed):
                return _unparsed(text, scheme, f"version {' '.join(found[0])!r} is not comparable")
            if len(parsed) > 1:
                if op not in ("<", "<="):
                    return _unparsed(text, scheme, f"several versions after {op!r}")
                branches.extend(v for v in parsed if v)
                branch_op = op
            else:
                constraints.append((op, parsed[0]))  # type: ignore[arg-type]
            if i < len(words) and words[i] not in _OPERATORS:
                condition = _join(condition, " ".join(words[i:]))  # "only if ...", "installed on ..."
                break
    if branches:
        if constraints:
            return _unparsed(text, scheme, "branch fixes mixed with other bounds")
        return VersionRange(
            text=text,
            kind="branches",
            branches=tuple(branches),
            branch_op=branch_op,
            condition=condition,
            scheme=scheme,
        )
    if not constraints:
        return _unparsed(text, scheme, "no version")
    lows = [b for op, b in constraints if op in (">", ">=")]
    highs = [b for op, b in constraints if op in ("<", "<=")]
    if len(lows) == 1 and len(highs) == 1 and highs[0] < lows[0]:
        # ">= 1.31 | <= 1.4", ">=4.6|<4.38": meant as an interval but inverted when compared per component
        # (decimal fractions?); guessing either way could hide or invent an affected device.
        return _unparsed(text, scheme, f"lower bound {lows[0]} is above upper bound {highs[0]}")
    return VersionRange(
        text=text, kind="constraints", constraints=tuple(constraints), condition=condition, scheme=scheme
    )


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def _unparsed(text: str, scheme: str, problem: str) -> VersionRange:
    return VersionRange(text=text, kind="unparsed", problem=problem, scheme=scheme)
