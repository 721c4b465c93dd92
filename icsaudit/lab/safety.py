"""The one gate for every lab address: nothing binds to or talks to anything outside 127.0.0.0/8."""

from __future__ import annotations

import ipaddress

from icsaudit.errors import SafetyRefusal

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def require_loopback(address: str, purpose: str = "lab address") -> str:
    """Return ``address`` if it is a single IPv4 address in 127.0.0.0/8; raise SafetyRefusal otherwise.

    Hostnames are refused too: a name could resolve anywhere, so the lab only takes literal addresses.
    """
    try:
        ip = ipaddress.ip_address(str(address).strip())
    except ValueError:
        raise SafetyRefusal(
            f"{purpose} {address!r} is not a literal IPv4 address; the lab only uses 127.0.0.0/8",
            hint="write addresses such as 127.0.10.11",
        ) from None
    if ip.version != 4 or ip not in LOOPBACK:
        raise SafetyRefusal(
            f"{purpose} {address} is outside 127.0.0.0/8; the lab never binds or sends there",
            hint="lab devices and clients use loopback addresses such as 127.0.10.11",
        )
    return str(ip)


def require_loopback_network(cidr: str, purpose: str = "lab zone") -> str:
    """Return ``cidr`` if the whole network lies inside 127.0.0.0/8."""
    try:
        net = ipaddress.ip_network(str(cidr).strip(), strict=False)
    except ValueError:
        raise SafetyRefusal(f"{purpose} {cidr!r} is not a network in CIDR notation") from None
    if net.version != 4 or not net.subnet_of(LOOPBACK):
        raise SafetyRefusal(f"{purpose} {cidr} is outside 127.0.0.0/8; the lab never uses it")
    return str(net)
