"""Remote-access endpoints (the RA-01/RA-02 faults): an SSH server that sends its identification
string and reads the client's, and a VNC server that speaks the RFB 3.8 version handshake and offers
VNC authentication. Neither lets anyone in: the point is the session on the wire."""

from __future__ import annotations

import asyncio

from icsaudit.lab.devices.base import IDLE_TIMEOUT, peer_of, read_line, serve_tcp
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    banner = spec.options.get(
        "banner", "SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u1" if spec.protocol == "ssh" else "RFB 003.008"
    )

    async def ssh(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = peer_of(writer)
        writer.write(f"{banner}\r\n".encode())
        await writer.drain()
        client = (await read_line(reader)).decode(errors="replace")
        journal.record(peer, "identification", "auth", "accepted", client=client)
        rest = await asyncio.wait_for(reader.read(4096), IDLE_TIMEOUT)  # key exchange: not continued
        if rest:
            journal.record(peer, "kexinit", "auth", "refused", length=len(rest))

    async def vnc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = peer_of(writer)
        writer.write(b"RFB 003.008\n")
        await writer.drain()
        client = await asyncio.wait_for(reader.readexactly(12), IDLE_TIMEOUT)
        journal.record(
            peer, "protocol_version", "auth", "accepted", client=client.decode(errors="replace").strip()
        )
        writer.write(bytes([1, 2]))  # one security type: VNC authentication
        await writer.drain()
        chosen = await asyncio.wait_for(reader.read(1), IDLE_TIMEOUT)
        if chosen:
            journal.record(peer, "security_type", "auth", "refused", type=chosen[0])

    await serve_tcp(spec.address, port, ssh if spec.protocol == "ssh" else vnc)
