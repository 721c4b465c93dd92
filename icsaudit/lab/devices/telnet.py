"""Telnet service left on a controller: login banner, a login prompt and a refusing password check.
The banner names the device (what CT-01 and banner grabs see)."""

from __future__ import annotations

import asyncio

from icsaudit.lab.devices.base import peer_of, read_line, serve_tcp
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec

MAX_ATTEMPTS = 3


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    ident = spec.identity
    banner = spec.options.get("banner", f"{ident.vendor} {ident.model} {ident.firmware}".strip())

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = peer_of(writer)
        journal.record(peer, "connect", "other", "accepted")
        writer.write(f"\r\n{banner}\r\n\r\n".encode())
        for _ in range(MAX_ATTEMPTS):
            writer.write(b"login: ")
            await writer.drain()
            user = await read_line(reader)
            if not user and reader.at_eof():
                return
            writer.write(b"Password: ")
            await writer.drain()
            await read_line(reader)
            journal.record(peer, "login", "auth", "refused", user=user.decode(errors="replace"))
            writer.write(b"\r\nLogin incorrect\r\n")
        await writer.drain()

    await serve_tcp(spec.address, port, session)
