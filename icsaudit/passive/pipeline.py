"""Streaming passive analysis: capture records → link/IP/TCP/UDP decode → flows → dissectors → evidence.

Hot path written by hand with struct over bytes (no scapy, no per-layer objects): this is the part
``make bench`` measures against tshark. Memory is bounded by the live flow table (idle flows expire,
reassembly buffers are capped), never by capture size.
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
from icsaudit.passive.reader import LINKTYPE_ALIASES, LINKTYPE_NAMES, linktype_name, open_capture
from icsaudit.passive.session import Recorder, Session

IDLE_TIMEOUT = 600.0  # seconds of silence before a live flow is flushed
CLOSED_TIMEOUT = 5.0  # after FIN both ways or RST
SWEEP_EVERY = 65536  # packets between expiry sweeps
MAX_LIVE_FLOWS = 500_000  # beyond this the oldest flows are flushed early
MAX_OOO_BYTES = 1 << 18  # out-of-order bytes held per direction before declaring a gap
MAX_OOO_SEGMENTS = 256
MAX_FRAG_DATAGRAMS = 4096
FRAG_TIMEOUT = 30.0

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_TCP = struct.Struct("!HHIIBB")
_UDP = struct.Struct("!HH")
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)

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


def mac_text(raw: bytes) -> str:
    return raw.hex(":")


class _Direction:
    """Reassembly state of one direction of a TCP connection."""

    __slots__ = ("next_seq", "ooo", "ooo_bytes", "fin")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.ooo: dict[int, bytes] = {}
        self.ooo_bytes = 0
        self.fin = False


class Conn:
    """A live TCP connection or UDP session."""

    __slots__ = (
        "client", "server", "transport", "session", "dissector", "last_seen", "packets", "bytes",
        "dirs", "closed", "decided", "agg", "syn_seen",
    )

    def __init__(self, client: tuple[str, int], server: tuple[str, int], transport: str) -> None:
        self.client = client
        self.server = server
        self.transport = transport
        self.session: Session | None = None
        self.dissector: Dissector | None = None
        self.last_seen = 0.0
        self.packets = 0
        self.bytes = 0
        self.dirs = (_Direction(), _Direction()) if transport == "tcp" else None
        self.closed = False
        self.decided = False
        self.agg = None
        self.syn_seen = False


class Analyzer:
    """Analyze one or more captures into one Evidence document.

    ``progress(bytes_done, bytes_total)`` is called now and then (for a progress bar).
    """

    def __init__(self, registry: Registry | None = None, *, progress: Callable[[int, int], None] | None = None,
                 idle_timeout: float = IDLE_TIMEOUT, max_live_flows: int = MAX_LIVE_FLOWS) -> None:
        self.registry = registry or default_registry()
        self.recorder = Recorder()
        self.progress = progress
        self.idle_timeout = idle_timeout
        self.max_live_flows = max_live_flows
        self.conns: dict[tuple, Conn] = {}
        self.l2: dict[tuple, Session] = {}
        self.frags: dict[tuple, list] = {}
        self.files: list[CaptureFile] = []
        self.packets = 0
        self.bytes = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.arp: dict[str, str] = {}  # ip -> mac from ARP
        self.ip_macs: dict[str, str] = {}
        self._done_bytes = 0
        self._total_bytes = 0
        self.tcp_server_ports = set(self.registry.by_tcp_port)
        self.udp_server_ports = set(self.registry.by_udp_port)

    # -- files -------------------------------------------------------------------------------
    def analyze_files(self, paths: Iterable[str | os.PathLike[str]]) -> list[CaptureFile]:
        paths = [Path(p) for p in paths]
        self._total_bytes = sum(p.stat().st_size for p in paths if p.exists())
        return [self.analyze_file(p) for p in paths]

    def analyze_file(self, path: str | os.PathLike[str]) -> CaptureFile:
        state, records = open_capture(path)
        rec = self.recorder
        rec.file = Path(path).name
        handle = self._packet
        progress = self.progress
        count = 0
        try:
            for frame, ts, linktype, data, origlen in records:
                rec.frame = frame
                rec.ts = ts
                handle(linktype, data, ts)
                count += 1
                if not count & 0x3FFF and progress is not None:
                    progress(self._done_bytes + state.bytes_read, self._total_bytes)
        except InputError:
            raise
        self._done_bytes += state.size
        unknown = sorted(lt for lt in state.link_types if LINKTYPE_ALIASES.get(lt, lt) not in LINKTYPE_NAMES)
        if unknown and len(unknown) == len(state.link_types) and state.packets:
            raise InputError(
                f"{path}: link type {', '.join(f'{lt} ({linktype_name(lt)})' for lt in unknown)} is not supported",
                hint="supported: " + ", ".join(sorted(set(LINKTYPE_NAMES.values()))),
            )
        for lt in unknown:
            state.problems.append(f"link type {lt} ({linktype_name(lt)}) is not supported: its packets were counted, not decoded")
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
            problems=state.problems,
        )
        self.files.append(info)
        self.packets += state.packets
        self.bytes += state.bytes
        if state.first_ts is not None:
            self.first_ts = state.first_ts if self.first_ts is None else min(self.first_ts, state.first_ts)
            self.last_ts = state.last_ts if self.last_ts is None else max(self.last_ts, state.last_ts)
        if progress is not None:
            progress(self._done_bytes, self._total_bytes)
        return info

    # -- decode ------------------------------------------------------------------------------
    def _packet(self, linktype: int, data: bytes, ts: float) -> None:
        self.packets_seen = getattr(self, "packets_seen", 0) + 1
        if not self.packets_seen % SWEEP_EVERY:
            self._sweep(ts)
        src_mac = dst_mac = b""
        if linktype == 1:
            if len(data) < 14:
                return
            dst_mac = data[0:6]
            src_mac = data[6:12]
            ethertype = (data[12] << 8) | data[13]
            off = 14
            while ethertype in VLAN_TAGS and len(data) >= off + 4:
                ethertype = (data[off + 2] << 8) | data[off + 3]
                off += 4
            if ethertype < 0x0600:
                return  # 802.3 length field: LLC (e.g. BACnet over 8802-2), not decoded here
        elif linktype == 0 or linktype == 108:
            if len(data) < 4:
                return
            family = data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24)
            if family > 0xFFFF:  # written big-endian
                family = int.from_bytes(data[0:4], "big")
            ethertype = 0x0800 if family == 2 else 0x86DD if family in (10, 24, 28, 30) else 0
            off = 4
        elif linktype == 113:
            if len(data) < 16:
                return
            ethertype = (data[14] << 8) | data[15]
            if data[2:4] == b"\x00\x01" and data[4:6] == b"\x00\x06":
                src_mac = data[6:12]
            off = 16
        elif linktype == 276:
            if len(data) < 20:
                return
            ethertype = (data[0] << 8) | data[1]
            if data[10:12] == b"\x00\x01" and data[11] == 6:
                src_mac = data[12:18]
            off = 20
        elif linktype in (101, 12, 14, 228, 229):
            if not data:
                return
            version = data[0] >> 4
            ethertype = 0x0800 if version == 4 else 0x86DD if version == 6 else 0
            off = 0
        else:
            return
        if ethertype == 0x0800:
            self._ipv4(data, off, ts, src_mac, dst_mac)
        elif ethertype == 0x86DD:
            self._ipv6(data, off, ts, src_mac, dst_mac)
        elif ethertype == 0x0806:
            self._arp(data, off)
        else:
            cls = self.registry.by_ethertype.get(ethertype)
            if cls is not None:
                self._layer2(cls, ethertype, data[off:], ts, src_mac, dst_mac)

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
            rec.add_event(Event(
                event_id=digest_id("arp", rec.file, rec.frame, sender_ip),
                kind="arp-conflict", category="other", protocol="arp", function="arp",
                client_ip=sender_ip, server_ip=sender_ip,
                detail={"ip": sender_ip, "previous_mac": known, "new_mac": sender_mac},
                ref=rec.ref("passive:arp"),
            ))

    def _ipv4(self, data: bytes, off: int, ts: float, src_mac: bytes, dst_mac: bytes) -> None:
        if len(data) < off + 20:
            return
        vihl = data[off]
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20:
            return
        total = (data[off + 2] << 8) | data[off + 3]
        end = off + total if total >= ihl else len(data)
        if end > len(data):
            end = len(data)  # snapped
        proto = data[off + 9]
        src = data[off + 12 : off + 16]
        dst = data[off + 16 : off + 20]
        frag = (data[off + 6] << 8) | data[off + 7]
        payload = data[off + ihl : end]
        if frag & 0x3FFF:  # MF set or offset non-zero
            payload = self._defrag((src, dst, data[off + 4 : off + 6], proto), (frag & 0x1FFF) * 8,
                                   bool(frag & 0x2000), payload, ts)
            if payload is None:
                return
        self._transport(proto, ip4(src), ip4(dst), payload, ts, src_mac, dst_mac, total or len(data) - off)

    def _ipv6(self, data: bytes, off: int, ts: float, src_mac: bytes, dst_mac: bytes) -> None:
        if len(data) < off + 40:
            return
        plen = (data[off + 4] << 8) | data[off + 5]
        nxt = data[off + 6]
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        pos = off + 40
        end = min(len(data), pos + plen) if plen else len(data)
        frag_info = None
        while nxt in (0, 43, 60, 44, 51):
            if pos + 8 > end:
                return
            if nxt == 44:
                offset_flags = (data[pos + 2] << 8) | data[pos + 3]
                frag_info = (data[pos + 4 : pos + 8], offset_flags & 0xFFF8, bool(offset_flags & 1))
                nxt = data[pos]
                pos += 8
            elif nxt == 51:  # AH: length in 4-octet units
                length = (data[pos + 1] + 2) * 4
                nxt = data[pos]
                pos += length
            else:
                length = (data[pos + 1] + 1) * 8
                nxt = data[pos]
                pos += length
        payload = data[pos:end]
        if frag_info is not None:
            ident, frag_off, more = frag_info
            payload = self._defrag((src, dst, ident, nxt), frag_off, more, payload, ts)
            if payload is None:
                return
        self._transport(nxt, ip6(src), ip6(dst), payload, ts, src_mac, dst_mac, 40 + plen)

    def _defrag(self, key: tuple, offset: int, more: bool, payload: bytes, ts: float) -> bytes | None:
        entry = self.frags.get(key)
        if entry is None:
            if len(self.frags) >= MAX_FRAG_DATAGRAMS:
                self._expire_frags(ts, force=True)
            entry = self.frags[key] = [ts, {}, None]  # first ts, {offset: bytes}, total length
        entry[1][offset] = bytes(payload)
        if not more:
            entry[2] = offset + len(payload)
        total = entry[2]
        if total is None:
            return None
        have = 0
        for frag_offset in sorted(entry[1]):
            if frag_offset > have:
                return None  # hole
            have = max(have, frag_offset + len(entry[1][frag_offset]))
        if have < total:
            return None
        buf = bytearray(total)
        for frag_offset in sorted(entry[1]):
            piece = entry[1][frag_offset]
            buf[frag_offset : frag_offset + len(piece)] = piece
        del self.frags[key]
        return bytes(buf)

    def _expire_frags(self, ts: float, force: bool = False) -> None:
        for key in [k for k, v in self.frags.items() if force or ts - v[0] > FRAG_TIMEOUT]:
            del self.frags[key]
            self.recorder.ip_fragments_incomplete += 1
            if force:
                break

    # -- transport and flows -----------------------------------------------------------------
    def _transport(self, proto: int, src: str, dst: str, payload: bytes, ts: float,
                   src_mac: bytes, dst_mac: bytes, wire_len: int) -> None:
        if proto == 6:
            if len(payload) < 20:
                return
            sport, dport, seq, _ack, offres, flags = _TCP.unpack_from(payload, 0)
            hlen = (offres >> 4) * 4
            if hlen < 20:
                return
            body = payload[hlen:]
            self._tcp(src, sport, dst, dport, seq, flags, body, ts, src_mac, dst_mac, wire_len)
        elif proto == 17:
            if len(payload) < 8:
                return
            sport, dport = _UDP.unpack_from(payload, 0)
            ulen = (payload[4] << 8) | payload[5]
            body = payload[8:ulen] if 8 <= ulen <= len(payload) else payload[8:]
            self._udp(src, sport, dst, dport, body, ts, src_mac, dst_mac, wire_len)

    def _new_conn(self, key: tuple, client: tuple[str, int], server: tuple[str, int], transport: str) -> Conn:
        if len(self.conns) >= self.max_live_flows:
            self._evict_oldest()
        conn = Conn(client, server, transport)
        self.conns[key] = conn
        return conn

    def _orient(self, src: str, sport: int, dst: str, dport: int, known_ports: set[int]) -> bool:
        """True when src is the client, judged by well-known ports (then lower port = server)."""
        if dport in known_ports and sport not in known_ports:
            return True
        if sport in known_ports and dport not in known_ports:
            return False
        if sport == dport:
            return True
        return dport < sport

    def _tcp(self, src: str, sport: int, dst: str, dport: int, seq: int, flags: int, body: bytes,
             ts: float, src_mac: bytes, dst_mac: bytes, wire_len: int) -> None:
        key = (src, sport, dst, dport) if (src, sport) < (dst, dport) else (dst, dport, src, sport)
        conn = self.conns.get(key)
        syn = flags & 0x02
        ack_flag = flags & 0x10
        if conn is not None and syn and not ack_flag and conn.closed:
            self._close(key, conn)  # port reuse: a new connection on the same 4-tuple
            conn = None
        if conn is None:
            if syn and not ack_flag:
                client_is_src = True
            elif syn and ack_flag:
                client_is_src = False
            else:
                client_is_src = self._orient(src, sport, dst, dport, self.tcp_server_ports)
            client, server = ((src, sport), (dst, dport)) if client_is_src else ((dst, dport), (src, sport))
            conn = self._new_conn(key, client, server, "tcp")
            conn.syn_seen = bool(syn)
        from_client = src == conn.client[0] and sport == conn.client[1]
        conn.last_seen = ts
        conn.packets += 1
        conn.bytes += wire_len
        if not conn.decided:
            self._decide_tcp(conn, body, from_client, src_mac, dst_mac)
        session = conn.session
        if session is not None:
            session.from_client = from_client
            if src_mac and not session.client_mac:
                if from_client:
                    session.client_mac, session.server_mac = mac_text(src_mac), mac_text(dst_mac)
                else:
                    session.server_mac, session.client_mac = mac_text(src_mac), mac_text(dst_mac)
        direction = conn.dirs[0 if from_client else 1]
        if syn:
            direction.next_seq = (seq + 1) & 0xFFFFFFFF
            direction.ooo.clear()
            direction.ooo_bytes = 0
        elif body:
            self._reassemble(conn, direction, seq, body, from_client)
        if flags & 0x04:  # RST
            conn.closed = True
        elif flags & 0x01:
            direction.fin = True
            if conn.dirs[0].fin and conn.dirs[1].fin:
                conn.closed = True

    def _decide_tcp(self, conn: Conn, body: bytes, from_client: bool, src_mac: bytes, dst_mac: bytes) -> None:
        cls = self.registry.by_tcp_port.get(conn.server[1])
        if cls is None:
            cls = self.registry.by_tcp_port.get(conn.client[1])
        if cls is not None and body and cls.sniff is not Dissector.sniff:
            # Ports lie: on a registered port, let content override when another protocol claims it.
            other = self.registry.sniff(body, from_client)
            if other is not None and other is not cls and not cls.sniff(body, from_client):
                cls = other
        if cls is None:
            if not body:
                return  # wait for payload to sniff
            cls = self.registry.sniff(body, from_client)
        conn.decided = True
        self._attach(conn, cls)

    def _attach(self, conn: Conn, cls: type[Dissector] | None) -> None:
        protocol = cls.name if cls is not None else "unknown"
        agg = self.recorder.flow(conn.client[0], conn.server[0], conn.transport, conn.server[1], protocol)
        agg.connections += 1
        conn.agg = agg
        if cls is not None:
            ports = cls.server_ports or (cls.tcp_ports | cls.udp_ports)
            session = Session(self.recorder, protocol, agg, conn.transport, conn.client[0], conn.server[0],
                              conn.client[1], conn.server[1], ports)
            conn.session = session
            try:
                conn.dissector = cls(session)
            except Exception as exc:  # a broken module is an error record, not a crash
                self.recorder.error(protocol, f"dissector failed to start: {exc!r}")
                conn.dissector = None

    def _reassemble(self, conn: Conn, d: _Direction, seq: int, body: bytes, from_client: bool) -> None:
        if d.next_seq is None:
            d.next_seq = seq  # stream picked up mid-way
        rel = (seq - d.next_seq) & 0xFFFFFFFF
        if rel >= 0x80000000:
            rel -= 0x100000000
        if rel < 0:
            if rel + len(body) <= 0:
                return  # retransmission of delivered bytes
            body = body[-rel:]  # overlap: keep the new part
            rel = 0
        if rel > 0:
            if seq not in d.ooo or len(d.ooo[seq]) < len(body):
                d.ooo_bytes += len(body) - len(d.ooo.get(seq, b""))
                d.ooo[seq] = body
            if d.ooo_bytes > MAX_OOO_BYTES or len(d.ooo) > MAX_OOO_SEGMENTS:
                self._skip_gap(conn, d, from_client)
            return
        self._deliver(conn, body, from_client)
        d.next_seq = (d.next_seq + len(body)) & 0xFFFFFFFF
        if d.ooo:
            self._drain(conn, d, from_client)

    def _drain(self, conn: Conn, d: _Direction, from_client: bool) -> None:
        progressed = True
        while d.ooo and progressed:
            progressed = False
            for seq in list(d.ooo):
                rel = (seq - d.next_seq) & 0xFFFFFFFF
                if rel >= 0x80000000:
                    rel -= 0x100000000
                if rel > 0:
                    continue
                body = d.ooo.pop(seq)
                d.ooo_bytes -= len(body)
                if rel + len(body) > 0:
                    part = body[-rel:] if rel < 0 else body
                    self._deliver(conn, part, from_client)
                    d.next_seq = (d.next_seq + len(part)) & 0xFFFFFFFF
                progressed = True

    def _skip_gap(self, conn: Conn, d: _Direction, from_client: bool) -> None:
        """Declare the bytes before the lowest held segment lost, tell the dissector, continue."""
        def distance(seq: int) -> int:
            return (seq - d.next_seq) & 0xFFFFFFFF

        lowest = min(d.ooo, key=distance)
        self.recorder.tcp_gaps += 1
        self.recorder.tcp_gap_bytes += distance(lowest)
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
                self._decide_tcp(conn, body, from_client, b"", b"")
                dissector = conn.dissector
            if dissector is None:
                return
        conn.session.from_client = from_client
        try:
            dissector.on_tcp(body, from_client)
        except Exception as exc:
            self.recorder.error(conn.session.protocol, f"dissector error: {exc!r}")

    def _udp(self, src: str, sport: int, dst: str, dport: int, body: bytes, ts: float,
             src_mac: bytes, dst_mac: bytes, wire_len: int) -> None:
        key = (src, sport, dst, dport, 17) if (src, sport) < (dst, dport) else (dst, dport, src, sport, 17)
        conn = self.conns.get(key)
        if conn is None:
            client_is_src = self._orient(src, sport, dst, dport, self.udp_server_ports)
            client, server = ((src, sport), (dst, dport)) if client_is_src else ((dst, dport), (src, sport))
            conn = self._new_conn(key, client, server, "udp")
            cls = self.registry.by_udp_port.get(server[1]) or self.registry.by_udp_port.get(client[1])
            if cls is None and body:
                cls = self.registry.sniff(body, client_is_src)
            conn.decided = True
            self._attach(conn, cls)
        from_client = src == conn.client[0] and sport == conn.client[1]
        conn.last_seen = ts
        conn.packets += 1
        conn.bytes += wire_len
        session = conn.session
        if session is None:
            return
        session.from_client = from_client
        if src_mac and not session.client_mac:
            if from_client:
                session.client_mac, session.server_mac = mac_text(src_mac), mac_text(dst_mac)
            else:
                session.server_mac, session.client_mac = mac_text(src_mac), mac_text(dst_mac)
        try:
            conn.dissector.on_udp(body, from_client)
        except Exception as exc:
            self.recorder.error(session.protocol, f"dissector error: {exc!r}")

    def _layer2(self, cls: type[Dissector], ethertype: int, body: bytes, ts: float,
                src_mac: bytes, dst_mac: bytes) -> None:
        src, dst = mac_text(src_mac), mac_text(dst_mac)
        key = (src, dst, ethertype)
        session = self.l2.get(key)
        rec = self.recorder
        if session is None:
            agg = rec.flow(src, dst, "eth", ethertype, cls.name)
            agg.connections += 1
            session = Session(rec, cls.name, agg, "eth", src, dst, 0, ethertype, frozenset())
            session.client_mac, session.server_mac = src, dst
            session.state["dissector"] = cls(session)
            self.l2[key] = session
        agg = session.agg
        agg.packets += 1
        agg.bytes += len(body) + 14
        agg.last_seen = ts
        session.from_client = True
        try:
            session.state["dissector"].on_frame(body)
        except Exception as exc:
            rec.error(cls.name, f"dissector error: {exc!r}")

    # -- expiry ------------------------------------------------------------------------------
    def _close(self, key: tuple, conn: Conn) -> None:
        self.conns.pop(key, None)
        d = conn.dirs
        if d is not None:
            for index, direction in enumerate(d):
                if direction.ooo:
                    self._skip_gap(conn, direction, index == 0)
        if conn.dissector is not None:
            try:
                conn.dissector.on_close()
            except Exception as exc:
                self.recorder.error(conn.session.protocol, f"dissector error on close: {exc!r}")
        if conn.agg is None:
            self._attach(conn, None if conn.server[1] not in self.registry.by_tcp_port
                         else self.registry.by_tcp_port[conn.server[1]])
            if conn.dissector is not None:
                conn.dissector = None
        agg = conn.agg
        agg.packets += conn.packets
        agg.bytes += conn.bytes
        if conn.last_seen > agg.last_seen:
            agg.last_seen = conn.last_seen
        if conn.session is not None and conn.session.client_mac and not agg.client_mac:
            agg.client_mac = conn.session.client_mac
            agg.server_mac = conn.session.server_mac

    def _sweep(self, now: float) -> None:
        expired = [
            (k, c) for k, c in self.conns.items()
            if now - c.last_seen > (CLOSED_TIMEOUT if c.closed else self.idle_timeout)
        ]
        for key, conn in expired:
            self._close(key, conn)
            self.recorder.flows_expired += 1
        self._expire_frags(now)

    def _evict_oldest(self) -> None:
        oldest = sorted(self.conns.items(), key=lambda kv: kv[1].last_seen)[: max(1, len(self.conns) // 10)]
        for key, conn in oldest:
            self._close(key, conn)
            self.recorder.flows_expired += 1

    # -- result ------------------------------------------------------------------------------
    def finish(self) -> Evidence:
        for key, conn in list(self.conns.items()):
            self._close(key, conn)
        for session in self.l2.values():
            try:
                session.state["dissector"].on_close()
            except Exception as exc:
                self.recorder.error(session.protocol, f"dissector error on close: {exc!r}")
        self._expire_frags(float("inf"))
        rec = self.recorder
        capture = Capture(
            files=sorted(self.files, key=lambda f: (f.sha256, f.path)),
            packets=self.packets,
            bytes=self.bytes,
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            decode_errors=rec.decode_errors,
            decode_error_samples=rec.error_samples,
            tcp_gaps=rec.tcp_gaps,
            tcp_gap_bytes=rec.tcp_gap_bytes,
            ip_fragments_incomplete=rec.ip_fragments_incomplete,
            flows_expired=rec.flows_expired,
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


def analyze(paths: Iterable[str | os.PathLike[str]], *, progress: Callable[[int, int], None] | None = None) -> Evidence:
    """Analyze captures into one evidence document (the library entry point behind `icsaudit analyze`)."""
    analyzer = Analyzer(progress=progress)
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
