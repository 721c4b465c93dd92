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
