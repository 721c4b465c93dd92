"""OPC UA identity: Hello, OpenSecureChannel with SecurityPolicy None, GetEndpoints, CloseSecureChannel.
No session is created: application and product URIs, application name and the offered security
modes/policies and token types come from the endpoint list (what an anonymous client may see)."""

from __future__ import annotations

import struct

from icsaudit.passive.protocols.opcua import POLICY_NONE, SECURITY_MODES, USER_TOKEN_TYPES
from icsaudit.probes.base import Malformed, Planned, ProbeResult, ProbeTarget, answered, clean, need
from icsaudit.probes.guard import GuardedConnection

NAME = "opcua"
PROTOCOL = "opcua"
TRANSPORT = "tcp"
PORTS = (4840,)
MAX_ENDPOINTS = 32


def _string(value: bytes | str | None) -> bytes:
    if value is None:
        return struct.pack("<i", -1)
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("<i", len(raw)) + raw


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + b"F" + struct.pack("<I", 8 + len(body)) + body


def _request_header(handle: int) -> bytes:
    # null auth token, timestamp 0, handle, no diagnostics, no audit id, 5 s timeout hint, no extra header
    return (
        b"\x00\x00"
        + struct.pack("<qIi", 0, handle, 0)
        + _string(None)
        + struct.pack("<I", 5000)
        + b"\x00\x00\x00"
    )


def hello(url: str) -> bytes:
    return _message(b"HEL", struct.pack("<IIIII", 0, 65536, 65536, 0, 0) + _string(url))


def open_channel() -> bytes:
    body = (
        struct.pack("<I", 0)
        + _string(POLICY_NONE)
        + _string(None)
        + _string(None)
        + struct.pack("<II", 1, 1)
        + b"\x01\x00"
        + struct.pack("<H", 446)
        + _request_header(1)
        + struct.pack("<III", 0, 0, 1)
        + _string(b"")
        + struct.pack("<I", 600000)
    )
    return _message(b"OPN", body)


def get_endpoints(channel: int, token: int, url: str) -> bytes:
    body = (
        struct.pack("<IIII", channel, token, 2, 2)
        + b"\x01\x00"
        + struct.pack("<H", 428)
        + _request_header(2)
        + _string(url)
        + struct.pack("<ii", -1, -1)
    )
    return _message(b"MSG", body)


def close_channel(channel: int, token: int) -> bytes:
    body = (
        struct.pack("<IIII", channel, token, 3, 3) + b"\x01\x00" + struct.pack("<H", 452) + _request_header(3)
    )
    return _message(b"CLO", body)


def frame_length(buf: bytes) -> int | None:
    if len(buf) < 8:
        return None
    if buf[:3] not in (b"ACK", b"ERR", b"OPN", b"MSG", b"CLO"):
        raise Malformed("not an OPC UA message")
    size = struct.unpack("<I", buf[4:8])[0]
    if size < 8:
        raise Malformed("OPC UA size below the header")
    return size


class Reader:
    """Bounds-checked reader of the OPC UA binary encoding."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, size: int) -> bytes:
        need(self.data, self.pos + size, "OPC UA field")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def i32(self) -> int:
        return struct.unpack("<i", self.take(4))[0]

    def string(self) -> str | None:
        size = self.i32()
        return None if size < 0 else self.take(size).decode("utf-8", "replace")

    def node_id(self) -> int:
        kind = self.take(1)[0] & 0x3F
        if kind == 0:
            return self.take(1)[0]
        if kind == 1:
            self.take(1)
            return struct.unpack("<H", self.take(2))[0]
        if kind == 2:
            self.take(2)
            return self.u32()
        raise Malformed(f"node id encoding {kind} not expected here")

    def localized_text(self) -> str:
        mask = self.take(1)[0]
        if mask & 1:
            self.string()
        return (self.string() or "") if mask & 2 else ""

    def response_header(self) -> int:
        self.take(12)  # timestamp, request handle
        status = self.u32()
        if self.take(1)[0]:
            raise Malformed("diagnostic info in the response header")
        for _ in range(max(0, self.i32())):
            self.string()
        self.node_id()
        self.take(1)  # extension object encoding (no body expected)
        return status

    def array(self) -> int:
        count = self.i32()
        if count > MAX_ENDPOINTS * 8:
            raise Malformed("array too large")
        return max(0, count)


def parse_open(data: bytes) -> tuple[int, int]:
    if data[:3] == b"ERR":
        raise _Refused("ERR " + _err(data))
    r = Reader(data, 8)
    channel = r.u32()
    r.string(), r.string(), r.string()
    r.take(8)
    if r.node_id() != 449:
        raise Malformed("not an OpenSecureChannel response")
    if r.response_header():
        raise _Refused("OpenSecureChannel refused")
    r.take(4)
    token_channel, token = r.u32(), r.u32()
    return token_channel or channel, token


def parse_endpoints(data: bytes) -> dict:
    if data[:3] == b"ERR":
        raise _Refused("ERR " + _err(data))
    r = Reader(data, 24)
    node = r.node_id()
    if node != 431:
        raise _Refused(f"service fault (node {node})")
    if r.response_header():
        raise _Refused("GetEndpoints refused")
    endpoints = []
    app: dict = {}
    for _ in range(min(r.array(), MAX_ENDPOINTS)):
        url = r.string()
        app = {
            "application_uri": r.string(),
            "product_uri": r.string(),
            "application_name": r.localized_text(),
            "application_type": r.i32(),
        }
        r.string(), r.string()
        for _ in range(r.array()):
            r.string()
        cert = r.i32()
        if cert > 0:
            r.take(cert)
        mode = r.i32()
        policy = r.string() or ""
        tokens = []
        for _ in range(r.array()):
            r.string()
            tokens.append(USER_TOKEN_TYPES.get(r.i32(), "other"))
            r.string(), r.string(), r.string()
        r.string()
        r.take(1)
        endpoints.append(
            {
                "url": url,
                "security_mode": SECURITY_MODES.get(mode, str(mode)),
                "security_policy": policy.rsplit("#", 1)[-1],
                "tokens": tokens,
            }
        )
    return {**app, "endpoints": endpoints}


class _Refused(Exception):
    pass


def _err(data: bytes) -> str:
    return f"0x{struct.unpack('<I', data[8:12])[0]:08x}" if len(data) >= 12 else "(short)"


def _url(target: ProbeTarget) -> str:
    return f"opc.tcp://{target.ip}:{target.port}"


def plan(target: ProbeTarget) -> list[Planned]:
    return [
        Planned(hello(_url(target)), "Hello"),
        Planned(open_channel(), "OpenSecureChannel (policy None)"),
        Planned(get_endpoints(0, 0, _url(target)), "GetEndpoints (channel and token from the OPN reply)"),
        Planned(close_channel(0, 0), "CloseSecureChannel"),
    ]


def run(conn: GuardedConnection, target: ProbeTarget, found: list[ProbeResult]) -> None:
    url = _url(target)
    reply = conn.request(PROTOCOL, hello(url), frame_length, "Hello")
    if reply.data[:3] != b"ACK":
        conn.negative(f"Hello answered with {reply.data[:3]!r}")
    try:
        reply = conn.request(PROTOCOL, open_channel(), frame_length, "OpenSecureChannel (policy None)")
        channel, token = parse_open(reply.data)
        reply = conn.request(PROTOCOL, get_endpoints(channel, token, url), frame_length, "GetEndpoints")
        raw = parse_endpoints(reply.data)
    except _Refused as exc:
        conn.negative(str(exc))
        return
    modes = sorted({e["security_mode"] for e in raw["endpoints"]})
    policies = sorted({e["security_policy"] for e in raw["endpoints"]})
    tokens = sorted({t for e in raw["endpoints"] for t in e["tokens"]})
    answered(
        found,
        (NAME, PROTOCOL, TRANSPORT),
        target,
        reply,
        raw,
        details={"security_modes": modes, "security_policies": policies, "user_tokens": tokens},
        fields=clean(
            {
                "name": raw.get("application_name"),
                "application_uri": raw.get("application_uri"),
                "product_uri": raw.get("product_uri"),
                "security_modes": ",".join(modes),
                "security_policies": ",".join(policies),
                "user_tokens": ",".join(tokens),
            }
        ),
    )
    conn.request(PROTOCOL, close_channel(channel, token), None, "CloseSecureChannel", expect_reply=False)
