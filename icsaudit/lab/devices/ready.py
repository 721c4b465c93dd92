"""Wait until a device's own socket is bound, so the parent knows when it may send traffic."""

from __future__ import annotations

import asyncio

from icsaudit.lab.model import STANDARD_PORTS, DeviceSpec

READY_ATTEMPTS = 200  # x 0.05 s


def _listening(address: str, port: int, transport: str) -> bool:
    """True when /proc/net shows a socket bound to address:port (no packet sent to the device)."""
    parts = address.split(".")
    want = "".join(f"{int(p):02X}" for p in reversed(parts)) + f":{port:04X}"
    table = "/proc/net/udp" if transport == "udp" else "/proc/net/tcp"
    with open(table) as fh:
        for line in fh.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and (transport == "udp" or fields[3] == "0A"):
                return True
    return False


async def wait_listening(spec: DeviceSpec, port: int) -> None:
    transport = STANDARD_PORTS[spec.protocol][1].split("+")[0]
    for _ in range(READY_ATTEMPTS):
        if _listening(spec.address, port, transport):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{spec.name} did not start listening on {spec.address}:{port}")
