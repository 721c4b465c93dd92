"""Draft a site model from observed evidence (``icsaudit site init``), for a human to review.

Each /24 with observed hosts becomes a zone; its template is guessed from the inferred roles (the
lowest Purdue level seen picks the closest non-safety template of the profile). Masters, engineering
workstations and HMIs come from inferred roles. Comments tell the reviewer what to check: safety and
one-way zones, CSLs and conduits are never guessed.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict

import yaml

from icsaudit.engine.profiles import Profile
from icsaudit.engine.site import is_public
from icsaudit.evidence.model import Evidence
from icsaudit.passive.inventory import ROLE_LEVEL


def _template_for(level: float | None, profile: Profile) -> str:
    candidates = [
        t for t in profile.zone_templates if not t.safety and not t.one_way
    ] or profile.zone_templates
    if level is None:
        return max(candidates, key=lambda t: t.purdue_level).id
    return min(candidates, key=lambda t: (abs(t.purdue_level - level), -t.csl)).id


def _dump(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid YAML scalar (no document-end marker)
    return yaml.safe_dump(value, default_flow_style=True, width=200).strip()


def draft_site(evidence: Evidence, profile: Profile, name: str = "") -> str:
    subnets: dict[str, list] = defaultdict(list)
    for asset in evidence.assets:
        try:
            addr = ipaddress.ip_address(asset.ip)
        except ValueError:
            continue
        if is_public(asset.ip) or addr.is_multicast or addr.is_loopback:
            continue  # Internet peers and group addresses belong to no site zone
        net = ipaddress.ip_network(f"{asset.ip}/24" if addr.version == 4 else f"{asset.ip}/64", strict=False)
        subnets[str(net)].append(asset)
    roles = {"master": [], "ews": [], "hmi": []}
    for asset in evidence.assets:
        if asset.role in roles and asset.ip:
            roles[asset.role].append(asset.ip)

    lines = [
        f"# Site model drafted by `icsaudit site init` from {len(evidence.assets)} observed assets.",
        f"# Profile: {profile.id} ({profile.title}). REVIEW EVERYTHING before using it for an assessment:",
        "#  - zone boundaries are guessed as /24 subnets; merge or split them to match the real segmentation;",
        "#  - templates are guessed from inferred roles; set safety/one-way zones (protection, SIS, containment)",
        "#    by hand, they are never guessed;",
        "#  - conduits are left empty on purpose: declare only the flows the design allows;",
        "#  - masters/EWS/HMIs come from observed behaviour: an attacker's host would be listed too.",
        f"name: {_dump(name or 'draft site')}",
        f"profile: {profile.id}",
        "facility_id: ''",
        "zones:" if subnets else "zones: []  # no private addresses observed: declare zones by hand",
    ]
    templates = ", ".join(t.id for t in profile.zone_templates)
    for index, (cidr, assets) in enumerate(sorted(subnets.items())):
        levels = [ROLE_LEVEL[a.role] for a in assets if a.role in ROLE_LEVEL]
        level = min(levels) if levels else None
        template = _template_for(level, profile)
        role_counts = defaultdict(int)
        for a in assets:
            role_counts[a.role] += 1
        seen = ", ".join(f"{n} {r}" for r, n in sorted(role_counts.items()))
        lines.append(f"  # {cidr}: {seen}. Check the template (one of: {templates}).")
        lines.append(f"  - {{id: zone-{index + 1}, template: {template}, cidrs: [{cidr}]}}")
    lines += [
        "# Declare allowed conduits, e.g. {from: zone-1, to: zone-2, protocols: [modbus], via: [jump host]}.",
        "conduits: []",
        "# Observed assets with their inferred roles; correct roles, add names and expected firmware.",
        "assets:",
    ]
    for asset in sorted(evidence.assets, key=lambda a: a.asset_id):
        if not asset.ip:
            continue
        entry = {"ip": asset.ip, "role": asset.role if asset.role != "unknown" else ""}
        if asset.hostnames:
            entry["name"] = asset.hostnames[0]
        if asset.vendor:
            entry["vendor"] = asset.vendor
        if asset.model:
            entry["model"] = asset.model
        if asset.firmware:
            entry["expected_firmware"] = asset.firmware
        comment = f"  # {asset.role_reason}" if asset.role_reason else ""
        lines.append(f"  - {_dump(entry)}{comment}")
    lines += [
        "# Hosts allowed to write/command (inferred masters and HMIs that wrote); confirm each.",
        f"masters: {_dump(sorted(roles['master']))}",
        f"engineering_workstations: {_dump(sorted(roles['ews']))}  # program/firmware senders",
        f"hmis: {_dump(sorted(roles['hmi']))}",
        "jump_hosts: []  # the DMZ jump host(s) for remote access",
        "log_collectors: []  # syslog/SIEM collectors (AM-02 needs them)",
        "time_servers: []",
        "do_not_probe: []",
        "probe_windows: []",
        "",
    ]
    return "\n".join(lines)
