"""HTTP management page of a device, with the default-credential hint and Server header that a
banner check (AV-05) finds. Login POSTs with the default pair are accepted, others refused."""

from __future__ import annotations

import asyncio
import base64
import html

from icsaudit.lab.devices.base import IDLE_TIMEOUT, peer_of, serve_tcp
from icsaudit.lab.journal import Journal
from icsaudit.lab.model import DeviceSpec

METHOD_CATEGORIES = {
    "GET": "read",
    "HEAD": "read",
    "OPTIONS": "identify",
    "POST": "write",
    "PUT": "write",
    "DELETE": "write",
    "PATCH": "write",
}
MAX_HEADER_LINES = 100
MAX_BODY = 65536


def _page(spec: DeviceSpec, user: str, password: str) -> str:
    ident = spec.identity
    title = html.escape(f"{ident.vendor} {ident.model}")
    return (
        f"<!DOCTYPE html><html><head><title>{title} - Login</title></head><body>"
        f"<h1>{title}</h1><p>Firmware {html.escape(ident.firmware)}</p>"
        '<form method="post" action="/login"><input name="username"><input name="password" type="password">'
        "<button>Login</button></form>"
        f'<p class="hint">Default login: {html.escape(user)}/{html.escape(password)}</p></body></html>'
    )


async def serve(spec: DeviceSpec, port: int, journal: Journal) -> None:
    ident = spec.identity
    server_header = spec.options.get(
        "server_header",
        f"{ident.vendor.split()[0] if ident.vendor else 'Embedded'}-WebServer/{ident.firmware or '1.0'}",
    )
    user, password = spec.options.get("default_credentials", "admin/admin").split("/", 1)

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = peer_of(writer)
        request = (await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)).decode(errors="replace").strip()
        if not request:
            return
        method, _, rest = request.partition(" ")
        path = rest.split(" ")[0] or "/"
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = (await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT)).decode(errors="replace").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        length = min(int(headers.get("content-length", "0") or 0), MAX_BODY)
        if length:
            body = await asyncio.wait_for(reader.readexactly(length), IDLE_TIMEOUT)
        category = METHOD_CATEGORIES.get(method.upper(), "other")
        status, accepted = "200 OK", True
        if path.startswith("/login") and method.upper() == "POST":
            category = "auth"
            accepted = f"username={user}".encode() in body and f"password={password}".encode() in body
            status = "302 Found" if accepted else "401 Unauthorized"
        elif "authorization" in headers:
            category = "auth"
            given = headers["authorization"].partition(" ")[2]
            accepted = given == base64.b64encode(f"{user}:{password}".encode()).decode()
        elif method.upper() not in ("GET", "HEAD"):
            status, accepted = "405 Method Not Allowed", False
        journal.record(peer, f"{method.upper()} {path}", category, "accepted" if accepted else "refused")
        page = _page(spec, user, password).encode()
        head = (
            f"HTTP/1.1 {status}\r\nServer: {server_header}\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(page)}\r\nConnection: close\r\n"
        )
        if status.startswith("302"):
            head += "Location: /\r\n"
        writer.write(head.encode() + b"\r\n" + (b"" if method.upper() == "HEAD" else page))
        await writer.drain()

    await serve_tcp(spec.address, port, session)
