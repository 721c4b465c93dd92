"""The site model: loading (file, line, problem on error), zone resolution against the profile's
templates, and host lookup (declared asset lists first, then the most specific CIDR)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgspec

from icsaudit.engine.model import Site
from icsaudit.engine.profiles import Profile, load_profile, profile_ids
from icsaudit.engine.yamldoc import load_yaml, validate

PUBLIC_EXCLUDED = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
        "2001:db8::/32",
    )
]


V = TypeVar("V")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class PrefixTable(Generic[V]):
    """Longest-prefix match without scanning every network: per IP version, one dict per prefix length
    (network bits -> value), tried from the longest prefix down. A site has a handful of distinct prefix
    lengths, so a lookup is a few dict probes whatever the number of zones. Of identical networks the
    first given wins (as a scan in declaration order would)."""

    def __init__(self, items: Iterable[tuple[Network, V]]) -> None:
        by_length: dict[tuple[int, int], dict[int, V]] = {}
        for net, value in items:
            shift = net.max_prefixlen - net.prefixlen
            table = by_length.setdefault((net.version, net.prefixlen), {})
            table.setdefault(int(net.network_address) >> shift, value)
        self._levels: dict[int, list[tuple[int, dict[int, V]]]] = {4: [], 6: []}
        for (version, length), table in sorted(by_length.items(), key=lambda kv: -kv[0][1]):
            self._levels[version].append(((32 if version == 4 else 128) - length, table))

    def lookup(self, addr: Address) -> V | None:
        """The value of the most specific network holding ``addr``, or None."""
        value = int(addr)
        for shift, table in self._levels[addr.version]:
            found = table.get(value >> shift)
            if found is not None:
                return found
        return None


_PUBLIC_EXCLUDED = PrefixTable((net, True) for net in PUBLIC_EXCLUDED)


def _parse(address: str) -> Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None  # a MAC (layer-2 only device) or a name


@cache
def site_schema() -> dict[str, Any]:
    _, components = msgspec.json.schema_components([Site], ref_template="#/$defs/{name}")
    schema = dict(components["Site"])
    schema["$defs"] = {k: v for k, v in components.items() if k != "Site"}
    return schema


@dataclass(frozen=True)
class Zone:
    """A site zone with the profile template's attributes filled in."""

    id: str
    name: str
    purdue_level: float | None
    csl: int | None
    sl_t: int | None
    safety: bool
    one_way: bool
    probe_allowed: bool
    function: str
    criticality: int


@dataclass(frozen=True)
class Host:
    """What the site says about one address."""

    ip: str
    zone: Zone | None
    is_master: bool
    is_ews: bool
    is_hmi: bool
    is_jump_host: bool
    is_log_collector: bool
    is_time_server: bool
    is_public: bool
    declared: bool
    declared_role: str
    criticality: str


def is_public(ip: str) -> bool:
    return _is_public(_parse(ip))


def _is_public(addr: Address | None) -> bool:
    # a MAC (layer-2 only) is never public
    return addr is not None and _PUBLIC_EXCLUDED.lookup(addr) is None


class SiteModel:
    """A loaded site with its profile; answers zone and role questions about addresses."""

    def __init__(self, site: Site, profile: Profile, path: str = "") -> None:
        self.site = site
        self.profile = profile
        self.path = path
        self.zones: dict[str, Zone] = {z.id: self._resolve(z) for z in site.zones}
        self._by_address: dict[str, str] = {}
        self._networks = PrefixTable(
            (ipaddress.ip_network(cidr, strict=False), zone.id) for zone in site.zones for cidr in zone.cidrs
        )
        for zone in site.zones:
            for address in zone.assets:
                self._by_address[address.lower()] = zone.id
        for asset in site.assets:
            for address in (asset.ip, asset.mac):
                if address and asset.zone:
                    self._by_address[address.lower()] = asset.zone
        self._declared = {}
        for asset in site.assets:
            for address in (asset.ip, asset.mac):
                if address:
                    self._declared[address.lower()] = asset
        lists = (
            "masters",
            "engineering_workstations",
            "hmis",
            "jump_hosts",
            "log_collectors",
            "time_servers",
        )
        self._lists = {name: {a.lower() for a in getattr(site, name)} for name in lists}
        self._hosts: dict[str, Host] = {}

    def _resolve(self, zone: Any) -> Zone:
        template = self.profile.template(zone.template) if zone.template else None

        def pick(name: str, default: Any) -> Any:
            value = getattr(zone, name)
            if value is not None and value != "":
                return value
            return getattr(template, name) if template else default

        csl = pick("csl", None)
        safety = bool(pick("safety", False))
        probe = bool(template.probe_allowed) if template else False
        if zone.probe_allowed is not None:
            probe = probe and zone.probe_allowed  # the site can only make it stricter
        if not self.profile.probe_policy.get("allowed", False) or safety or (csl is not None and csl <= 2):
            probe = False
        min_csl = self.profile.probe_policy.get("min_csl")
        if min_csl is not None and csl is not None and csl < min_csl:
            probe = False  # the profile's probe_policy.min_csl: never probed below it
        return Zone(
            id=zone.id,
            name=zone.name or (template.name if template else zone.id),
            purdue_level=pick("purdue_level", None),
            csl=csl,
            sl_t=pick("sl_t", None),
            safety=safety,
            one_way=bool(pick("one_way", False)),
            probe_allowed=probe,
            function=pick("function", ""),
            criticality=template.criticality if template else 3,
        )

    def zone_of(self, address: str) -> Zone | None:
        """The zone of an address: a zone's or declared asset's list first, then the most specific CIDR."""
        return self._zone_of(address, _parse(address))

    def _zone_of(self, address: str, addr: Address | None) -> Zone | None:
        """``addr``: ``address`` parsed (None when it is not an IP address, e.g. a MAC)."""
        zone_id = self._by_address.get(address.lower())
        if zone_id is None and addr is not None:
            zone_id = self._networks.lookup(addr)
        return self.zones.get(zone_id) if zone_id else None

    def host(self, address: str) -> Host:
        found = self._hosts.get(address)
        if found is None:
            key = address.lower()
            declared = self._declared.get(key)
            role = declared.role if declared else ""
            addr = _parse(address)  # once for the zone and the public test
            found = self._hosts[address] = Host(
                ip=address,
                zone=self._zone_of(address, addr),
                is_master=key in self._lists["masters"] or role == "master",
                is_ews=key in self._lists["engineering_workstations"] or role == "ews",
                is_hmi=key in self._lists["hmis"] or role == "hmi",
                is_jump_host=key in self._lists["jump_hosts"],
                is_log_collector=key in self._lists["log_collectors"],
                is_time_server=key in self._lists["time_servers"],
                is_public=_is_public(addr),
                declared=declared is not None or any(key in s for s in self._lists.values()),
                declared_role=role,
                criticality=declared.criticality if declared else "",
            )
        return found


def parse_site(path: str | Path, text: str | None = None) -> SiteModel:
    """Load and validate a site.yaml; every problem names the file and the line."""
    doc = load_yaml(path, text)
    if not isinstance(doc.data, dict):
        raise doc.error((), "a site model is a mapping with name, profile, zones ...")
    validate(doc, site_schema())
    data = doc.data
    if data["profile"] not in profile_ids():
        raise doc.error(
            ("profile",), f"unknown profile {data['profile']!r}; valid profiles: {', '.join(profile_ids())}"
        )
    profile = load_profile(data["profile"])
    zone_ids = [z["id"] for z in data.get("zones", [])]
    for index, zone in enumerate(data.get("zones", [])):
        if zone_ids.count(zone["id"]) > 1:
            raise doc.error(("zones", index, "id"), f"duplicate zone id {zone['id']}")
        if zone.get("template") and profile.template(zone["template"]) is None:
            raise doc.error(
                ("zones", index, "template"),
                f"profile {profile.id} has no zone template "
                f"{zone['template']!r}; templates: {', '.join(t.id for t in profile.zone_templates)}",
            )
        for key, allowed in (
            ("csl", range(1, 6)),
            ("sl_t", range(1, 5)),
            ("purdue_level", (0, 1, 2, 3, 3.5, 4, 5)),
        ):
            if zone.get(key) is not None and zone[key] not in allowed:
                raise doc.error(
                    ("zones", index, key), f"{zone[key]} is not one of {', '.join(map(str, allowed))}"
                )
        for j, cidr in enumerate(zone.get("cidrs", [])):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise doc.error(("zones", index, "cidrs", j), f"{cidr!r} is not a CIDR") from None
    for index, conduit in enumerate(data.get("conduits", [])):
        for end in ("from", "to"):
            if conduit[end] not in zone_ids:
                raise doc.error(("conduits", index, end), f"unknown zone {conduit[end]!r}")
    for index, asset in enumerate(data.get("assets", [])):
        if asset.get("zone") and asset["zone"] not in zone_ids:
            raise doc.error(("assets", index, "zone"), f"unknown zone {asset['zone']!r}")
        if not asset.get("ip") and not asset.get("mac"):
            raise doc.error(("assets", index), "a declared asset needs an ip or a mac")
    site = msgspec.convert(data, Site)
    return SiteModel(site, profile, str(path))


def site_from_profile(profile_id: str) -> SiteModel:
    """An empty site for ``assess --profile P`` without a site model: nothing is zoned."""
    profile = load_profile(profile_id)
    return SiteModel(Site(name="(no site model)", profile=profile.id), profile)
