"""Zone lookup of the site model: asset lists before CIDRs, the most specific CIDR, IPv4 and IPv6, and
the same answers as a scan of every network (the former implementation, kept here as the reference)."""

from __future__ import annotations

import ipaddress
import random

import msgspec

from icsaudit.engine.model import Site
from icsaudit.engine.profiles import load_profile
from icsaudit.engine.site import PUBLIC_EXCLUDED, SiteModel, is_public


def _model(zones: list[dict], assets: list[dict] | None = None) -> SiteModel:
    site = msgspec.convert(
        {"name": "t", "profile": "chemical-toxic", "zones": zones, "assets": assets or []}, Site
    )
    return SiteModel(site, load_profile("chemical-toxic"))


def _zone(model: SiteModel, address: str) -> str | None:
    zone = model.zone_of(address)
    return zone.id if zone else None


def test_asset_lists_beat_cidrs_and_the_most_specific_cidr_wins() -> None:
    model = _model(
        [
            {"id": "wide", "cidrs": ["10.0.0.0/8", "2001:db8::/32"]},
            {"id": "narrow", "cidrs": ["10.1.0.0/16", "2001:db8:1::/48"]},
            {"id": "host", "cidrs": ["10.1.2.4/32", "2001:db8:1::4/128"]},
            {"id": "pinned", "assets": ["10.1.2.3", "2001:DB8:1::3", "00:1b:1b:aa:bb:cc"]},
            {"id": "dup", "cidrs": ["10.1.0.0/16"]},  # same network as narrow: the first declared wins
            {"id": "declared"},
        ],
        assets=[{"ip": "10.1.2.4", "zone": "declared"}, {"ip": "10.9.0.1", "name": "no zone given"}],
    )
    assert _zone(model, "10.9.9.9") == "wide"
    assert _zone(model, "10.1.9.9") == "narrow"
    assert _zone(model, "10.1.2.3") == "pinned"  # a zone's asset list beats its /16
    assert _zone(model, "10.1.2.4") == "declared"  # a declared asset's zone beats a /32
    assert _zone(model, "10.9.0.1") == "wide"  # a declared asset without zone falls back to CIDRs
    assert _zone(model, "172.16.0.1") is None
    assert _zone(model, "00:1B:1B:AA:BB:CC") == "pinned"  # a MAC only by list, case-insensitively
    assert _zone(model, "00:1b:1b:aa:bb:cd") is None
    assert _zone(model, "2001:db8:2::1") == "wide"
    assert _zone(model, "2001:db8:1::9") == "narrow"
    assert _zone(model, "2001:db8:1::4") == "host"
    assert _zone(model, "2001:db8:1::3") == "pinned"  # listed in upper case
    assert _zone(model, "::ffff:10.1.9.9") is None  # IPv6 (IPv4-mapped) never matches an IPv4 CIDR
    assert _zone(model, "2001:db9::1") is None
    host = model.host("2001:db8:1::9")
    assert host.zone.id == "narrow" and not host.is_public  # documentation prefix
    assert model.host("2a00:1450::1").is_public and model.host("8.8.8.8").is_public
    assert not model.host("10.0.0.1").is_public and not model.host("00:1b:1b:aa:bb:cc").is_public


def _scan_zone(networks: list[tuple[object, str]], address: str) -> str | None:
    """The former lookup: every network, most specific first, in declaration order within a length."""
    addr = ipaddress.ip_address(address)
    ordered = sorted(networks, key=lambda item: -item[0].prefixlen)
    return next((z for net, z in ordered if net.version == addr.version and addr in net), None)


def test_same_answers_as_scanning_every_network() -> None:
    rng = random.Random(11)
    zones = []
    networks = []
    for i in range(40):
        v6 = i % 3 == 0
        length = rng.choice([16, 24, 28, 32, 48, 56, 64, 120, 128] if v6 else [8, 12, 16, 20, 24, 30, 32])
        base = (0x20010DB8 << 96 if v6 else 10 << 24) | rng.getrandbits(20 if v6 else 18) << (
            100 if v6 else 8
        )
        net = ipaddress.ip_network(((base, length)), strict=False)
        zones.append({"id": f"z{i}", "cidrs": [str(net)]})
        networks.append((net, f"z{i}"))
    model = _model(zones)
    addresses = []
    for net, _ in networks:
        for _ in range(20):
            span = net.num_addresses
            addresses.append(str(net.network_address + rng.randrange(min(span, 1 << 30))))
            addresses.append(str(net.network_address + rng.randrange(1 << 24)))  # near, maybe outside
    addresses += [str(ipaddress.ip_address(rng.getrandbits(32))) for _ in range(500)]
    for address in addresses:
        assert _zone(model, address) == _scan_zone(networks, address), address
        addr = ipaddress.ip_address(address)
        public = not any(addr in n for n in PUBLIC_EXCLUDED if n.version == addr.version)
        assert is_public(address) == public, address
