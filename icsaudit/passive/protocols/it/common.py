"""Helpers shared by the IT-service dissectors: bounded line splitting and flagged credential events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from icsaudit.passive.protocols.base import MAX_BUFFER

if TYPE_CHECKING:
    from icsaudit.passive.session import Session

# IT services sniff after the ICS modules: their content tests are looser than an ICS header check.
IT_SNIFF_PRIORITY = 60
MAX_LINE = 4096  # a text-protocol line longer than this is not a command line: dropped


class LineBuffer:
    """Splits one direction of a text protocol into lines (CR LF or LF), bounded."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self.buf + data if self.buf else bytes(data)
        *lines, rest = buf.split(b"\n")
        self.buf = rest if len(rest) <= MAX_LINE else b""
        return [line.rstrip(b"\r") for line in lines if len(line) <= MAX_LINE]

    def reset(self) -> None:
        self.buf = b""


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").strip()


def flagged_credential(
    session: Session, method: str, username: str | bytes, secret: str | bytes, **flags: bool
) -> None:
    """``Session.credential`` (digests only) with boolean facts such as ``default_community``."""
    session.credential(method, username, secret, flags=flags)


def bounded(buf: bytes, extra: bytes) -> bytes:
    """Append and cap a reassembly buffer at MAX_BUFFER (oldest bytes are the ones that matter: drop new)."""
    joined = buf + extra
    return joined if len(joined) <= MAX_BUFFER else b""
