"""Wait until a device's own socket is bound, so the parent knows when it may send traffic.

"Own" matters: a socket at address:port that belongs to another process (a second lab started at the
same time, a device of the previous run still closing, bacpypes3 retrying a bind that fails) used to
make a device report READY before it listened; it then failed or bound late, after ``up`` had stopped
waiting for it. The socket's inode must be one of this process's file descriptors.
"""

from __future__ import annotations

import asyncio
import os

from icsaudit.lab.model import STANDARD_PORTS, DeviceSpec

READY_ATTEMPTS = 200  # x 0.05 s


def _socket_inodes(pid: int | str = "self") -> set[str]:
    """Inodes of the sockets process `pid` holds open (its /proc/<pid>/fd links 'socket:[inode]')."""
    inodes = set()
    folder = f"/proc/{pid}/fd"
    for fd in os.listdir(folder):
        try:
            target = os.readlink(f"{folder}/{fd}")
        except OSError:  # closed since listdir
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _bound_inodes(address: str, port: int, transport: str) -> set[str]:
    """Inodes of the sockets /proc/net shows bound to address:port (listening, for TCP)."""
    parts = address.split(".")
    want = "".join(f"{int(p):02X}" for p in reversed(parts)) + f":{port:04X}"
    table = "/proc/net/udp" if transport == "udp" else "/proc/net/tcp"
    with open(table) as fh:
        rows = [line.split() for line in fh.readlines()[1:]]
    return {f[9] for f in rows if f[1] == want and (transport == "udp" or f[3] == "0A")}


def _listening(address: str, port: int, transport: str) -> bool:
    """True when any process has a socket bound to address:port (no packet sent to the device)."""
    return bool(_bound_inodes(address, port, transport))


def listening_here(address: str, port: int, transport: str) -> bool:
    """True when this process itself has a socket bound to address:port."""
    bound = _bound_inodes(address, port, transport)
    return bool(bound and bound & _socket_inodes())


async def wait_listening(spec: DeviceSpec, port: int) -> None:
    transport = STANDARD_PORTS[spec.protocol][1].split("+")[0]
    for _ in range(READY_ATTEMPTS):
        if listening_here(spec.address, port, transport):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{spec.name} did not start listening on {spec.address}:{port}")
