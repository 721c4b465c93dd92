"""DNS (UDP/TCP 53): queries and responses; A/AAAA answers name the answered address (medium confidence)."""

from __future__ import annotations

import socket

from icsaudit.passive.protocols.base import Dissector, StreamBuffer
from icsaudit.passive.protocols.it.common import IT_SNIFF_PRIORITY

OPCODES: dict[int, tuple[str, str]] = {
    0: ("query", "read"),
    1: ("iquery", "read"),
    2: ("status", "diagnostic"),
    4: ("notify", "other"),
    5: ("update", "write"),
}
MAX_POINTERS = 16
MAX_ANSWERS = 32


def read_name(data: bytes, pos: int) -> tuple[str, int] | None:
    """(dotted name, offset after it) following compression pointers; None when malformed."""
    labels: list[str] = []
    after = None
    jumps = 0
    while True:
        if pos >= len(data):
            return None
        size = data[pos]
        if size == 0:
            pos += 1
            break
        if size & 0xC0 == 0xC0:
            if pos + 1 >= len(data) or jumps >= MAX_POINTERS:
                return None
            if after is None:
                after = pos + 2
            pos = ((size & 0x3F) << 8) | data[pos + 1]
            jumps += 1
            continue
        if size > 63 or pos + 1 + size > len(data):
            return None
        labels.append(data[pos + 1 : pos + 1 + size].decode("latin-1"))
        pos += 1 + size
    return ".".join(labels), after if after is not None else pos


class DnsDissector(Dissector):
    name = "dns"
    tcp_ports = frozenset((53,))
    udp_ports = frozenset((53,))
    sniff_priority = IT_SNIFF_PRIORITY

    def __init__(self, session) -> None:
        super().__init__(session)
        self.buffers = (StreamBuffer(), StreamBuffer())

    def on_udp(self, data: bytes, from_client: bool) -> None:
        self._message(data)

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        for message in self.buffers[0 if from_client else 1].feed(data, _tcp_length):
            self._message(message[2:])

    def on_gap(self, from_client: bool) -> None:
        self.buffers[0 if from_client else 1].reset()

    def _message(self, data: bytes) -> None:
        session = self.session
        if len(data) < 12:
            session.error("dns: message shorter than its header")
            return
        flags = (data[2] << 8) | data[3]
        is_response = bool(flags & 0x8000)
        key, category = OPCODES.get((flags >> 11) & 0x0F, ("opcode", "other"))
        rcode = flags & 0x0F
        session.pdu(
            f"{key}_response" if is_response else key,
            category,
            request=not is_response,
            exception=is_response and rcode not in (0, 3),
        )  # NXDOMAIN is an answer, not a failure
        if is_response:
            session.service(details={"dns": True})
            if rcode == 0:
                self._answers(data)

    def _answers(self, data: bytes) -> None:
        questions = (data[4] << 8) | data[5]
        answers = (data[6] << 8) | data[7]
        pos, qname = 12, ""
        for index in range(min(questions, 4)):
            name = read_name(data, pos)
            if name is None:
                self.session.error("dns: malformed question name")
                return
            if index == 0:
                qname = name[0]
            pos = name[1] + 4
        for _ in range(min(answers, MAX_ANSWERS)):
            name = read_name(data, pos)
            if name is None or name[1] + 10 > len(data):
                self.session.error("dns: malformed answer record")
                return
            pos = name[1]
            rtype = (data[pos] << 8) | data[pos + 1]
            rclass = (data[pos + 2] << 8) | data[pos + 3]
            size = (data[pos + 8] << 8) | data[pos + 9]
            rdata = data[pos + 10 : pos + 10 + size]
            pos += 10 + size
            if rclass != 1 or not qname:
                continue
            if rtype == 1 and size == 4:
                address = socket.inet_ntoa(rdata)
            elif rtype == 28 and size == 16:
                address = socket.inet_ntop(socket.AF_INET6, rdata)
            else:
                continue
            self.session.identity(None, {"name": qname}, ip=address, mac="", confidence="medium")


def _tcp_length(buf: bytes) -> int | None:
    if len(buf) < 2:
        return None
    length = (buf[0] << 8) | buf[1]
    return 2 + length if length >= 12 else 0
