"""The contract between the streaming core and the protocol modules.

A protocol module defines one ``Dissector`` subclass. The core creates one instance per flow (TCP
connection, UDP 5-tuple, or layer-2 (src, dst, EtherType)) once the flow is attributed to the
protocol (by port, or by ``sniff`` on the first payload when ports lie), and feeds it:

- ``on_tcp(data, from_client)``: the next in-order bytes of one direction of the stream (PDUs may be
  split or coalesced arbitrarily: the dissector buffers partial PDUs itself, bounded);
- ``on_gap(from_client)``: bytes were lost in that direction: drop buffered partial data, resync;
- ``on_udp(data, from_client)``: one datagram;
- ``on_frame(data)``: one layer-2 payload after the EtherType (for GOOSE, SV, PROFINET DCP ...). An
  EtherType can carry more than the module decodes (0x8892: DCP, but also cyclic I/O and PTCP): return
  False for a frame the module does not handle, and the core counts it in a flow named after the
  EtherType (``pipeline.L2_UNCLAIMED``, else "unknown") instead of this module's; a layer-2 flow of
  the module exists only once it handled a frame. None (no return) means handled.

While a call runs, ``self.session`` describes the current packet (frame, ts, addresses) and is how
the dissector reports what it saw: ``pdu()``, ``event()``, ``identity()``, ``service()``,
``credential()``, ``error()``. Function-code → category tables are module-level data (dicts).
Dissectors must never raise on malformed input: report ``session.error(...)`` and carry on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from icsaudit.passive.session import Session

# Bound on bytes a dissector may hold for one direction while waiting for the rest of a PDU.
MAX_BUFFER = 1 << 16


class Dissector:
    name: ClassVar[str] = ""
    tcp_ports: ClassVar[frozenset[int]] = frozenset()
    udp_ports: ClassVar[frozenset[int]] = frozenset()
    ethertypes: ClassVar[frozenset[int]] = frozenset()
    # Well-known server ports for the tshark conversation rule (defaults to tcp_ports | udp_ports).
    server_ports: ClassVar[frozenset[int]] = frozenset()
    # Lower runs earlier when several modules sniff the same payload.
    sniff_priority: ClassVar[int] = 50
    # Protocol names this dissector reports in --stats-json (conformance compares these with the corpus);
    # defaults to (name,). E.g. the ENIP module reports ("enip", "cip").
    stats_protocols: ClassVar[tuple[str, ...]] = ()

    def __init__(self, session: Session) -> None:
        self.session = session

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        """Return True if ``data`` (first payload of a flow on an unexpected port) is this protocol."""
        return False

    def on_tcp(self, data: bytes, from_client: bool) -> None:  # pragma: no cover - interface
        pass

    def on_gap(self, from_client: bool) -> None:  # pragma: no cover - interface
        pass

    def on_udp(self, data: bytes, from_client: bool) -> None:  # pragma: no cover - interface
        pass

    def on_frame(self, data: bytes) -> bool | None:  # pragma: no cover - interface
        """Handle one layer-2 payload; False: not this module's frame (see the module docstring)."""

    def on_close(self) -> None:
        """The flow ended or expired: flush anything pending."""


class StreamBuffer:
    """Per-direction reassembly helper for length-prefixed PDUs over TCP.

    ``feed`` appends bytes and returns complete PDUs using ``pdu_length(buffer) -> int | None``
    (None: need more bytes; <= 0: garbage, resync by dropping the buffer). Bounded by MAX_BUFFER.
    """

    __slots__ = ("buf", "dropped")

    def __init__(self) -> None:
        self.buf = b""
        self.dropped = 0

    def reset(self) -> None:
        self.buf = b""

    def feed(self, data: bytes, pdu_length) -> list[bytes]:
        buf = self.buf + data if self.buf else bytes(data)
        out: list[bytes] = []
        while buf:
            length = pdu_length(buf)
            if length is None:
                break
            if length <= 0:
                self.dropped += len(buf)
                buf = b""
                break
            if len(buf) < length:
                break
            out.append(buf[:length])
            buf = buf[length:]
        if len(buf) > MAX_BUFFER:
            self.dropped += len(buf)
            buf = b""
        self.buf = buf
        return out


def categorize(table: dict[Any, str], key: Any, default: str = "other") -> str:
    return table.get(key, default)
