"""TCP banners of IT services left on OT devices: telnet, FTP, SSH and VNC are only listened to
(nothing is sent); HTTP gets the one fixed request "HEAD / HTTP/1.0"."""

from __future__ import annotations

from icsaudit.probes.base import Malformed, Planned, ProbeResult, ProbeTarget, clean
from icsaudit.probes.guard import GuardedConnection
from icsaudit.probes.readonly import HTTP_HEAD

NAME = "banner"
PROTOCOL = "banner"
TRANSPORT = "tcp"
PORTS = (21, 22, 23, 80, 5900)
SERVICES = {21: "ftp", 22: "ssh", 23: "telnet", 80: "http", 5900: "vnc"}
MAX_BANNER = 4096
TELNET_IAC = 0xFF


def service_of(target: ProbeTarget) -> str:
    """The service named by the port spec (e.g. "10023:telnet"), else by the standard port."""
    return target.service or SERVICES.get(target.port, "tcp")


def frame_for(service: str):
    def line_frame(buf: bytes) -> int | None:
        if len(buf) > MAX_BANNER:
            raise Malformed("banner too long")
        end = buf.find(b"\n")
        return end + 1 if end >= 0 else None

    def http_frame(buf: bytes) -> int | None:
        if len(buf) > MAX_BANNER:
            raise Malformed("headers too long")
        end = buf.find(b"\r\n\r\n")
        return end + 4 if end >= 0 else None

    def telnet_frame(buf: bytes) -> int | None:
        if len(buf) > MAX_BANNER:
            raise Malformed("banner too long")
        shown = _strip_telnet(buf)
        return len(buf) if shown.rstrip().endswith(b":") or shown.count(b"\n") >= 3 else None

    def vnc_frame(buf: bytes) -> int | None:
        return 12 if len(buf) >= 12 else None

    return {"http": http_frame, "telnet": telnet_frame, "vnc": vnc_frame}.get(service, line_frame)


def _strip_telnet(buf: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(buf):
        if buf[i] == TELNET_IAC:
            i += 3 if i + 1 < len(buf) and buf[i + 1] in (251, 252, 253, 254) else 2
            continue
        out.append(buf[i])
        i += 1
    return bytes(out)


def plan(target: ProbeTarget) -> list[Planned]:
    service = service_of(target)
    return [Planned(HTTP_HEAD if service == "http" else None, f"{service} banner")]


def run(conn: GuardedConnection, target: ProbeTarget, found: list[ProbeResult]) -> None:
    service = service_of(target)
    frame = frame_for(service)
    if service == "http":
        reply = conn.request(PROTOCOL, HTTP_HEAD, frame, "HEAD /")
    else:
        reply = conn.receive(frame, f"{service} banner")
    shown = _strip_telnet(reply.data) if service == "telnet" else reply.data
    banner = shown.decode("latin-1").strip()
    fields: dict = {}
    details: dict = {}
    if service == "http":
        for line in banner.splitlines()[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "server":
                fields["http_server"] = value.strip()
        details["status_line"] = banner.splitlines()[0] if banner else ""
    elif service == "ssh" and banner.startswith("SSH-"):
        fields["ssh_version"] = banner
    elif service == "telnet":
        lines = [x.strip() for x in banner.splitlines() if x.strip()]
        fields["telnet_banner"] = lines[0] if lines else ""
    found.append(
        ProbeResult(
            service,
            service,
            target.ip,
            target.port,
            TRANSPORT,
            banner=banner[:512],
            fields=clean(fields),
            details=details,
            raw={"service": service},
            line=reply.line,
            ts=reply.ts,
        )
    )
