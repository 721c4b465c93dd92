"""Asset inventory: assets from flows, identities, services and MAC vendors, with inferred roles.

A pure function of the evidence tables, so merged evidence rebuilds the same inventory. Every identity
field keeps its provenance (source, file, frame, confidence); the role keeps the reason it was inferred.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from functools import lru_cache

from icsaudit.evidence.merge import ref_order
from icsaudit.evidence.model import Asset, Evidence, FieldValue, Ref

# Protocols whose server side is a field device, and the role that implies.
SERVER_ROLES = {
    "modbus": "plc",
    "s7comm": "plc",
    "s7comm_plus": "plc",
    "enip": "plc",
    "cip": "plc",
    "fins": "plc",
    "umas": "plc",
    "bacnet": "plc",
    "dnp3": "rtu",
    "iec104": "rtu",
    "mms": "ied",
    "goose": "ied",
    "sv": "ied",
    "profinet_dcp": "plc",
    "opcua": "server",
}
ICS_PROTOCOLS = frozenset(SERVER_ROLES)
MASTER_PROTOCOLS = frozenset({"dnp3", "iec104", "mms"})
ROLE_LEVEL = {
    "plc": 1,
    "rtu": 1,
    "ied": 1,
    "hmi": 2,
    "ews": 2,
    "master": 2,
    "historian": 3,
    "server": 3,
    "it-host": 4,
}
CONFIDENCE_RANK = {"high": 0, "medium": 1, "low": 2}
IDENTITY_FIELDS = ("vendor", "model", "firmware", "serial", "device_type", "name")


@lru_cache(maxsize=65536)
def mac_vendor(mac: str) -> str:
    """Organisation registered for the MAC's OUI (IEEE database shipped with netaddr)."""
    if not mac or len(mac) < 8:
        return ""
    first = int(mac[0:2], 16)
    if first & 0x02:
        return ""  # locally administered: no vendor
    try:
        from netaddr import EUI, NotRegisteredError

        try:
            return EUI(mac).oui.registration().org.strip()
        except (NotRegisteredError, IndexError):
            return ""
    except Exception:
        return ""


def _is_ip(value: str) -> bool:
    return bool(value) and (value.count(".") == 3 or ":" in value and value.count(":") != 5)


def build_assets(evidence: Evidence, arp: dict[str, str] | None = None) -> list[Asset]:
    assets: dict[str, Asset] = {}

    def asset(asset_id: str) -> Asset:
        found = assets.get(asset_id)
        if found is None:
            is_ip = _is_ip(asset_id)
            found = assets[asset_id] = Asset(
                asset_id=asset_id, ip=asset_id if is_ip else "", mac="" if is_ip else asset_id
            )
        return found

    macs_per_ip: dict[str, Counter] = defaultdict(Counter)
    ips_per_mac: dict[str, set] = defaultdict(set)
    served: dict[str, Counter] = defaultdict(Counter)  # asset -> protocol -> flows served
    client_ops: dict[str, Counter] = defaultdict(Counter)  # asset -> op category -> count (as ICS client)
    client_protocols: dict[str, set] = defaultdict(set)
    polled_servers: dict[str, set] = defaultdict(set)

    for flow in evidence.flows:
        for ip, mac in ((flow.client_ip, flow.client_mac), (flow.server_ip, flow.server_mac)):
            a = asset(ip)
            a.first_seen = flow.first_seen if not a.first_seen else min(a.first_seen, flow.first_seen)
            a.last_seen = max(a.last_seen, flow.last_seen)
            if mac and flow.transport != "eth":
                macs_per_ip[ip][mac] += flow.packets
                ips_per_mac[mac].add(ip)
        # A TCP flow without decoded PDUs (a SYN scan of 502, a refused connection) keeps its port's
        # protocol name, so checks see scans of ICS ports, but says nothing about either side's role.
        if flow.protocol != "unknown" and (flow.functions or flow.transport != "tcp"):
            served[flow.server_ip][flow.protocol] += 1
            if flow.protocol in ICS_PROTOCOLS:
                client_protocols[flow.client_ip].add(flow.protocol)
                client_ops[flow.client_ip].update(flow.ops)
                polled_servers[flow.client_ip].add(flow.server_ip)
    for ip, mac in (arp or {}).items():
        macs_per_ip[ip][mac] += 1_000_000  # ARP is authoritative for on-link hosts
        ips_per_mac[mac].add(ip)

    for service in evidence.services:
        served[service.asset_id][service.protocol] += 0
        asset(service.asset_id)

    # MAC: only when the MAC is not a router's (a router's MAC fronts many IPs).
    for ip, counter in macs_per_ip.items():
        if ip not in assets:
            continue
        mac, _ = counter.most_common(1)[0]
        if len(ips_per_mac[mac]) <= 2:
            a = assets[ip]
            a.mac = mac
            vendor = mac_vendor(mac)
            if vendor:
                a.mac_vendor = vendor

    # Identity fields with provenance: most confident first, then earliest.
    by_asset: dict[str, list] = defaultdict(list)
    for ident in evidence.identities:
        by_asset[ident.asset_id].append(ident)
    for asset_id, idents in by_asset.items():
        a = asset(asset_id)
        idents.sort(key=lambda i: (CONFIDENCE_RANK.get(i.confidence, 3), ref_order(i.ref)))
        for ident in idents:
            # The same router rule as above: a MAC that fronts many IPs is not this asset's.
            if ident.mac and not a.mac and len(ips_per_mac.get(ident.mac, ())) <= 2:
                a.mac = ident.mac
                vendor = mac_vendor(ident.mac)
                if vendor and not a.mac_vendor:
                    a.mac_vendor = vendor
            for field in IDENTITY_FIELDS:
                value = ident.fields.get(field)
                if not value:
                    continue
                if field == "name":
                    if value not in a.hostnames:
                        a.hostnames.append(value)
                    if "hostnames" not in a.provenance:
                        a.provenance["hostnames"] = FieldValue(
                            value=value, ref=ident.ref, confidence=ident.confidence
                        )
                    continue
                if getattr(a, field):
                    continue
                setattr(a, field, value)
                a.provenance[field] = FieldValue(value=value, ref=ident.ref, confidence=ident.confidence)
            if ident.protocol not in a.protocols:
                a.protocols.append(ident.protocol)
        if a.mac_vendor and "mac_vendor" not in a.provenance:
            a.provenance["mac_vendor"] = FieldValue(
                value=a.mac_vendor, ref=Ref(source="oui:ieee"), confidence="medium"
            )

    for a in assets.values():
        ip = a.asset_id
        protocols = set(a.protocols) | set(served.get(ip, {})) | client_protocols.get(ip, set())
        a.protocols = sorted(protocols)
        a.role, a.role_reason = _infer_role(
            ip,
            served.get(ip, Counter()),
            client_ops.get(ip, Counter()),
            client_protocols.get(ip, set()),
            len(polled_servers.get(ip, ())),
        )
        a.purdue_level = ROLE_LEVEL.get(a.role)
        if a.mac_vendor and "mac_vendor" not in a.provenance:
            a.provenance["mac_vendor"] = FieldValue(
                value=a.mac_vendor, ref=Ref(source="oui:ieee"), confidence="medium"
            )
        a.hostnames.sort()
    return [assets[k] for k in sorted(assets)]


def _infer_role(
    ip: str, served: Counter, ops: Counter, client_protocols: set, polled: int
) -> tuple[str, str]:
    ics_served = [p for p in served if p in ICS_PROTOCOLS]
    if ics_served:
        # The most specific field-device role among the protocols it serves.
        roles = {SERVER_ROLES[p] for p in ics_served}
        for role in ("plc", "rtu", "ied", "server"):
            if role in roles:
                return role, f"answers {', '.join(sorted(ics_served))} as a server"
    if client_protocols:
        names = ", ".join(sorted(client_protocols))
        if ops.get("program") or ops.get("firmware"):
            return "ews", f"sends program/firmware operations ({names})"
        if client_protocols & MASTER_PROTOCOLS:
            return "master", f"polls outstations ({names})"
        if ops.get("write") or ops.get("control") or ops.get("mode"):
            return "hmi", f"reads and writes/controls {polled} device(s) ({names})"
        return "historian" if polled > 3 else "hmi", f"polls {polled} device(s) read-only ({names})"
    if served:
        return "it-host", f"serves {', '.join(sorted(served))}"
    return "it-host", "no industrial protocol seen"
