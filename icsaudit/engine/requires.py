"""The ``requires`` vocabulary of checks: what evidence a check needs before a clean result means "pass".

Each entry of ``requires`` must hold; an entry may list alternatives separated by ``|`` (any suffices).
Atoms:

- a protocol name (``modbus``, ``s7comm``, ``bacnet`` ...): a flow or service of that protocol was seen;
- ``flows`` / ``ics``: any flow / any flow of an industrial protocol was seen;
- ``services``, ``identities``, ``events``: the table is non-empty;
- ``zones``: the site declares zones and at least one observed host falls in one;
- ``zone.safety``, ``zone.one_way``, ``zone.it`` (Purdue level >= 4), ``zone.field`` (level <= 1),
  ``zone.function:<name>``: such a zone is declared *and* traffic to or from it was observed;
- ``probe``: the evidence contains probe results (a ``probe:*`` source);
- ``baseline``: the site names a baseline evidence file and it was loaded;
- ``vulnerabilities``: firmware was matched against advisories (the table exists) and, when the matcher
  said which assets it could assess (table vulnerability_assets), at least one was assessed;
- ``site.<list>``: that list of the site model is non-empty (masters, engineering_workstations, hmis,
  jump_hosts, log_collectors, time_servers, conduits, assets, zones).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ICS_PROTOCOLS = frozenset(
    [
        "modbus",
        "s7comm",
        "s7comm_plus",
        "enip",
        "cip",
        "dnp3",
        "iec104",
        "bacnet",
        "opcua",
        "mms",
        "goose",
        "sv",
        "profinet_dcp",
        "fins",
        "umas",
    ]
)
PROTOCOLS = ICS_PROTOCOLS | frozenset(
    [
        "telnet",
        "ftp",
        "tftp",
        "http",
        "snmp",
        "ssh",
        "tls",
        "rdp",
        "vnc",
        "smb",
        "dns",
        "ntp",
        "syslog",
        "teamviewer",
        "anydesk",
        "unknown",
    ]
)
TABLE_ATOMS = frozenset(
    {"flows", "ics", "services", "identities", "events", "zones", "probe", "baseline", "vulnerabilities"}
)
ZONE_ATOMS = frozenset({"zone.safety", "zone.one_way", "zone.it", "zone.field"})
SITE_LIST_NAMES = (
    "masters",
    "engineering_workstations",
    "hmis",
    "jump_hosts",
    "log_collectors",
    "time_servers",
    "conduits",
    "assets",
    "zones",
)
SITE_LISTS = frozenset(SITE_LIST_NAMES)


@dataclass
class Facts:
    """What the loaded evidence and site provide, computed once per assessment."""

    protocols: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)  # table -> rows
    probed: bool = False
    zoned_hosts: int = 0
    declared_zones: int = 0
    observed_zone_kinds: set[str] = field(default_factory=set)  # "safety", "function:x", ...
    declared_zone_kinds: set[str] = field(default_factory=set)
    site_lists: dict[str, int] = field(default_factory=dict)
    baseline: bool = False
    vulnerabilities: bool = False
    vulnerability_assets: int | None = None  # assets the matcher reported on (None: not reported)


def requirement_problem(need: str) -> str | None:
    """Why ``need`` is not valid vocabulary, or None."""
    for atom in need.split("|"):
        atom = atom.strip()
        if atom in PROTOCOLS or atom in TABLE_ATOMS or atom in ZONE_ATOMS:
            continue
        if atom.startswith("zone.function:") and len(atom) > len("zone.function:"):
            continue
        if atom.startswith("site.") and atom[5:] in SITE_LISTS:
            continue
        return (
            f"unknown requirement {atom!r}: use a protocol name, flows, ics, services, identities, "
            f"events, zones, zone.safety|one_way|it|field|function:<name>, probe, baseline, "
            f"vulnerabilities or site.<{'|'.join(sorted(SITE_LISTS))}>"
        )
    return None


def _atom_missing(atom: str, facts: Facts) -> str | None:
    if atom in PROTOCOLS:
        return None if atom in facts.protocols else f"no {atom} traffic or service observed"
    if atom == "ics":
        return None if facts.protocols & ICS_PROTOCOLS else "no industrial-protocol traffic observed"
    if atom in ("flows", "services", "identities", "events"):
        return None if facts.counts.get(atom) else f"no {atom} in the evidence"
    if atom == "zones":
        if not facts.declared_zones:
            return "the site model declares no zones"
        return None if facts.zoned_hosts else "no observed host falls in a declared zone"
    if atom == "probe":
        return None if facts.probed else "no probe results in the evidence (probing not run or not allowed)"
    if atom == "baseline":
        return None if facts.baseline else "no baseline evidence (site.baseline) to compare with"
    if atom == "vulnerabilities":
        if facts.vulnerabilities:
            return None
        if facts.vulnerability_assets is not None:
            return (
                f"the advisory matcher could assess none of the {facts.vulnerability_assets} assets "
                "(none identified with vendor, model and firmware)"
            )
        return "firmware not matched against advisories (no vulnerabilities table)"
    if atom.startswith("zone."):
        kind = atom[5:]
        if kind not in facts.declared_zone_kinds:
            return f"the site declares no {kind.replace('function:', '')} zone"
        return (
            None
            if kind in facts.observed_zone_kinds
            else f"no traffic observed in a {kind.replace('function:', '')} zone"
        )
    if atom.startswith("site."):
        name = atom[5:]
        return None if facts.site_lists.get(name) else f"the site model lists no {name.replace('_', ' ')}"
    return f"unknown requirement {atom}"


def missing(needs: list[str], facts: Facts) -> str | None:
    """The reason the first unmet need is unmet, or None when every need holds."""
    for need in needs:
        reasons = [_atom_missing(atom.strip(), facts) for atom in need.split("|")]
        if all(reasons):
            return "; or ".join(r for r in reasons if r)
    return None
