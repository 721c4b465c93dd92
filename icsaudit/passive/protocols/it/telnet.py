"""Telnet (TCP 23): option negotiation, the server's banner/login prompt, and typed credentials.

Best effort, as telnet has no framing: after the server prints a login prompt the next client line is
the user name; after "Password:" the next client line is the secret (clients send one key per packet,
so keys are collected until CR/LF, honouring backspace).
"""

from __future__ import annotations

import re

from icsaudit.passive.protocols.base import Dissector
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY

IAC, SB, SE = 0xFF, 0xFA, 0xF0
NEGOTIATION = frozenset((0xFB, 0xFC, 0xFD, 0xFE))  # WILL WONT DO DONT
LOGIN_PROMPT = re.compile(rb"(login|user ?name|user)\s*:\s*$", re.IGNORECASE)
PASSWORD_PROMPT = re.compile(rb"pass(word|code)?\s*:\s*$", re.IGNORECASE)
MAX_TYPED = 256
CATEGORIES: dict[str, str] = {"negotiate": "other", "data": "other", "login": "auth"}


def strip_commands(data: bytes) -> tuple[bytes, int]:
    """Text without IAC sequences, and how many option negotiations were in ``data``."""
    if IAC not in data:
        return data, 0
    out = bytearray()
    negotiations = 0
    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte != IAC:
            out.append(byte)
            i += 1
            continue
        if i + 1 >= n:
            break
        command = data[i + 1]
        if command == IAC:
            out.append(IAC)
            i += 2
        elif command in NEGOTIATION:
            negotiations += 1
            i += 3
        elif command == SB:  # sub-negotiation runs to IAC SE
            end = data.find(bytes((IAC, SE)), i + 2)
            negotiations += 1
            i = n if end < 0 else end + 2
        else:
            i += 2
    return bytes(out), negotiations


class TelnetDissector(Dissector):
    name = "telnet"
    tcp_ports = frozenset((23,))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.expect = ""  # "user" or "secret": what the next client line is
        self.typed = bytearray()
        self.user = b""
        self.banner_seen = False

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:
        return len(data) >= 3 and data[0] == IAC and data[1] in NEGOTIATION

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        session = self.session
        plain, negotiations = strip_commands(data)
        if negotiations:
            session.pdu("negotiate", CATEGORIES["negotiate"])
        if not plain:
            return
        session.pdu("data", CATEGORIES["data"])
        if from_client:
            self._typed(plain)
        else:
            self._server_text(plain)

    def _server_text(self, plain: bytes) -> None:
        session = self.session
        tail = plain.rstrip(b"\x00")
        if not self.banner_seen and tail.strip():
            self.banner_seen = True
            banner = " ".join(tail.decode("utf-8", "replace").split())
            session.service(banner=banner, details={"cleartext_login": True})
        if self.expect == "secret" and not self.typed:
            return  # the server echoes nothing while a password is typed
        if PASSWORD_PROMPT.search(tail):
            self.expect, self.typed = "secret", bytearray()
        elif LOGIN_PROMPT.search(tail):
            self.expect, self.typed = "user", bytearray()

    def _typed(self, plain: bytes) -> None:
        if not self.expect:
            return
        for byte in plain:
            if byte in (0x0D, 0x0A):
                if self.typed or self.expect == "secret":
                    self._line(bytes(self.typed))
                    if not self.expect:
                        return
                continue
            if byte in (0x08, 0x7F):
                if self.typed:
                    self.typed.pop()
            elif byte and len(self.typed) < MAX_TYPED:
                self.typed.append(byte)

    def _line(self, line: bytes) -> None:
        if self.expect == "user":
            self.user, self.expect = line, ""
        else:
            self.session.pdu("login", CATEGORIES["login"])
            self.session.credential("telnet-login", self.user, line)
            self.expect, self.user = "", b""
        self.typed = bytearray()

    def on_gap(self, from_client: bool) -> None:
        self.typed = bytearray()
