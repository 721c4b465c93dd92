"""Inventory roles come from flows where the protocol was really spoken, not from port names alone."""

from __future__ import annotations

from icsaudit.evidence.model import Evidence, Flow
from icsaudit.passive.inventory import build_assets


def flow(client: str, server: str, **kwargs) -> Flow:
    return Flow(
        flow_id=f"{client}-{server}",
        client_ip=client,
        server_ip=server,
        transport="tcp",
        server_port=502,
        protocol="modbus",
        **kwargs,
    )


def roles(*flows: Flow) -> dict[str, str]:
    return {a.asset_id: a.role for a in build_assets(Evidence(flows=list(flows)))}


def test_syn_scan_of_an_ics_port_makes_no_plc() -> None:
    syn_only = flow("10.0.0.66", "10.0.0.5", packets=2, connections=1)
    nameless = Flow(
        **{**{f: getattr(syn_only, f) for f in syn_only.__struct_fields__}, "protocol": "unknown"}
    )
    # Neither side gets a role from it: the same roles as a flow no protocol was named for.
    assert roles(syn_only) == roles(nameless)
    assert roles(syn_only)["10.0.0.5"] != "plc"


def test_a_server_that_answered_is_a_plc() -> None:
    answered = roles(flow("10.0.0.10", "10.0.0.5", packets=4, functions={"fc3": 2}, ops={"read": 1}))
    assert answered["10.0.0.5"] == "plc"


def test_an_identitys_mac_is_the_assets_unless_it_fronts_many_ips() -> None:
    from icsaudit.evidence.model import Identity, Ref

    router = "d4:6a:6a:56:98:17"  # one gateway MAC in front of three routed devices
    flows = [flow("10.0.0.10", f"10.0.1.{n}", server_mac=router, packets=2) for n in (1, 2, 3)]

    def identity(ip: str, mac: str) -> Identity:
        ref = Ref(source="passive:bacnet", file="f", frame=1, ts=1.0)
        return Identity(identity_id=ip, asset_id=ip, ip=ip, mac=mac, protocol="bacnet", ref=ref)

    own = "00:00:54:00:0a:0b"  # a device's own statement (e.g. its SNMPv3 engine id), Schneider's OUI
    idents = [identity(f"10.0.1.{n}", router) for n in (1, 2, 3)] + [identity("10.0.2.9", own)]
    assets = {a.asset_id: a for a in build_assets(Evidence(flows=flows, identities=idents))}
    assert all(not assets[f"10.0.1.{n}"].mac for n in (1, 2, 3))  # the router's MAC is no one's
    assert assets["10.0.2.9"].mac == own and assets["10.0.2.9"].mac_vendor == "Schneider Electric"
