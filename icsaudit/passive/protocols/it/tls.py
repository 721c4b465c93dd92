"""TLS (TCP 443, 4843 OPC UA over TLS; sniffed by record header): versions, cipher, server certificate.

Handshake messages are reassembled across records until a side sends ChangeCipherSpec (TLS <= 1.2) or
the ServerHello selects TLS 1.3 (everything after it is encrypted, certificate included).
"""

from __future__ import annotations

import re

from icsaudit.passive.protocols.base import MAX_BUFFER, Dissector
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY

CONTENT_TYPES: dict[int, tuple[str, str]] = {
    20: ("change_cipher_spec", "auth"),
    21: ("alert", "other"),
    23: ("application_data", "other"),
    24: ("heartbeat", "other"),
}
HANDSHAKES: dict[int, str] = {
    0: "hello_request",
    1: "client_hello",
    2: "server_hello",
    4: "new_session_ticket",
    11: "certificate",
    12: "server_key_exchange",
    13: "certificate_request",
    14: "server_hello_done",
    15: "certificate_verify",
    16: "client_key_exchange",
    20: "finished",
}
VERSIONS: dict[int, str] = {
    0x0300: "SSL 3.0",
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
}
# Names of common suites (IANA registry); others are reported by number.
CIPHERS: dict[int, str] = {
    0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}
EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_VERSIONS = 0x002B


MAX_RECORD = (1 << 14) + 2048  # TLSCiphertext limit (RFC 5246 6.2.3)
RECORD_HEADER = re.compile(rb"[\x14-\x18]\x03[\x00-\x04]")


def record_length(buf: bytes) -> int:
    """Length of the record at the start of ``buf`` (header included); 0 when it is not a header."""
    if buf[0] not in (20, 21, 22, 23, 24) or buf[1] != 3 or buf[2] > 4:
        return 0
    length = (buf[3] << 8) | buf[4]
    return 5 + length if length <= MAX_RECORD else 0


def extensions(body: bytes, pos: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    if pos + 2 > len(body):
        return out
    end = min(len(body), pos + 2 + int.from_bytes(body[pos : pos + 2], "big"))
    pos += 2
    while pos + 4 <= end:
        kind = int.from_bytes(body[pos : pos + 2], "big")
        size = int.from_bytes(body[pos + 2 : pos + 4], "big")
        out[kind] = body[pos + 4 : pos + 4 + size]
        pos += 4 + size
    return out


def certificate_details(der: bytes) -> dict[str, object]:
    """Subject CN, notAfter and self-signature of a DER certificate; {} when it does not parse."""
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        cert = x509.load_der_x509_certificate(der)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        not_after = cert.not_valid_after_utc
        return {
            "cert_subject": str(names[0].value) if names else cert.subject.rfc4514_string(),
            "cert_not_after": not_after.isoformat(),
            "cert_self_signed": cert.issuer == cert.subject,
        }
    except Exception:  # any malformed certificate: no details, never a crash
        return {}


class TlsDissector(Dissector):
    name = "tls"
    tcp_ports = frozenset((443, 4843, 8443))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.buf = [b"", b""]
        self.synced = [False, False]
        self.handshake = [b"", b""]
        self.encrypted = [False, False]

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        return len(data) >= 6 and data[0] == 22 and data[1] == 3 and data[2] <= 4 and data[5] in (1, 2)

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        side = 0 if from_client else 1
        buf = self.buf[side] + data if self.buf[side] else bytes(data)
        while len(buf) >= 5:
            length = record_length(buf)
            if not length:
                # resync on the next header; a capture that starts mid-record is normal, not an error,
                # but losing the framing after records parsed fine is
                found = RECORD_HEADER.search(buf, 1)
                if self.synced[side]:
                    self.synced[side] = False
                    self.session.error("tls: bytes that are not a TLS record; resynchronizing")
                buf = buf[found.start() :] if found else buf[-4:]
                if not found:
                    break
                continue
            if len(buf) < length:
                break
            record, buf = buf[:length], buf[length:]
            self.synced[side] = True
            self._record(record, side)
        self.buf[side] = buf if len(buf) <= MAX_BUFFER else b""

    def _record(self, record: bytes, side: int) -> None:
        content = record[0]
        if content == 22:
            if self.encrypted[side]:
                self.session.pdu("encrypted_handshake", "auth")
            else:
                self._handshake(record[5:], side)
            return
        key, category = CONTENT_TYPES.get(content, ("record", "other"))
        self.session.pdu(key, category, exception=content == 21)
        if content == 20:
            self.encrypted[side] = True

    def _handshake(self, fragment: bytes, side: int) -> None:
        buf = self.handshake[side] + fragment
        while len(buf) >= 4:
            size = int.from_bytes(buf[1:4], "big")
            if len(buf) < 4 + size:
                break
            kind, body, buf = buf[0], buf[4 : 4 + size], buf[4 + size :]
            self.session.pdu(HANDSHAKES.get(kind, f"handshake/{kind}"), "auth")
            if kind == 1:
                self._client_hello(body)
            elif kind == 2:
                self._server_hello(body)
            elif kind == 11:
                self._certificate(body)
        self.handshake[side] = buf if len(buf) <= MAX_BUFFER else b""

    def _client_hello(self, body: bytes) -> None:
        if len(body) < 35:
            return
        pos = 34 + 1 + body[34]  # version, random, session id
        if pos + 2 > len(body):
            return
        pos += 2 + int.from_bytes(body[pos : pos + 2], "big")  # cipher suites
        if pos + 1 > len(body):
            return
        pos += 1 + body[pos]  # compression methods
        sni = extensions(body, pos).get(EXT_SERVER_NAME)
        if sni and len(sni) > 5:
            self.session.service(details={"sni": sni[5:].decode("latin-1")})

    def _server_hello(self, body: bytes) -> None:
        if len(body) < 38:
            return
        version = int.from_bytes(body[0:2], "big")
        pos = 34 + 1 + body[34]
        if pos + 3 > len(body):
            return
        cipher = int.from_bytes(body[pos : pos + 2], "big")
        chosen = extensions(body, pos + 3).get(EXT_SUPPORTED_VERSIONS)
        if chosen and len(chosen) == 2:
            version = int.from_bytes(chosen, "big")
        self.session.service(
            details={
                "tls_version": VERSIONS.get(version, f"0x{version:04x}"),
                "cipher": CIPHERS.get(cipher, f"0x{cipher:04x}"),
            }
        )
        if version >= 0x0304:
            self.encrypted = [True, True]  # TLS 1.3: the rest of the handshake is encrypted

    def _certificate(self, body: bytes) -> None:
        if len(body) < 6:
            return
        size = int.from_bytes(body[3:6], "big")
        details = certificate_details(body[6 : 6 + size])
        if details:
            self.session.service(details=details)
        else:
            self.session.error("tls: server certificate does not parse")

    def on_gap(self, from_client: bool) -> None:
        side = 0 if from_client else 1
        self.buf[side] = b""
        self.handshake[side] = b""
        self.synced[side] = False
