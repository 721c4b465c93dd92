"""HTTP/1.x (TCP 80, 8080; sniffed by method or status line): methods, status, Server, Basic auth."""

from __future__ import annotations

import base64
import binascii

from icsaudit.passive.protocols.base import MAX_BUFFER, Dissector
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY, flagged_credential, text

METHOD_CATEGORIES: dict[bytes, str] = {
    b"GET": "read",
    b"HEAD": "read",
    b"OPTIONS": "read",
    b"PROPFIND": "read",
    b"POST": "write",
    b"PUT": "write",
    b"PATCH": "write",
    b"DELETE": "write",
    b"CONNECT": "other",
    b"TRACE": "diagnostic",
}
MAX_HEADERS = 16384


class HttpDissector(Dissector):
    name = "http"
    tcp_ports = frozenset((80, 8080))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.buf = [b"", b""]
        self.body_left = [0, 0]  # body bytes still to skip per direction; -1: chunked, scan for its end

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        if from_client:
            method, _, rest = data[:16].partition(b" ")
            return method in METHOD_CATEGORIES and b" HTTP/1." in data[:2048].split(b"\r\n", 1)[0]
        return data[:7] == b"HTTP/1." and data[8:9] == b" "

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        side = 0 if from_client else 1
        buf = self.buf[side] + data if self.buf[side] else bytes(data)
        while buf:
            left = self.body_left[side]
            if left > 0:
                skip = min(left, len(buf))
                self.body_left[side] -= skip
                buf = buf[skip:]
                continue
            if left < 0:
                end = buf.find(b"\r\n0\r\n\r\n")
                if end < 0:
                    buf = buf[-6:]  # keep a possible split terminator
                    break
                self.body_left[side] = 0
                buf = buf[end + 7 :]
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEADERS:
                    self.session.error("http: header block too long")
                    buf = b""
                break
            head, buf = buf[:end], buf[end + 4 :]
            self._message(head, from_client, side)
        self.buf[side] = buf if len(buf) <= MAX_BUFFER else b""

    def _message(self, head: bytes, from_client: bool, side: int) -> None:
        session = self.session
        lines = head.split(b"\r\n")
        start = lines[0]
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            key, sep, value = line.partition(b":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            self.body_left[side] = -1
        else:
            try:
                self.body_left[side] = max(0, int(headers.get(b"content-length", b"0")))
            except ValueError:
                self.body_left[side] = 0
        if start.startswith(b"HTTP/1."):
            self._response(start, headers)
            return
        method = start.split(b" ", 1)[0]
        if method not in METHOD_CATEGORIES:
            session.error("http: not a request line")
            return
        session.pdu(method.decode(), METHOD_CATEGORIES[method])
        auth = headers.get(b"authorization")
        if auth:
            self._authorization(auth)

    def _authorization(self, value: bytes) -> None:
        scheme, _, token = value.partition(b" ")
        scheme = scheme.lower()
        if scheme == b"basic":
            try:
                user, _, secret = base64.b64decode(token.strip(), validate=True).partition(b":")
            except (binascii.Error, ValueError):
                self.session.error("http: undecodable Basic credentials")
                return
            self.session.credential("http-basic", user, secret)
        elif scheme == b"digest":
            for part in token.split(b","):
                key, _, quoted = part.strip().partition(b"=")
                if key == b"username":
                    flagged_credential(self.session, "http-digest", quoted.strip(b'"'), b"", cleartext=False)
                    return

    def _response(self, start: bytes, headers: dict[bytes, bytes]) -> None:
        parts = start.split(b" ", 2)
        code = parts[1] if len(parts) > 1 and parts[1].isdigit() else b""
        status = int(code) if code else 0
        self.session.pdu(code.decode() or "response", "other", request=False, exception=status >= 400)
        details: dict[str, str] = {"http_version": text(parts[0][5:])}
        challenge = headers.get(b"www-authenticate")
        if challenge:
            details["www_authenticate"] = text(challenge)[:128]
        self.session.service(banner=text(headers.get(b"server", b"")), details=details)

    def on_gap(self, from_client: bool) -> None:
        side = 0 if from_client else 1
        self.buf[side] = b""
        self.body_left[side] = 0
