"""Link/IP/TCP/UDP decode, defragmentation, TCP reassembly and the flow table, observed through a tiny
test dissector registered in its own Registry: the tests see exactly the byte stream delivered."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icsaudit.evidence.model import Evidence
from icsaudit.passive import pipeline
from icsaudit.passive.pipeline import Analyzer
from icsaudit.passive.protocols import Registry
from icsaudit.passive.protocols.base import Dissector
from tests.data.craft import (
    ACK,
    ETH_IPV6,
    FIN,
    PSH,
    RST,
    SYN,
    Pcapng,
    ether,
    ipv4,
    ipv6,
    ipv6_fragment,
    ipv6_options,
    null_loopback,
    pcap,
    sll,
    sll2,
    tcp,
    udp,
)

TCP_PORT, UDP_PORT, ETHERTYPE = 5020, 5021, 0x88B8
CLIENT, SERVER = "10.1.1.10", "10.1.1.20"
CLIENT6, SERVER6 = "2001:db8::10", "2001:db8::20"


class Probe(Dissector):
    """Records every call the core makes, in order."""

    name = "probe"
    tcp_ports = frozenset({TCP_PORT})
    udp_ports = frozenset({UDP_PORT})
    ethertypes = frozenset({ETHERTYPE})
    instances: ClassVar[list[Probe]] = []

    def __init__(self, session) -> None:
        super().__init__(session)
        self.calls: list[tuple] = []
        Probe.instances.append(self)

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        assert isinstance(data, bytes)
        self.calls.append(("tcp", from_client, data, self.session.frame))

    def on_gap(self, from_client: bool) -> None:
        self.calls.append(("gap", from_client))

    def on_udp(self, data: bytes, from_client: bool) -> None:
        self.calls.append(("udp", from_client, data, self.session.src_ip))

    def on_frame(self, data: bytes) -> None:
        self.calls.append(("frame", data))

    def on_close(self) -> None:
        self.calls.append(("close",))

    def stream(self, from_client: bool = True) -> bytes:
        return b"".join(c[2] for c in self.calls if c[0] == "tcp" and c[1] == from_client)

    def gaps(self) -> list[tuple]:
        return [c for c in self.calls if c[0] == "gap"]


@pytest.fixture(autouse=True)
def _fresh_probe():
    Probe.instances = []
    yield


def run(tmp_path: Path, frames: list[bytes], linktype: int = 1, **options) -> tuple[Analyzer, Evidence]:
    path = tmp_path / "t.pcap"
    path.write_bytes(pcap([(1000.0 + i * 0.001, f) for i, f in enumerate(frames)], linktype=linktype))
    analyzer = Analyzer(Registry([Probe]), **options)
    analyzer.analyze_file(path)
    return analyzer, analyzer.finish()


def eth_tcp(
    seq: int,
    payload: bytes = b"",
    flags: int = ACK | PSH,
    *,
    to_server: bool = True,
    ack: int = 0,
    sport: int = 40000,
) -> bytes:
    if to_server:
        return ether(ipv4(CLIENT, SERVER, 6, tcp(sport, TCP_PORT, seq, payload, ack=ack, flags=flags)))
    return ether(ipv4(SERVER, CLIENT, 6, tcp(TCP_PORT, sport, seq, payload, ack=ack, flags=flags)))


def handshake(c_isn: int = 1000, s_isn: int = 5000, sport: int = 40000) -> list[bytes]:
    return [
        eth_tcp(c_isn, flags=SYN, sport=sport),
        eth_tcp(s_isn, flags=SYN | ACK, to_server=False, ack=c_isn + 1, sport=sport),
        eth_tcp(c_isn + 1, flags=ACK, ack=s_isn + 1, sport=sport),
    ]


# -- link layers ------------------------------------------------------------------------------
UDP4 = ipv4(CLIENT, SERVER, 17, udp(40001, UDP_PORT, b"hello-v4"))
UDP6 = ipv6(CLIENT6, SERVER6, 17, udp(40001, UDP_PORT, b"hello-v6"))


@pytest.mark.parametrize(
    ("linktype", "frame", "payload"),
    [
        (1, ether(UDP4), b"hello-v4"),
        (1, ether(UDP6, ETH_IPV6), b"hello-v6"),
        (1, ether(UDP4, vlans=[(0x8100, 10)]), b"hello-v4"),
        (1, ether(UDP4, vlans=[(0x88A8, 100), (0x8100, 10)]), b"hello-v4"),  # QinQ
        (113, sll(UDP4), b"hello-v4"),
        (113, sll(UDP6, ETH_IPV6), b"hello-v6"),
        (276, sll2(UDP4), b"hello-v4"),
        (101, UDP4, b"hello-v4"),
        (101, UDP6, b"hello-v6"),
        (228, UDP4, b"hello-v4"),
        (229, UDP6, b"hello-v6"),
        (0, null_loopback(UDP4, 2, "<"), b"hello-v4"),
        (0, null_loopback(UDP4, 2, ">"), b"hello-v4"),
        (0, null_loopback(UDP6, 30, "<"), b"hello-v6"),
        (0, null_loopback(UDP6, 24, ">"), b"hello-v6"),
        (108, null_loopback(UDP4, 2, ">"), b"hello-v4"),
    ],
    ids=[
        "eth4",
        "eth6",
        "dot1q",
        "qinq",
        "sll4",
        "sll6",
        "sll2",
        "raw4",
        "raw6",
        "ipv4",
        "ipv6",
        "null-le",
        "null-be",
        "null6-le",
        "null6-be",
        "openbsd",
    ],
)
def test_link_types_deliver_udp(tmp_path: Path, linktype: int, frame: bytes, payload: bytes) -> None:
    _analyzer, evidence = run(tmp_path, [frame], linktype)
    [probe] = Probe.instances
    assert probe.calls[0][:3] == ("udp", True, payload)
    [flow] = evidence.flows
    assert flow.protocol == "probe" and flow.server_port == UDP_PORT and flow.transport == "udp"
    assert flow.client_ip in (CLIENT, CLIENT6) and flow.server_ip in (SERVER, SERVER6)


def test_link_layer_macs_reach_the_flow(tmp_path: Path) -> None:
    _a, evidence = run(tmp_path, [ether(UDP4, src="00:1b:1b:00:00:01", dst="00:80:f4:00:00:02")])
    assert (evidence.flows[0].client_mac, evidence.flows[0].server_mac) == (
        "00:1b:1b:00:00:01",
        "00:80:f4:00:00:02",
    )
    _a, evidence = run(tmp_path, [sll2(UDP4, src="00:1b:1b:00:00:09")], 276)
    assert evidence.flows[0].client_mac == "00:1b:1b:00:00:09"


def test_layer2_ethertype_dispatch(tmp_path: Path) -> None:
    _a, evidence = run(tmp_path, [ether(b"goose-like", ETHERTYPE), ether(b"second", ETHERTYPE)])
    [probe] = Probe.instances
    assert probe.calls[:2] == [("frame", b"goose-like"), ("frame", b"second")]
    [flow] = evidence.flows
    assert flow.transport == "eth" and flow.server_port == ETHERTYPE and flow.packets == 2


def test_ipv4_options_and_ipv6_extension_headers(tmp_path: Path) -> None:
    with_options = ipv4(CLIENT, SERVER, 17, udp(40001, UDP_PORT, b"opts"), options=b"\x01\x01\x01\x00")
    extensions = ipv6(
        CLIENT6,
        SERVER6,
        17,
        udp(40001, UDP_PORT, b"ext"),
        extensions=[(0, ipv6_options()), (60, ipv6_options(1))],
    )
    run(tmp_path, [ether(with_options), ether(extensions, ETH_IPV6)])
    assert [p.calls[0][2] for p in Probe.instances] == [b"opts", b"ext"]


def test_pcapng_interfaces_of_different_link_types(tmp_path: Path) -> None:
    ng = Pcapng().section().interface(1).interface(101, tsresol=9)
    ng.epb(0, 1_000_000, ether(UDP4)).epb(1, 2_000_000_000, UDP6)
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(ng.bytes())
    analyzer = Analyzer(Registry([Probe]))
    info = analyzer.analyze_file(path)
    assert info.link_types == ["ethernet", "raw_ip"]
    assert [p.calls[0][2] for p in Probe.instances] == [b"hello-v4", b"hello-v6"]


# -- fragments --------------------------------------------------------------------------------
def _v4_fragments(payload: bytes, ident: int, cuts: list[int]) -> list[bytes]:
    """IPv4 fragments of a UDP datagram cut at byte offsets (multiples of 8), in order."""
    datagram = udp(40001, UDP_PORT, payload)
    bounds = [0, *cuts, len(datagram)]
    frames = []
    for i in range(len(bounds) - 1):
        more = 0x2000 if i < len(bounds) - 2 else 0
        frames.append(
            ether(
                ipv4(
                    CLIENT,
                    SERVER,
                    17,
                    datagram[bounds[i] : bounds[i + 1]],
                    ident=ident,
                    flags=more,
                    frag_offset=bounds[i],
                )
            )
        )
    return frames


def test_ipv4_fragments_out_of_order_and_duplicated(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 3
    a, b, c, d = _v4_fragments(payload, 7, [64, 256, 512])
    run(tmp_path, [c, a, d, a, b])
    [probe] = Probe.instances
    assert probe.calls[0][2] == payload


def test_ipv4_overlapping_fragments_first_arrival_wins(tmp_path: Path) -> None:
    datagram = udp(40001, UDP_PORT, b"A" * 40)  # 48 bytes
    first = ether(ipv4(CLIENT, SERVER, 17, datagram[:32], ident=9, flags=0x2000))
    overlap = ether(ipv4(CLIENT, SERVER, 17, b"Z" * 16, ident=9, flags=0x2000, frag_offset=16))
    last = ether(ipv4(CLIENT, SERVER, 17, datagram[24:], ident=9, frag_offset=24))
    run(tmp_path, [first, overlap, last])
    assert Probe.instances[0].calls[0][2] == b"A" * 40


def test_incomplete_fragments_are_counted(tmp_path: Path) -> None:
    a, _b, c = _v4_fragments(b"x" * 300, 11, [64, 200])
    analyzer, evidence = run(tmp_path, [a, c])
    assert Probe.instances == []
    assert evidence.capture.ip_fragments_incomplete == 1
    assert analyzer.frags == {} and analyzer.frag_bytes == 0


def test_fragment_table_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "MAX_FRAG_DATAGRAMS", 8)
    frames = [_v4_fragments(b"y" * 100, ident, [64])[0] for ident in range(50)]
    path = tmp_path / "frags.pcap"
    path.write_bytes(pcap([(float(i), f) for i, f in enumerate(frames)]))
    analyzer = Analyzer(Registry([Probe]))
    analyzer.analyze_file(path)
    assert len(analyzer.frags) == 8
    assert analyzer.recorder.ip_fragments_incomplete == 42
    assert analyzer.finish().capture.ip_fragments_incomplete == 50


def test_ipv6_fragments_with_extension_header_in_fragmentable_part(tmp_path: Path) -> None:
    inner = bytes([17]) + ipv6_options() + udp(40001, UDP_PORT, b"v6-frag-" * 20)  # dest options, then UDP
    first, second = inner[:80], inner[80:]
    frag1 = ipv6(CLIENT6, SERVER6, 60, first, extensions=[(44, ipv6_fragment(0, True, 77))])
    frag2 = ipv6(CLIENT6, SERVER6, 60, second, extensions=[(44, ipv6_fragment(80, False, 77))])
    run(tmp_path, [ether(frag2, ETH_IPV6), ether(frag1, ETH_IPV6)])
    assert Probe.instances[0].calls[0][2] == b"v6-frag-" * 20


# -- TCP --------------------------------------------------------------------------------------
def test_tcp_in_order_both_directions_and_close(tmp_path: Path) -> None:
    frames = handshake() + [
        eth_tcp(1001, b"request-1"),
        eth_tcp(5001, b"response-1", to_server=False),
        eth_tcp(1010, b"request-2"),
        eth_tcp(1019, flags=FIN | ACK),
        eth_tcp(5011, flags=FIN | ACK, to_server=False),
    ]
    _a, evidence = run(tmp_path, frames)
    [probe] = Probe.instances
    assert probe.stream(True) == b"request-1request-2"
    assert probe.stream(False) == b"response-1"
    assert probe.calls[-1] == ("close",)
    [flow] = evidence.flows
    assert (flow.client_ip, flow.server_ip, flow.server_port, flow.connections, flow.packets) == (
        CLIENT,
        SERVER,
        TCP_PORT,
        1,
        8,
    )
    assert evidence.capture.tcp_gaps == 0


def test_tcp_out_of_order_retransmission_and_overlap(tmp_path: Path) -> None:
    frames = handshake() + [
        eth_tcp(1001, b"AAAA"),
        eth_tcp(1009, b"CCCC"),  # ahead of a hole
        eth_tcp(1005, b"BBBB"),  # fills it: BBBB then CCCC delivered
        eth_tcp(1001, b"AAAA"),  # pure retransmission: nothing new
        eth_tcp(1011, b"CCDDDD"),  # overlaps 2 delivered bytes: only DDDD is new
        eth_tcp(1021, b"FFFF"),  # ahead
        eth_tcp(1019, b"EEFF"),  # ahead too, overlapping the held segment
        eth_tcp(1015, b"DDEEEE"),  # fills the hole, overlapping delivered bytes: both held ones drain
    ]
    _a, evidence = run(tmp_path, frames)
    [probe] = Probe.instances
    assert probe.stream() == b"AAAABBBBCCCCDDDDEEEEFFFF"
    assert probe.gaps() == [] and evidence.capture.tcp_gaps == 0


def test_tcp_missing_segment_is_a_gap_at_close(tmp_path: Path) -> None:
    frames = handshake() + [eth_tcp(1001, b"AAAA"), eth_tcp(1009, b"CCCC"), eth_tcp(1013, flags=FIN | ACK)]
    analyzer, evidence = run(tmp_path, frames)
    [probe] = Probe.instances
    # CCCC is delivered at close, but under frame 5, the packet that carried it.
    assert probe.calls == [("tcp", True, b"AAAA", 4), ("gap", True), ("tcp", True, b"CCCC", 5), ("close",)]
    assert evidence.capture.tcp_gaps == 1 and evidence.capture.tcp_gap_bytes == 4
    assert analyzer.ooo_total == 0


def test_tcp_missing_segment_acknowledged_by_peer_is_a_gap_at_once(tmp_path: Path) -> None:
    frames = handshake() + [
        eth_tcp(1001, b"AAAA"),
        eth_tcp(1009, b"CCCC"),  # 1005..1008 never captured
        eth_tcp(5001, b"reply", to_server=False, ack=1013),  # the server got it all
        eth_tcp(1013, b"DDDD"),
    ]
    _a, evidence = run(tmp_path, frames)
    [probe] = Probe.instances
    assert probe.calls[:4] == [
        ("tcp", True, b"AAAA", 4),
        ("gap", True),
        ("tcp", True, b"CCCC", 5),
        ("tcp", False, b"reply", 6),
    ]
    assert probe.stream(True) == b"AAAACCCCDDDD"
    assert evidence.capture.tcp_gaps == 1


class PduProbe(Probe):
    """A Probe that also counts each TCP payload as one PDU and reports it as an event."""

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        super().on_tcp(data, from_client)
        self.session.pdu(data.decode(), "read")
        self.session.event("probe", "read", data.decode())


def test_segment_after_a_hole_reports_its_own_frame(tmp_path: Path) -> None:
    frames = handshake() + [
        eth_tcp(1001, b"AAAA"),  # frame 4
        eth_tcp(1009, b"CCCC"),  # frame 5: 1005..1008 never captured, held
        eth_tcp(1013, b"DDDD"),  # frame 6: held behind the same hole
        eth_tcp(5001, b"reply", to_server=False, ack=1017),  # frame 7: the gap is declared here
    ]
    path = tmp_path / "t.pcap"
    path.write_bytes(pcap([(1000.0 + i, f) for i, f in enumerate(frames)]))
    analyzer = Analyzer(Registry([PduProbe]))
    analyzer.analyze_file(path)
    evidence = analyzer.finish()
    [probe] = Probe.instances
    assert [c for c in probe.calls if c[0] == "tcp"] == [
        ("tcp", True, b"AAAA", 4),
        ("tcp", True, b"CCCC", 5),
        ("tcp", True, b"DDDD", 6),
        ("tcp", False, b"reply", 7),
    ]
    stats = evidence.capture.protocols["probe"]
    assert (stats.pdus, stats.frames) == (4, 4)  # one PDU per frame, none merged into frame 7
    refs = {e.function: (e.ref.frame, e.ref.ts) for e in evidence.events}
    assert refs == {"AAAA": (4, 1003.0), "CCCC": (5, 1004.0), "DDDD": (6, 1005.0), "reply": (7, 1006.0)}
    assert len({e.event_id for e in evidence.events}) == 4


def test_tcp_port_reuse_opens_a_new_connection(tmp_path: Path) -> None:
    first = handshake(1000, 5000) + [
        eth_tcp(1001, b"one"),
        eth_tcp(1004, flags=FIN | ACK),
        eth_tcp(5001, flags=FIN | ACK, to_server=False),
    ]
    second = handshake(90000, 70000) + [eth_tcp(90001, b"two"), eth_tcp(90004, flags=RST)]
    _a, evidence = run(tmp_path, first + second)
    assert [p.stream() for p in Probe.instances] == [b"one", b"two"]
    [flow] = evidence.flows
    assert flow.connections == 2


def test_tcp_new_syn_without_close_is_a_new_connection_but_retransmitted_syn_is_not(tmp_path: Path) -> None:
    frames = (
        [eth_tcp(1000, flags=SYN), eth_tcp(1000, flags=SYN)] + handshake(1000)[1:] + [eth_tcp(1001, b"x")]
    )
    frames += handshake(777_777) + [eth_tcp(777_778, b"y")]
    run(tmp_path, frames)
    assert [p.stream() for p in Probe.instances] == [b"x", b"y"]


def test_tcp_mid_stream_pickup(tmp_path: Path) -> None:
    frames = [
        eth_tcp(123456, b"middle-"),
        eth_tcp(99, b"answer", to_server=False),
        eth_tcp(123463, b"of-stream"),
    ]
    _a, evidence = run(tmp_path, frames)
    [probe] = Probe.instances
    assert probe.stream(True) == b"middle-of-stream" and probe.stream(False) == b"answer"
    assert evidence.flows[0].client_ip == CLIENT  # oriented by the registered server port


def test_tcp_sequence_wrap_around(tmp_path: Path) -> None:
    isn = 0xFFFFFFF0
    frames = handshake(isn) + [
        eth_tcp(isn + 1, b"0123456789"),  # crosses 2^32
        eth_tcp((isn + 21) & 0xFFFFFFFF, b"KLMN"),  # out of order, after the wrap
        eth_tcp((isn + 11) & 0xFFFFFFFF, b"abcdefghij"),
    ]
    _a, evidence = run(tmp_path, frames)
    assert Probe.instances[0].stream() == b"0123456789abcdefghijKLMN"
    assert evidence.capture.tcp_gaps == 0


def test_tcp_retransmitted_syn_ack_does_not_rewind_the_stream(tmp_path: Path) -> None:
    frames = handshake() + [
        eth_tcp(5001, b"hello", to_server=False),
        eth_tcp(5000, flags=SYN | ACK, to_server=False, ack=1001),
        eth_tcp(5006, b"world", to_server=False),
    ]
    run(tmp_path, frames)
    assert Probe.instances[0].stream(False) == b"helloworld"


def test_udp_orientation_and_direction(tmp_path: Path) -> None:
    frames = [
        ether(ipv4(SERVER, CLIENT, 17, udp(UDP_PORT, 40001, b"reply-first"))),
        ether(ipv4(CLIENT, SERVER, 17, udp(40001, UDP_PORT, b"request"))),
    ]
    _a, evidence = run(tmp_path, frames)
    [probe] = Probe.instances
    assert probe.calls[:2] == [("udp", False, b"reply-first", SERVER), ("udp", True, b"request", CLIENT)]
    assert (evidence.flows[0].client_ip, evidence.flows[0].packets) == (CLIENT, 2)


def test_udp_length_field_trims_padding(tmp_path: Path) -> None:
    datagram = udp(40001, UDP_PORT, b"abc") + b"\x00" * 10  # Ethernet padding after the datagram
    run(tmp_path, [ether(ipv4(CLIENT, SERVER, 17, datagram, total=20 + 11))])
    assert Probe.instances[0].calls[0][2] == b"abc"


# -- bounded memory ---------------------------------------------------------------------------
def _many_flows(count: int, spacing: float = 0.001) -> list[tuple[float, bytes]]:
    records = []
    for i in range(count):
        client = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        records.append((i * spacing, ether(ipv4(client, SERVER, 17, udp(30000 + i % 1000, UDP_PORT, b"q")))))
    return records


def test_live_flow_table_is_bounded_and_eviction_is_rare(tmp_path: Path) -> None:
    path = tmp_path / "many.pcap"
    path.write_bytes(pcap(_many_flows(5000)))
    analyzer = Analyzer(Registry([Probe]), max_live_flows=200)
    analyzer.analyze_file(path)
    assert analyzer.live_peak <= 200
    # Each burst frees a tenth of the table: (5000 - 200) / 20 bursts, not one per new flow.
    assert analyzer.evictions <= (5000 - 200) // 20 + 1
    evidence = analyzer.finish()
    assert len(evidence.flows) == 5000  # flushed early, never lost
    assert sum(f.packets for f in evidence.flows) == 5000
    assert len(Probe.instances) == 5000 and all(p.calls[-1] == ("close",) for p in Probe.instances)


def test_idle_flows_expire(tmp_path: Path) -> None:
    path = tmp_path / "idle.pcap"
    path.write_bytes(pcap(_many_flows(2000, spacing=1.0)))  # one new flow per second
    analyzer = Analyzer(Registry([Probe]), idle_timeout=30.0, sweep_every=50)
    analyzer.analyze_file(path)
    assert analyzer.live_peak <= 30 + 50 + 1  # idle window + one sweep interval
    assert analyzer.recorder.flows_expired >= 2000 - 81
    assert len(analyzer.finish().flows) == 2000


class Counting(Dissector):
    """Keeps nothing but a byte count, so any growth is the core's."""

    name = "counting"
    tcp_ports = frozenset({TCP_PORT})
    total = 0

    def on_tcp(self, data: bytes, from_client: bool) -> None:
        Counting.total += len(data)


def test_endless_tcp_stream_does_not_accumulate_memory(tmp_path: Path) -> None:
    segment = b"s" * 200
    frames = handshake()
    seq = 1001
    for i in range(8000):
        if i % 1000 == 500:
            seq += 200  # a lost segment now and then: held data must be released, not kept
            continue
        frames.append(eth_tcp(seq, segment))
        seq += 200
    path = tmp_path / "endless.pcap"
    path.write_bytes(pcap([(float(i) * 1e-3, f) for i, f in enumerate(frames)]))
    Counting.total = 0
    analyzer = Analyzer(Registry([Counting]))
    state_probe: list[int] = []
    original = analyzer._packet

    def sample(linktype: int, data: bytes, ts: float) -> None:
        original(linktype, data, ts)
        if analyzer.recorder.frame in (2000, 7500):
            state_probe.append(tracemalloc.get_traced_memory()[0])

    analyzer._packet = sample  # type: ignore[method-assign]
    tracemalloc.start()
    try:
        analyzer.analyze_file(path)
    finally:
        tracemalloc.stop()
    conn = next(iter(analyzer.conns.values()))
    assert analyzer.ooo_total <= pipeline.MAX_OOO_BYTES
    assert (
        conn.to_server.ooo_bytes <= pipeline.MAX_OOO_BYTES
        and len(conn.to_server.ooo) <= pipeline.MAX_OOO_SEGMENTS
    )
    assert analyzer.recorder.tcp_gaps >= 6  # each lost segment became a gap once the cap was hit
    growth = state_probe[1] - state_probe[0]
    assert growth < 2 * pipeline.MAX_OOO_BYTES, f"memory grew by {growth} bytes over 5500 segments"
    analyzer.finish()
    assert Counting.total == (8000 - 8) * 200


def test_out_of_order_buffer_cap_declares_a_gap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "MAX_OOO_BYTES", 1000)
    frames = handshake() + [eth_tcp(1001, b"a" * 100)]
    frames += [eth_tcp(1101 + 100 + i * 100, b"z" * 100) for i in range(15)]  # 1101..1200 lost, no ACK seen
    declared_at: list[int] = []
    skip_gap = Analyzer._skip_gap

    def spy(self, *args):
        declared_at.append(self.recorder.frame)
        skip_gap(self, *args)

    monkeypatch.setattr(Analyzer, "_skip_gap", spy)
    _analyzer, evidence = run(tmp_path, frames)
    [probe] = Probe.instances
    assert probe.calls[1] == ("gap", True)
    assert declared_at == [4 + 11]  # declared when the 11th held segment passed the 1000-byte cap
    assert [c[3] for c in probe.calls[2:] if c[0] == "tcp"] == list(
        range(5, 20)
    )  # each held segment under its own frame
    assert probe.stream() == b"a" * 100 + b"z" * 1500
    assert evidence.capture.tcp_gaps == 1 and evidence.capture.tcp_gap_bytes == 100


def test_unsupported_link_type_in_pcapng_is_counted_not_decoded(tmp_path: Path) -> None:
    ng = Pcapng().section().interface(1).interface(147)  # 147: user-defined
    ng.epb(0, 1, ether(UDP4)).epb(1, 2, b"opaque")
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(ng.bytes())
    analyzer = Analyzer(Registry([Probe]))
    info = analyzer.analyze_file(path)
    assert info.packets == 2
    assert any("link type 147" in p for p in info.problems)
    assert len(Probe.instances) == 1


def test_struct_helpers_are_consistent() -> None:
    key = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack("!HH", 1111, 502)
    assert pipeline.reverse_key(key) == bytes([10, 0, 0, 2, 10, 0, 0, 1]) + struct.pack("!HH", 502, 1111)
    assert pipeline.reverse_key(pipeline.reverse_key(key)) == key


# -- progress ---------------------------------------------------------------------------------
def test_progress_is_fed_often_and_ends_at_the_total(tmp_path: Path) -> None:
    from tests.bench.gen_pcap import generate

    capture = generate(tmp_path / "mix.pcap", 70_000)
    calls: list[tuple[int, int]] = []
    analyzer = Analyzer(Registry([]), progress=lambda done, total: calls.append((done, total)))
    analyzer.analyze_files([capture])
    size = capture.stat().st_size
    assert len(calls) >= 70_000 // pipeline.PROGRESS_EVERY  # at least every PROGRESS_EVERY packets
    assert all(total == size for _done, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1] == (size, size)


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from icsaudit.cli.common import want_progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert want_progress(quiet=False) and not want_progress(quiet=True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert not want_progress(quiet=False)


def test_tcp_and_udp_on_the_same_four_tuple_are_separate_flows(tmp_path: Path) -> None:
    frames = [
        ether(ipv4(CLIENT, SERVER, 17, udp(40000, TCP_PORT, b"udp-side"))),
        *handshake(),
        eth_tcp(1001, b"tcp-side"),
    ]
    _a, evidence = run(tmp_path, frames)
    assert sorted((f.transport, f.packets) for f in evidence.flows) == [("tcp", 4), ("udp", 1)]


# -- robustness -------------------------------------------------------------------------------
_PREFIXES = [
    ether(ipv4(CLIENT, SERVER, 6, tcp(40000, 502, 1, b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x01"))),
    ether(ipv4(CLIENT, SERVER, 17, udp(40000, 47808, b"\x81\x0a\x00\x11\x01\x04"))),
    ether(ipv6(CLIENT6, SERVER6, 6, tcp(40000, 102, 1, b"\x03\x00\x00\x16")), ETH_IPV6),
    ether(ipv4(CLIENT, SERVER, 17, udp(1, 2, b"x" * 40), flags=0x2000)),
    ether(b"\x00" * 28, 0x0806),
]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([1, 0, 101, 108, 113, 228, 229, 276]),
    st.sampled_from(range(len(_PREFIXES))),
    st.integers(0, 120),
    st.binary(max_size=80),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
)
def test_malformed_packets_never_raise(
    linktype: int, prefix: int, keep: int, tail: bytes, flips: list[tuple[int, int]]
) -> None:
    from icsaudit.passive.protocols import default_registry

    frame = bytearray(_PREFIXES[prefix][:keep] + tail)
    for position, value in flips:
        if frame:
            frame[position % len(frame)] = value
    for registry in (Registry([Probe]), default_registry()):
        analyzer = Analyzer(registry)
        analyzer.recorder.frame = 1
        analyzer._packet(linktype, bytes(frame), 1.0)
        analyzer._packet(linktype, bytes(frame[::-1]), 2.0)
        analyzer.finish()


# -- contested ports --------------------------------------------------------------------------
class PortOwner(Probe):
    """Registers TCP_PORT; recognises its own payloads by content too."""

    name = "owner"

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        return data.startswith(b"OWN")


class Contender(Probe):
    """Claims TCP_PORT by content only (as MMS does on s7comm's 102)."""

    name = "contender"
    tcp_ports = frozenset()
    udp_ports = frozenset()
    ethertypes = frozenset()
    server_ports = frozenset({TCP_PORT})

    @classmethod
    def sniff(cls, data: bytes, from_client: bool) -> bool:  # noqa: ARG003
        return b"CON" in data


def run_contested(tmp_path: Path, frames: list[bytes]) -> tuple[Analyzer, Evidence]:
    path = tmp_path / "t.pcap"
    path.write_bytes(pcap([(1000.0 + i * 0.001, f) for i, f in enumerate(frames)]))
    analyzer = Analyzer(Registry([PortOwner, Contender]))
    assert analyzer.contested_ports == {TCP_PORT}
    analyzer.analyze_file(path)
    return analyzer, analyzer.finish()


def test_contested_port_waits_for_content_and_replays_in_order(tmp_path: Path) -> None:
    # Frames 4-5 say nothing (like a COTP CR/CC); frame 6 completes "CON" only with the client's
    # held bytes, so the sniffers must see this direction's held bytes plus the new payload.
    frames = handshake() + [
        eth_tcp(1001, b"HELLO-CO"),
        eth_tcp(5001, b"hi", to_server=False),
        eth_tcp(1009, b"N-data"),
    ]
    _a, evidence = run_contested(tmp_path, frames)
    [dissector] = Probe.instances
    assert type(dissector) is Contender
    # Replayed payloads carry the frame they arrived in, so PDUs are counted where tshark counts them.
    assert dissector.calls[:3] == [
        ("tcp", True, b"HELLO-CO", 4),
        ("tcp", False, b"hi", 5),
        ("tcp", True, b"N-data", 6),
    ]
    [flow] = evidence.flows
    assert (flow.protocol, flow.packets) == ("contender", 6)


def test_contested_port_falls_back_to_the_port_dissector(tmp_path: Path) -> None:
    seq, frames = 1001, handshake()
    for i in range(pipeline.MAX_HELD + 1):
        frames.append(eth_tcp(seq, b"x%02d" % i))
        seq += 3
    _a, evidence = run_contested(tmp_path, frames)
    [dissector] = Probe.instances
    assert type(dissector) is PortOwner
    assert dissector.stream() == b"".join(b"x%02d" % i for i in range(pipeline.MAX_HELD + 1))
    assert [c[3] for c in dissector.calls if c[0] == "tcp"] == list(range(4, 4 + pipeline.MAX_HELD + 1))


def test_contested_port_undecided_at_close_goes_to_the_port_dissector(tmp_path: Path) -> None:
    _a, evidence = run_contested(tmp_path, handshake() + [eth_tcp(1001, b"hello")])
    [dissector] = Probe.instances
    assert type(dissector) is PortOwner
    assert dissector.calls == [("tcp", True, b"hello", 4), ("close",)]
    assert [f.protocol for f in evidence.flows] == ["owner"]


def test_uncontested_port_decides_on_the_first_payload(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    path.write_bytes(
        pcap([(1000.0 + i * 0.001, f) for i, f in enumerate(handshake() + [eth_tcp(1001, b"CON")])])
    )
    analyzer = Analyzer(Registry([PortOwner]))
    assert not analyzer.contested_ports
    analyzer.analyze_file(path)
    assert [c[:3] for c in Probe.instances[0].calls] == [("tcp", True, b"CON")]


def test_bacnet_over_llc_reaches_the_bacnet_dissector(tmp_path: Path) -> None:
    from icsaudit.passive.protocols import default_registry

    # 802.3: length field instead of an EtherType, LLC DSAP/SSAP 0x82 UI, then an I-Am NPDU (device
    # 123, vendor 7), padded to the Ethernet minimum: the length field says where BACnet ends.
    llc = b"\x82\x82\x03" + b"\x01\x00\x10\x00\xc4\x02\x00\x00\x7b\x22\x05\xc4\x91\x00\x21\x07"
    frame = ether(llc + bytes(60 - 14 - len(llc)), len(llc), dst="ff:ff:ff:ff:ff:ff")
    path = tmp_path / "t.pcap"
    path.write_bytes(pcap([(1000.0, frame)]))
    analyzer = Analyzer(default_registry())
    analyzer.analyze_file(path)
    evidence = analyzer.finish()
    [flow] = evidence.flows
    assert (flow.protocol, flow.transport, flow.server_port) == ("bacnet", "eth", 0)
    stats = evidence.capture.protocols["bacnet"]
    assert stats.frames == stats.pdus == 1
    assert stats.conversations == [(flow.client_ip, "ff:ff:ff:ff:ff:ff", 0, "eth")]
    assert stats.identities and stats.identities[0]["device_instance"] == 123


def test_layer2_frames_a_module_declines_are_not_its_flow(tmp_path: Path, monkeypatch) -> None:
    class Picky(Probe):
        def on_frame(self, data: bytes) -> bool | None:
            super().on_frame(data)
            if data.startswith(b"\x80"):
                return False  # e.g. PROFINET cyclic I/O on DCP's EtherType
            self.session.pdu("x", "read")
            return None

    monkeypatch.setitem(pipeline.L2_UNCLAIMED, ETHERTYPE, "cyclic")
    declined = ether(b"\x80\x00" + bytes(40), ETHERTYPE)
    handled = ether(b"\xfe\xfe" + bytes(40), ETHERTYPE)
    other_way = ether(b"\x80\x01" + bytes(40), ETHERTYPE, src="00:00:00:00:00:09")
    path = tmp_path / "t.pcap"
    path.write_bytes(pcap([(1000.0 + i, f) for i, f in enumerate([declined, declined, handled, other_way])]))
    analyzer = Analyzer(Registry([Picky]))
    analyzer.analyze_file(path)
    evidence = analyzer.finish()
    got = sorted((f.client_ip, f.protocol, f.packets, f.first_seen) for f in evidence.flows)
    from tests.data.craft import MAC_A

    mac_a, mac_9 = MAC_A.lower(), "00:00:00:00:00:09"
    assert sorted(got) == sorted(
        [
            (mac_a, "cyclic", 2, 1000.0),
            (mac_a, "probe", 1, 1002.0),  # the module's flow starts at the first frame it handled
            (mac_9, "cyclic", 1, 1003.0),
        ]
    )
    assert evidence.capture.protocols["probe"].frames == 1


def test_packet_filter_decodes_only_kept_records_but_counts_all(tmp_path: Path) -> None:
    frames = [ether(ipv4(CLIENT, SERVER, 17, udp(40001 + i, UDP_PORT, b"x%d" % i))) for i in range(4)]
    path = tmp_path / "t.pcap"
    path.write_bytes(pcap([(1000.0 + i, f) for i, f in enumerate(frames)]))
    analyzer = Analyzer(Registry([Probe]), packet_filter=lambda _lt, data: data.endswith((b"x1", b"x3")))
    analyzer.analyze_file(path)
    evidence = analyzer.finish()
    assert evidence.capture.packets == 4
    assert sorted(c[2] for p in Probe.instances for c in p.calls if c[0] == "udp") == [b"x1", b"x3"]


def test_pdus_delivered_at_close_count_no_frame_but_held_segments_count_their_own(tmp_path: Path) -> None:
    class Counting(Probe):
        def on_tcp(self, data: bytes, from_client: bool) -> None:
            super().on_tcp(data, from_client)
            self.session.pdu("x", "read")

        def on_close(self) -> None:
            super().on_close()
            self.session.pdu("flush", "read")  # belongs to no packet: counts a PDU, not a frame

    # The first segment is missing: the second is held out of order until the flow closes, and is
    # then delivered under its own frame (4).
    frames = handshake() + [eth_tcp(1011, b"late-bytes")]
    path = tmp_path / "t.pcap"
    path.write_bytes(pcap([(1000.0 + i, f) for i, f in enumerate(frames)]))
    analyzer = Analyzer(Registry([Counting]))
    analyzer.analyze_file(path)
    stats = analyzer.finish().capture.protocols["probe"]
    assert (stats.pdus, stats.frames) == (2, 1)
    [probe] = Probe.instances
    assert probe.calls[0] == ("tcp", True, b"late-bytes", 4)
