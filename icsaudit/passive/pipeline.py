"""Streaming passive analysis: capture records → link/IP/TCP/UDP decode → flows → dissectors → evidence.

Hot path written by hand over bytes (no scapy, no per-layer objects): this is the part ``make bench``
measures against tshark. Live connections are found by a bytes key sliced straight out of the packet
(addresses + ports, one entry per direction), so text addresses are built once per connection, not
per packet. Memory is bounded by the live flow table (idle flows expire, the table has a size cap,
reassembly and fragment buffers are capped per flow and in total), never by capture size.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

from icsaudit import __version__
from icsaudit.errors import InputError
from icsaudit.evidence.model import Capture, CaptureFile, Evidence
from icsaudit.passive.protocols import Registry, default_registry
from icsaudit.passive.protocols.base import Dissector
from icsaudit.passive.reader import ReadState, linktype_name, linktype_supported, open_capture
from icsaudit.passive.session import FlowAgg, Recorder, Session, flow_id_for

IDLE_TIMEOUT = 600.0  # seconds of silence before a live TCP connection is flushed
UDP_IDLE_TIMEOUT = 60.0  # UDP has no close: a request/response exchange is over much sooner (as in Zeek)
CLOSED_TIMEOUT = 5.0  # after FIN both ways or RST
SWEEP_EVERY = 65536  # packets between expiry sweeps
MAX_LIVE_FLOWS = 500_000  # beyond this the least recently active flows are flushed early
EVICT_FRACTION = 10  # an eviction burst flushes 1/10 of the table, so bursts are rare
MAX_OOO_BYTES = 1 << 18  # out-of-order bytes held per direction before declaring a gap
MAX_OOO_SEGMENTS = 256
MAX_OOO_TOTAL = 64 << 20  # out-of-order bytes held across all connections
MAX_FRAG_DATAGRAMS = 4096
MAX_FRAG_BYTES = 1 << 17  # bytes held for one datagram (a datagram is at most 64 KiB)
MAX_FRAG_TOTAL = 32 << 20  # fragment bytes held across all datagrams
FRAG_TIMEOUT = 30.0
PROGRESS_EVERY = 0x3FFF + 1  # packets between progress callbacks
# On a contested port (see Analyzer.contested_ports) payloads nobody claims yet are held on the
# connection until one is recognised: at most this many payloads, at most MAX_HELD_BYTES bytes.
MAX_HELD = 16
MAX_HELD_BYTES = 1 << 16

SEQ_MASK = 0xFFFFFFFF
_SEQ_FLAGS = struct.Struct("!IIH")  # TCP sequence, acknowledgment, (data offset << 12 | flags)
_PORTS = struct.Struct("!HH")
_seq_ack_flags = _SEQ_FLAGS.unpack_from
VLAN_TAGS = frozenset((0x8100, 0x88A8, 0x9100))
IPV6_EXTENSIONS = frozenset((0, 43, 60, 51))  # hop-by-hop, routing, destination options, AH
IPV6_FRAGMENT = 44
BSD_AF_INET6 = frozenset((10, 24, 28, 30))  # Linux, NetBSD/OpenBSD, FreeBSD, macOS
LLC_BACNET = b"\x82\x82"  # DSAP, SSAP of BACnet over ISO 8802-2 LLC
# Flow names for layer-2 frames the EtherType's module declines (Dissector.on_frame returned False).
L2_UNCLAIMED = {0x8892: "profinet_io"}  # PROFINET RT besides DCP: cyclic I/O, alarms, PTCP

_ip4_cache: dict[bytes, str] = {}
_ip6_cache: dict[bytes, str] = {}


def ip4(raw: bytes) -> str:
    text = _ip4_cache.get(raw)
    if text is None:
        text = socket.inet_ntoa(raw)
        if len(_ip4_cache) < 1_000_000:
            _ip4_cache[raw] = text
    return text


def ip6(raw: bytes) -> str:
    text = _ip6_cache.get(raw)
    if text is None:
        text = socket.inet_ntop(socket.AF_INET6, raw)
        if len(_ip6_cache) < 1_000_000:
            _ip6_cache[raw] = text
    return text


def ip_text(raw: bytes) -> str:
    return ip4(raw) if len(raw) == 4 else ip6(raw)


def mac_text(raw: bytes) -> str:
    return raw.hex(":")


def reverse_key(key: bytes) -> bytes:
    """The flow key of the other direction: (dst, src, dport, sport) for (src, dst, sport, dport)."""
    half = (len(key) - 4) // 2
    return key[half : 2 * half] + key[:half] + key[-2:] + key[-4:-2]


class _Direction:
    """Reassembly state of one direction of a TCP connection."""

    __slots__ = ("next_seq", "ooo", "ooo_bytes", "fin")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        # absolute sequence number -> (segment, file, frame, ts) held until the hole fills or is declared
        self.ooo: dict[int, tuple[bytes, str, int, float]] = {}
        self.ooo_bytes = 0
        self.fin = False


class Conn:
    """A live TCP connection or UDP session."""

    __slots__ = (
        "client",
        "server",
        "transport",
        "session",
        "dissector",
        "last_seen",
        "packets",
        "bytes",
        "to_server",
        "to_client",
        "closed",
        "decided",
        "agg",
        "syn_seen",
        "client_isn",
        "ckey",
        "skey",
        "client_mac",
        "server_mac",
        "held",
        "held_bytes",
    )

    def __init__(
        self, client: tuple[str, int], server: tuple[str, int], transport: str, ckey: bytes, skey: bytes
    ) -> None:
        self.client = client
        self.server = server
        self.transport = transport
        self.ckey = ckey  # flow key of packets from the client
        self.skey = skey
        self.session: Session | None = None
        self.dissector: Dissector | None = None
        self.last_seen = 0.0
        self.packets = 0
        self.bytes = 0
        tcp = transport == "tcp"
        self.to_server = _Direction() if tcp else None
        self.to_client = _Direction() if tcp else None
        self.closed = False
        self.decided = False
        self.agg = None
        self.syn_seen = False
        self.client_isn: int | None = None
        self.client_mac = ""
        self.server_mac = ""
        # Payloads held while a contested port is undecided: (body, from_client, file, frame, ts).
        self.held: list[tuple[bytes, bool, str, int, float]] | None = None
        self.held_bytes = 0


class Analyzer:
    """Analyze one or more captures into one Evidence document.

    ``progress(bytes_done, bytes_total)`` is called now and then (for a progress bar).
    With ``keep_going``, a file that cannot be read is recorded in ``failures`` (and in the evidence
    when it could be opened) and the next file is analyzed; otherwise its InputError propagates, the
    packets already analyzed staying in the analyzer.
    """

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        udp_idle_timeout: float | None = None,
        max_live_flows: int = MAX_LIVE_FLOWS,
        sweep_every: int = SWEEP_EVERY,
        packet_filter: Callable[[int, bytes], bool] | None = None,
    ) -> None:
        self.registry = registry or default_registry()
        # Decode only the records for which packet_filter(linktype, data) is true (flow shares of a
        # parallel run); every record is still read, counted and hashed, and counts for the sweep.
        self.packet_filter = packet_filter
        self.recorder = Recorder()
        self.progress = progress
        self.idle_timeout = idle_timeout
        self.udp_idle_timeout = (
            min(idle_timeout, UDP_IDLE_TIMEOUT) if udp_idle_timeout is None else udp_idle_timeout
        )
        self.max_live_flows = max(2, max_live_flows)
        self.sweep_every = max(1, sweep_every)
        # (transport, client key) -> live connection, in creation order (TCP and UDP may share a 4-tuple)
        self.conns: dict[tuple[str, bytes], Conn] = {}
        self.tcp_index: dict[bytes, Conn] = {}  # both direction keys -> live TCP connection
        self.udp_index: dict[bytes, Conn] = {}
        self.l2: dict[tuple, Session] = {}
        self.frags: dict[
            tuple, list
        ] = {}  # key -> [first ts, [(offset, bytes)...], total or None, bytes held]
        self.frag_bytes = 0
        self.ooo_total = 0
        self.files: list[CaptureFile] = []
        self.failures: list[tuple[Path, InputError]] = []
        self.packets = 0
        self.bytes = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.arp: dict[str, str] = {}  # ip -> mac from ARP
        self.ip_macs: dict[str, str] = {}
        self.live_peak = 0  # most live connections held at once
        self.evictions = 0  # eviction bursts (table full)
        self._done_bytes = 0
        self._total_bytes = 0
        self._since_sweep = 0
        self.tcp_server_ports = set(self.registry.by_tcp_port)
        self.llc_bacnet = next((c for c in self.registry.dissectors if c.name == "bacnet"), None)
        self.udp_server_ports = set(self.registry.by_udp_port)
        # A TCP port is contested when one dissector registers it and another lists it as a server
        # port it is claimed on by content (102: s7comm by port, MMS by sniff). The first payload there
        # (a COTP connection request) says nothing, so the decision waits for one a sniffer recognises.
        by_port = self.registry.by_tcp_port
        self.contested_ports = frozenset(
            port
            for cls in self.registry.dissectors
            for port in cls.server_ports
            if by_port.get(port, cls) is not cls
        )

    # -- files -------------------------------------------------------------------------------
    def analyze_files(
        self, paths: Iterable[str | os.PathLike[str]], *, keep_going: bool = False
    ) -> list[CaptureFile]:
        paths = [Path(p) for p in paths]
        self._total_bytes = sum(p.stat().st_size for p in paths if p.is_file())
        done = []
        for path in paths:
            try:
                done.append(self.analyze_file(path))
            except InputError as exc:
                if not keep_going:
                    raise
                self.failures.append((path, exc))
        return done

    def analyze_file(self, path: str | os.PathLike[str]) -> CaptureFile:
        path = Path(path)
        state, records = open_capture(path)
        if state.format == "pcap" and not any(linktype_supported(lt) for lt in state.link_types):
            for _record in records:  # count and hash what cannot be decoded, then fail
                pass
            state.problem(_unsupported_message(state.link_types), stops=True)
            self._record_file(path, state)
            raise _unsupported_error(path, state.link_types)
        rec = self.recorder
        rec.file = path.name
        handle = self._packet
        keep = self.packet_filter
        progress = self.progress
        sweep_every = self.sweep_every
        since_sweep = self._since_sweep
        ts = 0.0
        try:
            for frame, ts, linktype, data, _origlen in records:
                rec.frame = frame
                rec.ts = ts
                if keep is None or keep(linktype, data):
                    handle(linktype, data, ts)
                since_sweep += 1
                if since_sweep >= sweep_every:
                    since_sweep = 0
                    self._sweep(ts)
                if progress is not None and not frame % PROGRESS_EVERY:
                    progress(self._done_bytes + state.bytes_read, self._total_bytes)
        except OSError as exc:
            records.close()
            state.problem(
                f"read error at byte {state.bytes_read} after frame {state.packets}: {exc.strerror or exc}",
                stops=True,
            )
            self._record_file(path, state)
            raise InputError(
                f"{path}: read error after frame {state.packets}: {exc.strerror or exc}"
            ) from None
        finally:
            self._since_sweep = since_sweep
        if state.packets and not any(linktype_supported(lt) for lt in state.link_types):
            state.problem(_unsupported_message(state.link_types))
            self._record_file(path, state)
            raise _unsupported_error(path, state.link_types)
        for lt in sorted(state.link_types):
            if not linktype_supported(lt):
                state.problem(
                    f"link type {lt} ({linktype_name(lt)}) is not supported: its packets were counted, "
                    "not decoded"
                )
        return self._record_file(path, state)

    def _record_file(self, path: Path, state: ReadState) -> CaptureFile:
        problems = list(state.problems)
        if state.problems_dropped:
            problems.append(f"{state.problems_dropped} more problems not listed")
        info = CaptureFile(
            path=str(path),
            sha256=state.sha256,
            size=state.size,
            format=state.format,
            link_types=sorted(linktype_name(lt) for lt in state.link_types),
            packets=state.packets,
            bytes=state.bytes,
            first_ts=state.first_ts,
            last_ts=state.last_ts,
            complete=state.complete,
            problems=problems,
        )
        self.files.append(info)
        self.packets += state.packets
        self.bytes += state.bytes
        if state.first_ts is not None:
            self.first_ts = state.first_ts if self.first_ts is None else min(self.first_ts, state.first_ts)
            self.last_ts = state.last_ts if self.last_ts is None else max(self.last_ts, state.last_ts)
        self._done_bytes += state.size
        if self.progress is not None:
            self.progress(self._done_bytes, self._total_bytes)
        return info

    # -- decode ------------------------------------------------------------------------------
    def _packet(self, linktype: int, data: bytes, ts: float) -> None:
        size = len(data)
        if (
            linktype == 1
            and size >= 54
            and data[12] == 8
            and data[13] == 0
            and data[14] == 0x45
            and not (data[20] & 0x3F or data[21])
        ):
            # Ethernet II + IPv4 without options, not a fragment: most packets, decoded inline.
            total = (data[16] << 8) | data[17]
            end = 14 + total if 20 <= total <= size - 14 else size  # 0: segmentation offload
            proto = data[23]
            if proto == 6:
                if end >= 54:
                    self._tcp(data[26:38], data, 34, end, ts, 1, total or size - 14)
                return
            if proto == 17:
                if end >= 42:
                    ulen = (data[38] << 8) | data[39]
                    body = data[42 : 34 + ulen] if 8 <= ulen <= end - 34 else data[42:end]
                    self._udp(data[26:38], body, ts, data, 1, total or size - 14)
                return
        if linktype == 1:
            if len(data) < 14:
                return
            ethertype = (data[12] << 8) | data[13]
            off = 14
        elif linktype == 113:  # Linux cooked v1: packet type, ARPHRD, address length, address, protocol
            if len(data) < 16:
                return
            ethertype = (data[14] << 8) | data[15]
            off = 16
        elif linktype == 276:  # Linux cooked v2: protocol, reserved, ifindex, ARPHRD, type, length, address
            if len(data) < 20:
                return
            ethertype = (data[0] << 8) | data[1]
            off = 20
        elif linktype in (101, 12, 14, 228, 229):
            if not data:
                return
            version = data[0] >> 4
            if version == 4:
                self._ipv4(data, 0, ts, linktype)
            elif version == 6:
                self._ipv6(data, 0, ts, linktype)
            return
        elif linktype == 0 or linktype == 108:
            if len(data) < 4:
                return
            # The family is in the writer's byte order (OpenBSD loopback: always network order).
            family = data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24)
            if family > 0xFFFF:
                family = int.from_bytes(data[0:4], "big")
            if family == 2:
                self._ipv4(data, 4, ts, linktype)
            elif family in BSD_AF_INET6:
                self._ipv6(data, 4, ts, linktype)
            return
        else:
            return
        if ethertype in VLAN_TAGS:
            while ethertype in VLAN_TAGS and len(data) >= off + 4:
                ethertype = (data[off + 2] << 8) | data[off + 3]
                off += 4
        if ethertype == 0x0800:
            self._ipv4(data, off, ts, linktype)
        elif ethertype == 0x86DD:
            self._ipv6(data, off, ts, linktype)
        elif ethertype == 0x0806:
            self._arp(data, off)
        elif ethertype >= 0x0600:
            cls = self.registry.by_ethertype.get(ethertype)
            if cls is not None:
                src_mac, dst_mac = _link_macs(data, linktype)
                self._layer2(cls, ethertype, data[off:], ts, src_mac, dst_mac)
        elif data[off : off + 2] == LLC_BACNET and self.llc_bacnet is not None:
            # An 802.3 length field, then ISO 8802-2 LLC with the BACnet SAPs (BACnet/Ethernet, no IP):
            # a layer-2 flow with EtherType 0, as tshark names its conversation. The length drops padding.
            src_mac, dst_mac = _link_macs(data, linktype)
            end = off + ethertype if off + ethertype <= len(data) else len(data)
            self._layer2(self.llc_bacnet, 0, data[off:end], ts, src_mac, dst_mac)

    def _arp(self, data: bytes, off: int) -> None:
        if len(data) < off + 28 or data[off + 4] != 6 or data[off + 5] != 4:
            return
        sender_mac = mac_text(data[off + 8 : off + 14])
        sender_ip = ip4(data[off + 14 : off + 18])
        if sender_ip == "0.0.0.0":
            return
        known = self.arp.get(sender_ip)
        if known is None:
            self.arp[sender_ip] = sender_mac
        elif known != sender_mac:
            self.arp[sender_ip] = sender_mac
            from icsaudit.evidence.model import Event
            from icsaudit.ids import digest_id

            rec = self.recorder
            rec.add_event(
                Event(
                    event_id=digest_id("arp", rec.file, rec.frame, sender_ip),
                    kind="arp-conflict",
                    category="other",
                    protocol="arp",
                    function="arp",
                    client_ip=sender_ip,
                    server_ip=sender_ip,
                    detail={"ip": sender_ip, "previous_mac": known, "new_mac": sender_mac},
                    ref=rec.ref("passive:arp"),
                )
            )

    def _ipv4(self, data: bytes, off: int, ts: float, linktype: int) -> None:
        size = len(data)
        if size < off + 20:
            return
        vihl = data[off]
        ihl = (vihl & 0x0F) << 2
        if vihl >> 4 != 4 or ihl < 20:
            return
        total = (data[off + 2] << 8) | data[off + 3]
        end = off + total if total >= ihl else size  # 0: TCP segmentation offload
        if end > size:
            end = size  # snapped
        wire_len = total or size - off
        proto = data[off + 9]
        start = off + ihl
        if data[off + 6] & 0x3F or data[off + 7]:  # MF set or offset non-zero: a fragment
            frag = (data[off + 6] << 8) | data[off + 7]
            addrs = data[off + 12 : off + 20]
            payload = self._defrag(
                (addrs, data[off + 4 : off + 6], proto),
                (frag & 0x1FFF) * 8,
                bool(frag & 0x2000),
                data[start:end],
                ts,
            )
            if payload is not None:
                self._transport(proto, addrs, payload, 0, len(payload), ts, data, linktype, wire_len)
            return
        if proto == 6:
            if end - start < 20:
                return
            key = (
                data[off + 12 : start + 4]
                if ihl == 20
                else data[off + 12 : off + 20] + data[start : start + 4]
            )
            self._tcp(key, data, start, end, ts, linktype, wire_len)
        elif proto == 17:
            if end - start < 8:
                return
            key = (
                data[off + 12 : start + 4]
                if ihl == 20
                else data[off + 12 : off + 20] + data[start : start + 4]
            )
            ulen = (data[start + 4] << 8) | data[start + 5]
            if 8 <= ulen <= end - start:
                end = start + ulen
            self._udp(key, data[start + 8 : end], ts, data, linktype, wire_len)

    def _ipv6(self, data: bytes, off: int, ts: float, linktype: int) -> None:
        if len(data) < off + 40:
            return
        plen = (data[off + 4] << 8) | data[off + 5]
        nxt = data[off + 6]
        pos = off + 40
        end = min(len(data), pos + plen) if plen else len(data)  # 0: jumbogram
        wire_len = 40 + plen
        addrs = data[off + 8 : off + 40]
        while nxt in IPV6_EXTENSIONS:
            if pos + 8 > end:
                return
            length = (data[pos + 1] + 2) * 4 if nxt == 51 else (data[pos + 1] + 1) * 8
            nxt = data[pos]
            pos += length
        if nxt == IPV6_FRAGMENT:
            if pos + 8 > end:
                return
            offset_flags = (data[pos + 2] << 8) | data[pos + 3]
            ident = data[pos + 4 : pos + 8]
            nxt = data[pos]
            frame = data
            payload = self._defrag(
                (addrs, ident, nxt), offset_flags & 0xFFF8, bool(offset_flags & 1), data[pos + 8 : end], ts
            )
            if payload is None:
                return
            # Extension headers after the fragment header belong to the fragmentable part: walk them
            # only once the datagram is whole.
            data, pos, end = payload, 0, len(payload)
            while nxt in IPV6_EXTENSIONS:
                if pos + 8 > end:
                    return
                length = (data[pos + 1] + 2) * 4 if nxt == 51 else (data[pos + 1] + 1) * 8
                nxt = data[pos]
                pos += length
            if pos > end:
                return
            self._transport(nxt, addrs, data, pos, end, ts, frame, linktype, wire_len)
            return
        if pos > end:
            return
        self._transport(nxt, addrs, data, pos, end, ts, data, linktype, wire_len)

    def _transport(
        self,
        proto: int,
        addrs: bytes,
        data: bytes,
        start: int,
        end: int,
        ts: float,
        frame: bytes,
        linktype: int,
        wire_len: int,
    ) -> None:
        """TCP/UDP from an IPv6 packet or a reassembled datagram (``frame`` carries the link header)."""
        if proto == 6:
            if end - start >= 20:
                self._tcp(addrs + data[start : start + 4], data, start, end, ts, linktype, wire_len, frame)
        elif proto == 17 and end - start >= 8:
            ulen = (data[start + 4] << 8) | data[start + 5]
            if 8 <= ulen <= end - start:
                end = start + ulen
            self._udp(addrs + data[start : start + 4], data[start + 8 : end], ts, frame, linktype, wire_len)

    def _defrag(self, key: tuple, offset: int, more: bool, payload: bytes, ts: float) -> bytes | None:
        """Collect one fragment; return the whole datagram once every byte is there.

        Overlaps resolve in favour of the data that arrived first (as Linux and Windows do); a datagram
        that never completes is counted in ``ip_fragments_incomplete`` when it times out or is pushed out.
        """
        frags = self.frags
        entry = frags.get(key)
        if entry is None:
            if len(frags) >= MAX_FRAG_DATAGRAMS:
                self._drop_frag(next(iter(frags)))
            entry = frags[key] = [ts, [], None, 0]
        size = len(payload)
        if entry[3] + size > MAX_FRAG_BYTES:
            self._drop_frag(key)  # more data than any datagram can hold: not worth keeping
            return None
        entry[1].append((offset, bytes(payload)))
        entry[3] += size
        self.frag_bytes += size
        if not more:
            entry[2] = offset + size
        while self.frag_bytes > MAX_FRAG_TOTAL and frags:
            oldest = next(iter(frags))
            self._drop_frag(oldest)
            if oldest == key:
                return None
        total = entry[2]
        if total is None:
            return None
        have = 0
        for frag_offset, piece in sorted(entry[1], key=lambda item: item[0]):
            if frag_offset > have:
                return None  # hole
            have = max(have, frag_offset + len(piece))
        if have < total:
            return None
        buf = bytearray(total)
        for frag_offset, piece in reversed(entry[1]):  # first arrival written last, so it wins
            buf[frag_offset : frag_offset + len(piece)] = piece
        del frags[key]
        self.frag_bytes -= entry[3]
        return bytes(buf[:total])

    def _drop_frag(self, key: tuple) -> None:
        entry = self.frags.pop(key)
        self.frag_bytes -= entry[3]
        self.recorder.ip_fragments_incomplete += 1

    def _expire_frags(self, ts: float) -> None:
        for key in [k for k, v in self.frags.items() if ts - v[0] > FRAG_TIMEOUT]:
            self._drop_frag(key)

    # -- transport and flows -----------------------------------------------------------------
    def _orient(self, sport: int, dport: int, known_ports: set[int]) -> bool:
        """True when the sender is the client, judged by well-known ports (then lower port = server)."""
        if dport in known_ports and sport not in known_ports:
            return True
        if sport in known_ports and dport not in known_ports:
            return False
        if sport == dport:
            return True
        return dport < sport

    def _new_conn(self, key: bytes, client_is_src: bool, transport: str, frame: bytes, linktype: int) -> Conn:
        if len(self.conns) >= self.max_live_flows:
            self._evict_oldest()
        rkey = reverse_key(key)
        ckey, skey = (key, rkey) if client_is_src else (rkey, key)
        half = (len(ckey) - 4) // 2
        client_port, server_port = _PORTS.unpack_from(ckey, 2 * half)
        client = (ip_text(ckey[:half]), client_port)
        server = (ip_text(ckey[half : 2 * half]), server_port)
        conn = Conn(client, server, transport, ckey, skey)
        if frame:
            src_mac, dst_mac = _link_macs(frame, linktype)
            if src_mac:
                conn.client_mac, conn.server_mac = (
                    (mac_text(src_mac), mac_text(dst_mac))
                    if client_is_src
                    else (mac_text(dst_mac), mac_text(src_mac))
                )
        self.conns[(transport, ckey)] = conn
        index = self.tcp_index if transport == "tcp" else self.udp_index
        index[ckey] = conn
        index[skey] = conn
        if len(self.conns) > self.live_peak:
            self.live_peak = len(self.conns)
        return conn

    def _tcp(
        self,
        key: bytes,
        data: bytes,
        start: int,
        end: int,
        ts: float,
        linktype: int,
        wire_len: int,
        frame: bytes | None = None,
    ) -> None:
        seq, ack, off_flags = _seq_ack_flags(data, start + 4)
        hlen = (off_flags >> 10) & 0x3C
        if hlen < 20:
            return
        conn = self.tcp_index.get(key)
        if off_flags & 0x02:  # SYN
            if off_flags & 0x10:  # SYN-ACK
                if conn is None:
                    conn = self._new_conn(key, False, "tcp", data if frame is None else frame, linktype)
                    conn.syn_seen = True
                direction = conn.to_client if key == conn.skey else conn.to_server
                if direction.next_seq is None:  # a retransmitted SYN-ACK must not rewind the stream
                    direction.next_seq = (seq + 1) & SEQ_MASK
            else:
                if conn is not None and (conn.closed or key != conn.ckey or not _same_isn(conn, seq)):
                    self._close(conn)  # port reuse: a new connection on the same 4-tuple
                    conn = None
                if conn is None:
                    conn = self._new_conn(key, True, "tcp", data if frame is None else frame, linktype)
                    conn.syn_seen = True
                if conn.client_isn is None:
                    conn.client_isn = seq
                    conn.to_server.next_seq = (seq + 1) & SEQ_MASK
            conn.last_seen = ts
            conn.packets += 1
            conn.bytes += wire_len
            return
        if conn is None:
            sport, dport = _PORTS.unpack_from(key, len(key) - 4)
            conn = self._new_conn(
                key,
                self._orient(sport, dport, self.tcp_server_ports),
                "tcp",
                data if frame is None else frame,
                linktype,
            )
        from_client = key == conn.ckey
        conn.last_seen = ts
        conn.packets += 1
        conn.bytes += wire_len
        if from_client:
            direction, other = conn.to_server, conn.to_client
        else:
            direction, other = conn.to_client, conn.to_server
        if other.ooo and off_flags & 0x10 and other.next_seq is not None:
            # The peer acknowledges bytes the capture never had: they are lost, stop waiting for them.
            rel = (ack - other.next_seq) & SEQ_MASK
            if 0 < rel < 0x80000000:
                self._skip_gap(conn, other, not from_client)
        start += hlen
        if start < end:
            body = data[start:end]
            if seq == direction.next_seq and not direction.ooo:  # in order: the common case
                direction.next_seq = (seq + end - start) & SEQ_MASK
                dissector = conn.dissector
                if dissector is not None:
                    conn.session.from_client = from_client
                    try:
                        dissector.on_tcp(body, from_client)
                    except Exception as exc:
                        self.recorder.error(conn.session.protocol, f"dissector error: {exc!r}")
                elif not conn.decided:
                    self._deliver(conn, body, from_client)
            else:
                self._reassemble(conn, direction, seq, body, from_client)
        if off_flags & 0x04:  # RST
            conn.closed = True
        elif off_flags & 0x01:  # FIN
            (conn.to_server if from_client else conn.to_client).fin = True
            if conn.to_server.fin and conn.to_client.fin:
                conn.closed = True

    def _decide_tcp(self, conn: Conn, body: bytes, from_client: bool) -> bool:
        """Pick the connection's dissector from its port and first payload; False: not yet (held)."""
        registry = self.registry
        cls = registry.by_tcp_port.get(conn.server[1])
        if cls is None:
            cls = registry.by_tcp_port.get(conn.client[1])
        if cls is not None and body and cls.sniff is not Dissector.sniff:
            contested = self.contested_ports and (
                conn.server[1] in self.contested_ports or conn.client[1] in self.contested_ports
            )
            if contested and conn.held:
                # Sniffers see everything this direction sent so far (a TPKT header may come alone).
                body = b"".join(h[0] for h in conn.held if h[1] == from_client) + body
            # Ports lie: on a registered port, let content override when another protocol claims it.
            other = registry.sniff(body, from_client)
            if other is not None and other is not cls and not cls.sniff(body, from_client):
                cls = other
            elif (
                other is None
                and contested
                and len(conn.held or ()) < MAX_HELD
                and conn.held_bytes + len(body) <= MAX_HELD_BYTES
            ):
                return False  # nobody recognises it yet: hold it, decide on a later payload
        if cls is None:
            if not body:
                return False  # wait for payload to sniff
            cls = registry.sniff(body, from_client)
        conn.decided = True
        self._attach(conn, cls)
        return True

    def _hold(self, conn: Conn, body: bytes, from_client: bool) -> None:
        rec = self.recorder
        if conn.held is None:
            conn.held = []
        conn.held.append((body, from_client, rec.file, rec.frame, rec.ts))
        conn.held_bytes += len(body)

    def _replay(self, conn: Conn) -> None:
        """Deliver held payloads to the now chosen dissector, in order, each under its own frame (so a
        PDU it completes is counted in the frame that carried it, as tshark does)."""
        held, conn.held, conn.held_bytes = conn.held, None, 0
        dissector = conn.dissector
        if not held or dissector is None:
            return
        for body, from_client, file, frame, ts in held:
            self._deliver_own(conn, body, from_client, file, frame, ts)

    def _deliver_own(
        self, conn: Conn, body: bytes, from_client: bool, file: str, frame: int, ts: float
    ) -> None:
        """Deliver data held back (contested port, capture hole) under the packet that carried it."""
        rec = self.recorder
        saved = rec.enter_packet(file, frame, ts)
        try:
            self._deliver(conn, body, from_client)
        finally:
            rec.leave_packet(saved)

    def _attach(self, conn: Conn, cls: type[Dissector] | None, *, start: bool = True) -> None:
        """Bind the connection to its flow aggregate and, with ``start``, to a dissector instance."""
        protocol = cls.name if cls is not None else "unknown"
        agg = self.recorder.flow(conn.client[0], conn.server[0], conn.transport, conn.server[1], protocol)
        agg.connections += 1
        conn.agg = agg
        if cls is not None and start:
            ports = cls.server_ports or (cls.tcp_ports | cls.udp_ports)
            session = Session(
                self.recorder,
                protocol,
                agg,
                conn.transport,
                conn.client[0],
                conn.server[0],
                conn.client[1],
                conn.server[1],
                ports,
            )
            session.client_mac, session.server_mac = conn.client_mac, conn.server_mac
            conn.session = session
            try:
                conn.dissector = cls(session)
            except Exception as exc:  # a broken module is an error record, not a crash
                self.recorder.error(protocol, f"dissector failed to start: {exc!r}")
                conn.dissector = None

    def _reassemble(self, conn: Conn, d: _Direction, seq: int, body: bytes, from_client: bool) -> None:
        if d.next_seq is None:
            d.next_seq = seq  # stream picked up mid-way
        rel = (seq - d.next_seq) & SEQ_MASK
        if rel >= 0x80000000:
            rel -= 0x100000000
        if rel < 0:
            if rel + len(body) <= 0:
                return  # retransmission of delivered bytes
            body = body[-rel:]  # overlap: keep the new part
            rel = 0
        if rel > 0:
            held = d.ooo.get(seq)
            if held is None or len(held[0]) < len(body):
                grow = len(body) - (len(held[0]) if held is not None else 0)
                d.ooo_bytes += grow
                self.ooo_total += grow
                rec = self.recorder
                d.ooo[seq] = (body, rec.file, rec.frame, rec.ts)
            if d.ooo_bytes > MAX_OOO_BYTES or len(d.ooo) > MAX_OOO_SEGMENTS or self.ooo_total > MAX_OOO_TOTAL:
                self._skip_gap(conn, d, from_client)
            return
        self._deliver(conn, body, from_client)
        d.next_seq = (d.next_seq + len(body)) & SEQ_MASK
        if d.ooo:
            self._drain(conn, d, from_client)

    def _drain(self, conn: Conn, d: _Direction, from_client: bool) -> None:
        """Deliver held segments that the stream has now reached (trimming what was already delivered)."""
        while d.ooo:
            next_seq = d.next_seq
            seq = min(d.ooo, key=lambda s: ((s - next_seq) & SEQ_MASK) ^ 0x80000000)
            rel = (seq - next_seq) & SEQ_MASK
            if rel >= 0x80000000:
                rel -= 0x100000000
            if rel > 0:
                return
            body, file, frame, ts = d.ooo.pop(seq)
            d.ooo_bytes -= len(body)
            self.ooo_total -= len(body)
            if rel + len(body) > 0:
                part = body[-rel:] if rel < 0 else body
                self._deliver_own(conn, part, from_client, file, frame, ts)
                d.next_seq = (next_seq + len(part)) & SEQ_MASK

    def _skip_gap(self, conn: Conn, d: _Direction, from_client: bool) -> None:
        """Declare the bytes before the lowest held segment lost, tell the dissector, continue."""
        next_seq = d.next_seq
        lowest = min(d.ooo, key=lambda s: (s - next_seq) & SEQ_MASK)
        self.recorder.tcp_gaps += 1
        self.recorder.tcp_gap_bytes += (lowest - next_seq) & SEQ_MASK
        if conn.dissector is not None:
            try:
                conn.dissector.on_gap(from_client)
            except Exception as exc:
                self.recorder.error(conn.session.protocol, f"dissector error on gap: {exc!r}")
        d.next_seq = lowest
        self._drain(conn, d, from_client)

    def _deliver(self, conn: Conn, body: bytes, from_client: bool) -> None:
        dissector = conn.dissector
        if dissector is None:
            if not conn.decided:
                if not self._decide_tcp(conn, body, from_client):
                    if body:
                        self._hold(conn, body, from_client)
                    return
                if conn.held:
                    self._replay(conn)
                dissector = conn.dissector
            if dissector is None:
                return
        conn.session.from_client = from_client
        try:
            dissector.on_tcp(body, from_client)
        except Exception as exc:
            self.recorder.error(conn.session.protocol, f"dissector error: {exc!r}")

    def _udp(self, key: bytes, body: bytes, ts: float, frame: bytes, linktype: int, wire_len: int) -> None:
        conn = self.udp_index.get(key)
        if conn is None:
            sport, dport = _PORTS.unpack_from(key, len(key) - 4)
            client_is_src = self._orient(sport, dport, self.udp_server_ports)
            conn = self._new_conn(key, client_is_src, "udp", frame, linktype)
            registry = self.registry
            cls = registry.by_udp_port.get(conn.server[1]) or registry.by_udp_port.get(conn.client[1])
            if cls is None and body:
                cls = registry.sniff(body, client_is_src)
            conn.decided = True
            self._attach(conn, cls)
        conn.last_seen = ts
        conn.packets += 1
        conn.bytes += wire_len
        dissector = conn.dissector
        if dissector is None:
            return
        from_client = key == conn.ckey
        conn.session.from_client = from_client
        try:
            dissector.on_udp(body, from_client)
        except Exception as exc:
            self.recorder.error(conn.session.protocol, f"dissector error: {exc!r}")

    def _layer2(
        self, cls: type[Dissector], ethertype: int, body: bytes, ts: float, src_mac: bytes, dst_mac: bytes
    ) -> None:
        key = (src_mac, dst_mac, ethertype)
        session = self.l2.get(key)
        rec = self.recorder
        if session is None:
            src, dst = mac_text(src_mac), mac_text(dst_mac)
            # The module's flow is recorded only once the module handles a frame (see _claim_l2): an
            # EtherType carries more than one module decodes (0x8892: DCP, cyclic I/O, PTCP).
            agg = FlowAgg(src, dst, "eth", ethertype, cls.name)
            agg.flow_id = flow_id_for(src, dst, "eth", ethertype, cls.name)
            session = Session(rec, cls.name, agg, "eth", src, dst, 0, ethertype, frozenset())
            session.client_mac, session.server_mac = src, dst
            try:
                session.state["dissector"] = cls(session)
            except Exception as exc:
                rec.error(cls.name, f"dissector failed to start: {exc!r}")
                session.state["dissector"] = None
            self.l2[key] = session
        session.from_client = True
        dissector = session.state["dissector"]
        claimed = True
        if dissector is not None:
            try:
                claimed = dissector.on_frame(body) is not False
            except Exception as exc:
                rec.error(cls.name, f"dissector error: {exc!r}")
        if claimed:
            agg = session.agg
            if not agg.connections:
                rec.adopt_flow(agg)
        else:
            name = L2_UNCLAIMED.get(ethertype, "unknown")
            agg = rec.flow(session.client_ip, session.server_ip, "eth", ethertype, name)
            agg.connections = 1
        agg.packets += 1
        agg.bytes += len(body) + 14
        agg.last_seen = ts

    # -- expiry ------------------------------------------------------------------------------
    def _close(self, conn: Conn) -> None:
        rec = self.recorder
        closing, rec.closing = rec.closing, True  # what is delivered now has no packet of its own
        try:
            self._close_conn(conn)
        finally:
            rec.closing = closing

    def _close_conn(self, conn: Conn) -> None:
        self.conns.pop((conn.transport, conn.ckey), None)
        index = self.tcp_index if conn.transport == "tcp" else self.udp_index
        index.pop(conn.ckey, None)
        index.pop(conn.skey, None)
        if conn.transport == "tcp":
            for direction, from_client in ((conn.to_server, True), (conn.to_client, False)):
                while direction.ooo:
                    self._skip_gap(conn, direction, from_client)
        if conn.held:
            # Still undecided on a contested port: the port's dissector gets what was held.
            cls = self.registry.by_tcp_port.get(conn.server[1]) or self.registry.by_tcp_port.get(
                conn.client[1]
            )
            conn.decided = True
            self._attach(conn, cls)
            self._replay(conn)
        if conn.dissector is not None:
            try:
                conn.dissector.on_close()
            except Exception as exc:
                self.recorder.error(conn.session.protocol, f"dissector error on close: {exc!r}")
        if conn.agg is None:
            # No payload ever: named by its port, no dissector started (nothing to dissect).
            by_port = self.registry.by_tcp_port if conn.transport == "tcp" else self.registry.by_udp_port
            self._attach(conn, by_port.get(conn.server[1]), start=False)
        agg = conn.agg
        agg.packets += conn.packets
        agg.bytes += conn.bytes
        if conn.last_seen > agg.last_seen:
            agg.last_seen = conn.last_seen
        if conn.client_mac and not agg.client_mac:
            agg.client_mac = conn.client_mac
            agg.server_mac = conn.server_mac
        conn.dissector = None
        conn.session = None

    def _sweep(self, now: float) -> None:
        tcp_idle, udp_idle = self.idle_timeout, self.udp_idle_timeout
        expired = [
            c
            for c in self.conns.values()
            if now - c.last_seen
            > (CLOSED_TIMEOUT if c.closed else tcp_idle if c.to_server is not None else udp_idle)
        ]
        for conn in expired:
            self._close(conn)
        self.recorder.flows_expired += len(expired)
        self._expire_frags(now)

    def _evict_oldest(self) -> None:
        """The table is full: flush the least recently active tenth at once, so this runs once per
        max_live_flows/10 new connections (amortized O(log n) per new connection)."""
        self.evictions += 1
        count = max(1, len(self.conns) // EVICT_FRACTION)
        oldest = sorted(self.conns.values(), key=_last_seen)[:count]
        for conn in oldest:
            self._close(conn)
        self.recorder.flows_expired += len(oldest)

    @property
    def live_flows(self) -> int:
        return len(self.conns)

    # -- result ------------------------------------------------------------------------------
    def finish(self) -> Evidence:
        for conn in list(self.conns.values()):
            self._close(conn)
        self.recorder.closing = True
        for session in self.l2.values():
            dissector = session.state.get("dissector")
            if dissector is None:
                continue
            try:
                dissector.on_close()
            except Exception as exc:
                self.recorder.error(session.protocol, f"dissector error on close: {exc!r}")
        self.recorder.closing = False
        for key in list(self.frags):
            self._drop_frag(key)
        rec = self.recorder
        capture = Capture(
            files=sorted(self.files, key=lambda f: (f.sha256, f.path)),
            packets=self.packets,
            bytes=self.bytes,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            decode_errors=rec.decode_errors,
            decode_error_samples=rec.error_sample_list(),
            tcp_gaps=rec.tcp_gaps,
            tcp_gap_bytes=rec.tcp_gap_bytes,
            ip_fragments_incomplete=rec.ip_fragments_incomplete,
            flows_expired=rec.flows_expired,
            events_dropped=rec.events_dropped,
            identities_dropped=rec.identities_dropped,
            sources=["passive"],
            protocols=rec.protocol_stats(),
        )
        for ip, mac in self.arp.items():
            self.ip_macs.setdefault(ip, mac)
        evidence = Evidence(
            generator=f"icsaudit {__version__}",
            capture=capture,
            flows=sorted((agg.to_flow() for agg in rec.flows.values()), key=lambda f: f.flow_id),
            services=sorted(rec.services.values(), key=lambda s: s.service_id),
            identities=sorted(rec.identities.values(), key=lambda i: i.identity_id),
            events=sorted(rec.events, key=lambda e: (e.ref.ts, e.ref.file, e.ref.frame, e.event_id)),
        )
        from icsaudit.passive.inventory import build_assets

        evidence.assets = build_assets(evidence, arp=self.arp)
        return evidence


def _same_isn(conn: Conn, seq: int) -> bool:
    """Whether a SYN with ``seq`` belongs to ``conn`` (a retransmission) rather than a new connection."""
    if conn.client_isn is not None:
        return conn.client_isn == seq
    expected = conn.to_server.next_seq  # picked up mid-stream or SYN-ACK seen first
    return expected is None or expected == (seq + 1) & SEQ_MASK


def _last_seen(conn: Conn) -> float:
    return conn.last_seen


def _link_macs(frame: bytes, linktype: int) -> tuple[bytes, bytes]:
    """(source, destination) MAC of a frame, when its link header carries them."""
    if linktype == 1 and len(frame) >= 14:
        return frame[6:12], frame[0:6]
    if linktype == 113 and len(frame) >= 16 and frame[2:4] == b"\x00\x01" and frame[4:6] == b"\x00\x06":
        return frame[6:12], b""  # SLL: ARPHRD_ETHER, 6-byte source address
    if linktype == 276 and len(frame) >= 20 and frame[8:10] == b"\x00\x01" and frame[11] == 6:
        return frame[12:18], b""  # SLL2: ARPHRD at 8, address length at 11, address at 12
    return b"", b""


def _unsupported_message(link_types: set[int]) -> str:
    names = ", ".join(f"{lt} ({linktype_name(lt)})" for lt in sorted(link_types))
    return f"link type {names} is not supported"


def _unsupported_error(path: Path, link_types: set[int]) -> InputError:
    supported = sorted({linktype_name(lt) for lt in (0, 1, 101, 108, 113, 228, 229, 276)})
    return InputError(
        f"{path}: {_unsupported_message(link_types)}", hint="supported: " + ", ".join(supported)
    )


def analyze(
    paths: Iterable[str | os.PathLike[str]],
    *,
    progress: Callable[[int, int], None] | None = None,
    registry: Registry | None = None,
) -> Evidence:
    """Analyze captures into one evidence document (the library entry point behind `icsaudit analyze`)."""
    analyzer = Analyzer(registry, progress=progress)
    analyzer.analyze_files(paths)
    return analyzer.finish()


def stats_document(evidence: Evidence) -> dict:
    """``--stats-json``: per-protocol statistics in the shape of the corpus truth files."""
    capture = evidence.capture
    files = capture.files
    return {
        "files": [f.path for f in files],
        "frames": capture.packets,
        "link_types": sorted({lt for f in files for lt in f.link_types}),
        "first_ts": round(capture.first_ts, 6) if capture.first_ts is not None else None,
        "last_ts": round(capture.last_ts, 6) if capture.last_ts is not None else None,
        "protocols": {
            name: {
                "frames": s.frames,
                "pdus": s.pdus,
                "functions": s.functions,
                "conversations": [list(c) for c in s.conversations],
                "identities": s.identities,
            }
            for name, s in capture.protocols.items()
        },
        "decode_errors": capture.decode_errors,
        "tcp_gaps": capture.tcp_gaps,
    }
