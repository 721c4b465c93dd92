"""SSH (TCP 22): identification strings of both sides, and the cleartext key exchange messages."""

from __future__ import annotations

from icsaudit.passive.protocols.base import MAX_BUFFER, Dissector
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY, text

# Transport-layer messages sent before encryption starts (RFC 4253): code -> (key, category).
MESSAGES: dict[int, tuple[str, str]] = {
    20: ("kexinit", "auth"),
    21: ("newkeys", "auth"),
    30: ("kex_init", "auth"),
    31: ("kex_reply", "auth"),
    32: ("kex_32", "auth"),
    33: ("kex_33", "auth"),
    34: ("kex_34", "auth"),
}
NEWKEYS = 21


class SshDissector(Dissector):
    name = "ssh"
    tcp_ports = frozenset((22,))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.buf = [b"", b""]
        self.stage = [0, 0]  # 0 identification line, 1 cleartext packets, 2 encrypted (stop)

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        return data[:8] in (b"SSH-2.0-", b"SSH-1.99") or data[:8] == b"SSH-1.5-"

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        side = 0 if from_client else 1
        if self.stage[side] == 2:
            return
        buf = self.buf[side] + data if self.buf[side] else bytes(data)
        if self.stage[side] == 0:
            end = buf.find(b"\n")
            if end < 0:
                self.buf[side] = buf if len(buf) <= 255 else b""
                return
            line, buf = buf[:end].rstrip(b"\r"), buf[end + 1 :]
            if line.startswith(b"SSH-"):
                self._identification(line, from_client)
                self.stage[side] = 1
            else:
                self.buf[side] = buf  # RFC 4253 allows banner lines before the version line
                return self.on_tcp(b"", from_client) if buf else None
        while self.stage[side] == 1 and len(buf) >= 6:
            length = int.from_bytes(buf[:4], "big")
            if length < 2 or length > 35000:
                self.session.error("ssh: bad cleartext packet length")
                self.stage[side] = 2
                buf = b""
                break
            if len(buf) < 4 + length:
                break
            code = buf[5]
            key, category = MESSAGES.get(code, (f"msg/{code}", "other"))
            self.session.pdu(key, category)
            if code == 20 and not from_client:
                self._kexinit(buf[6 : 4 + length])
            buf = buf[4 + length :]
            if code == NEWKEYS:
                self.stage[side] = 2
                buf = b""
        self.buf[side] = buf if len(buf) <= MAX_BUFFER else b""

    def _identification(self, line: bytes, from_client: bool) -> None:
        proto, _, rest = line[4:].partition(b"-")
        software, _, comment = rest.partition(b" ")
        self.session.pdu("identification", "other")
        if not from_client:
            details = {"ssh_version": text(proto), "software": text(software)}
            if comment:
                details["comment"] = text(comment)
            self.session.service(banner=text(line), details=details)

    def _kexinit(self, body: bytes) -> None:
        """Server KEXINIT: cookie (16), then name-lists: kex, host key, ciphers c2s, ciphers s2c, ..."""
        pos, names = 16, []
        for _ in range(4):
            if pos + 4 > len(body):
                return
            size = int.from_bytes(body[pos : pos + 4], "big")
            names.append(text(body[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        self.session.service(
            details={"kex_algorithms": names[0], "host_key_algorithms": names[1], "ciphers": names[3]}
        )

    def on_gap(self, from_client: bool) -> None:
        side = 0 if from_client else 1
        self.buf[side] = b""
        if self.stage[side] == 1:
            self.stage[side] = 2  # lost sync on unframed data: stop rather than guess
