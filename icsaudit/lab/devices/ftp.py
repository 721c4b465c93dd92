"""FTP service on a controller with anonymous login allowed (the fault AV-05/CT-01 look for).
Answers USER/PASS/SYST/PWD/TYPE/NOOP/QUIT; data transfers (PASV, LIST, RETR, STOR) are refused."""

from __future__ import annotations

import asyncio

from icsaudit.lab.devices.base import peer_of, read_line, serve_tcp
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec

COMMAND_CATEGORIES = {
    "USER": "auth",
    "PASS": "auth",
    "SYST": "identify",
    "FEAT": "identify",
    "PWD": "read",
    "CWD": "read",
    "LIST": "read",
    "NLST": "read",
    "RETR": "read",
    "SIZE": "read",
    "STOR": "write",
    "APPE": "write",
    "DELE": "write",
    "MKD": "write",
    "RMD": "write",
    "TYPE": "other",
    "PASV": "other",
    "PORT": "other",
    "NOOP": "other",
    "QUIT": "other",
}
MAX_COMMANDS = 64


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    ident = spec.identity
    banner = spec.options.get("banner", f"{ident.vendor} {ident.model} FTP server ({ident.firmware}) ready.")
    anonymous = bool(spec.options.get("anonymous", True))

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = peer_of(writer)
        user = ""
        logged_in = False
        writer.write(f"220 {banner}\r\n".encode())
        for _ in range(MAX_COMMANDS):
            await writer.drain()
            line = (await read_line(reader)).decode(errors="replace")
            if not line:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            category = COMMAND_CATEGORIES.get(verb, "other")
            accepted = True
            if verb == "USER":
                user = arg
                reply = "331 Please specify the password."
            elif verb == "PASS":
                logged_in = anonymous and user.lower() in ("anonymous", "ftp")
                accepted = logged_in
                reply = "230 Login successful." if logged_in else "530 Login incorrect."
            elif verb == "SYST":
                reply = "215 UNIX Type: L8"
            elif verb == "PWD" and logged_in:
                reply = '257 "/" is the current directory'
            elif verb == "TYPE" and logged_in:
                reply = "200 Switching to Binary mode."
            elif verb == "NOOP":
                reply = "200 NOOP ok."
            elif verb == "QUIT":
                journal.record(peer, verb, category, "accepted")
                writer.write(b"221 Goodbye.\r\n")
                await writer.drain()
                return
            else:
                accepted = False
                reply = (
                    "530 Please login with USER and PASS."
                    if not logged_in
                    else "502 Command not implemented."
                )
            journal.record(
                peer,
                verb,
                category,
                "accepted" if accepted else "refused",
                **({"user": arg} if verb == "USER" else {}),
            )
            writer.write(f"{reply}\r\n".encode())

    await serve_tcp(spec.address, port, session)
