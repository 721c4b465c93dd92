"""analyze_parallel: a capture split into flow shares (in processes) gives the evidence of one Analyzer."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from icsaudit.errors import InputError
from icsaudit.evidence.model import Evidence
from icsaudit.passive.parallel import (
    analyze_parallel,
    analyze_part,
    finish_partial,
    fold_partials,
    plan_parts,
    run_parallel,
    share_key,
)
from icsaudit.passive.pipeline import analyze
from icsaudit.passive.reader import open_capture
from tests.bench import gen_pcap
from tests.conftest import CORPUS, corpus_available

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)


# -- helpers shared with test_distributed ------------------------------------------------------
def comparable(evidence: Evidence, *, event_ids: bool = True, service_details: bool = True) -> dict:
    """Evidence as plain data with every list in a canonical order (the brief: same evidence after
    normalizing order). ``event_ids``/``service_details`` False drop the two things the pipeline's own
    recorder decides by arrival order (see parallel.py), for comparisons with ``pipeline.analyze``."""
    data = json.loads(msgspec.json.encode(evidence))
    if not event_ids:
        for event in data["events"]:
            event.pop("event_id")
    if not service_details:
        for service in data["services"]:
            service.pop("banner")
            service.pop("details")
    canonical = lambda x: json.dumps(x, sort_keys=True)  # noqa: E731
    for table in ("events", "flows", "services", "identities", "assets"):
        data[table].sort(key=canonical)
    data["capture"]["decode_error_samples"].sort(key=canonical)
    return data


def split_by_shares(paths: list[Path], shares: int) -> Evidence:
    """Every share run in this process, folded: the split semantics without process start-up costs."""
    return finish_partial(fold_partials(analyze_part(p) for p in plan_parts(paths, shares)))


def split_pcap(source: Path, out_dir: Path, pieces: int) -> list[Path]:
    """Cut a capture into consecutive files, as a ring buffer does (connections span the cuts)."""
    _state, records = open_capture(source)
    frames = [(ts, bytes(data), orig) for _frame, ts, _lt, data, orig in records]
    size = -(-len(frames) // pieces)
    paths = []
    for i in range(pieces):
        path = out_dir / f"{source.stem}-{i:02d}.pcap"
        with path.open("wb") as out:
            out.write(PCAP_HEADER)
            for ts, data, orig in frames[i * size : (i + 1) * size]:
                micros = round(ts * 1_000_000)
                out.write(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(data), orig))
                out.write(data)
        paths.append(path)
    return paths


def edge_capture(path: Path) -> Path:
    """What couples packets beyond one TCP/UDP 4-tuple: IPv4 and IPv6 fragments (out of order, mixed
    with whole datagrams of the same flow), ARP conflicts, layer-2 sessions, VLAN tags, out-of-order
    TCP with Modbus writes, one server port answering several clients."""
    from scapy.all import (
        ARP,
        IP,
        TCP,
        UDP,
        Dot1Q,
        Ether,
        IPv6,
        IPv6ExtHdrFragment,
        Raw,
        fragment,
        fragment6,
        wrpcap,
    )

    mac = {n: f"00:80:f4:00:00:{n:02x}" for n in range(1, 10)}
    packets = []

    def modbus_write(tid: int, register: int) -> bytes:
        return struct.pack(">HHHBBHH", tid, 0, 6, 1, 6, register, tid)

    for client in (1, 2, 3):  # three HMIs write to one PLC: one service, three address pairs
        cip, sport = f"10.0.0.{10 + client}", 40000 + client
        eth = Ether(src=mac[client], dst=mac[9]) / Dot1Q(vlan=10)
        back = Ether(src=mac[9], dst=mac[client]) / Dot1Q(vlan=10)
        packets += [
            eth / IP(src=cip, dst="10.0.0.9") / TCP(sport=sport, dport=502, flags="S", seq=100),
            back / IP(src="10.0.0.9", dst=cip) / TCP(sport=502, dport=sport, flags="SA", seq=500, ack=101),
            eth / IP(src=cip, dst="10.0.0.9") / TCP(sport=sport, dport=502, flags="A", seq=101, ack=501),
        ]
        first, second = modbus_write(1, 10 * client), modbus_write(2, 10 * client + 1)
        packets += [  # the second write arrives before the first
            eth
            / IP(src=cip, dst="10.0.0.9")
            / TCP(sport=sport, dport=502, flags="PA", seq=113, ack=501)
            / second,
            eth
            / IP(src=cip, dst="10.0.0.9")
            / TCP(sport=sport, dport=502, flags="PA", seq=101, ack=501)
            / first,
            back
            / IP(src="10.0.0.9", dst=cip)
            / TCP(sport=502, dport=sport, flags="PA", seq=501, ack=125)
            / first,
        ]
    for n in range(6):  # UDP with fragmented and whole datagrams in one flow (DNP3 port)
        datagram = (
            IP(src="10.0.1.1", dst="10.0.1.2", id=1000 + n)
            / UDP(sport=20000, dport=20000)
            / Raw(b"\x05\x64\x05\xc0\x01\x00\x00\x04" + bytes(1200))
        )
        pieces = fragment(datagram, fragsize=400) if n % 2 else [datagram]
        packets += [Ether(src=mac[4], dst=mac[5]) / p for p in (reversed(pieces) if n == 3 else pieces)]
    # A BACnet device says who it is in an I-Am broadcast and names itself to a client: the BACnet
    # dissector joins both statements (two address pairs) into one identity.
    i_am = b"\x01\x00\x10\x00\xc4\x02\x00\x00\x01\x22\x05\xc4\x91\x00\x21\x07"
    name_ack = b"\x01\x00\x30\x01\x0c\x0c\x02\x00\x00\x01\x19\x4d\x3e\x75\x05\x00AHU1\x3f"
    read_name = b"\x01\x04\x02\x05\x01\x0c\x0c\x02\x00\x00\x01\x19\x4d"
    for src, dst, function, apdu in (
        ("10.0.2.2", "10.0.2.255", 0x0B, i_am),
        ("10.0.2.1", "10.0.2.2", 0x0A, read_name),
        ("10.0.2.2", "10.0.2.1", 0x0A, name_ack),
    ):
        bvlc = bytes((0x81, function)) + struct.pack(">H", 4 + len(apdu))
        packets.append(
            Ether(src=mac[4], dst=mac[5])
            / IP(src=src, dst=dst)
            / UDP(sport=47808, dport=47808)
            / Raw(bvlc + apdu)
        )
    # The same device on BACnet/Ethernet (802.3 length field + LLC 0x82 0x82, no IP), padded frames:
    # a layer-2 flow whose statements join the BACnet/IP ones above.
    for npdu in (i_am, name_ack):
        llc = b"\x82\x82\x03" + npdu
        packets.append(Ether(src=mac[4], dst="ff:ff:ff:ff:ff:ff", type=len(llc)) / Raw(llc + bytes(8)))
    v6 = IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrFragment(id=7) / UDP(sport=40001, dport=47808)
    packets += [Ether(src=mac[6], dst=mac[7]) / p for p in fragment6(v6 / Raw(bytes(3000)), 1280)]
    for sender_mac in (mac[1], mac[2], mac[1]):  # 10.0.0.50 changes hands twice: two conflicts
        packets.append(
            Ether(src=sender_mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=sender_mac, psrc="10.0.0.50")
        )
    for n in range(4):  # GOOSE both ways between two IEDs
        src, dst = (mac[3], mac[8]) if n % 2 else (mac[8], mac[3])
        packets.append(
            Ether(src=src, dst=dst, type=0x88B8) / Raw(b"\x00\x01\x00\x10\x00\x00\x00\x00" + bytes(8))
        )
    for i, packet in enumerate(packets):
        packet.time = 1_700_000_000 + i * 0.01
    wrpcap(str(path), packets)
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A generated mixed ICS capture cut in three files, plus the edge-case capture after them."""
    root = tmp_path_factory.mktemp("parallel")
    whole = gen_pcap.generate(root / "mix.pcap", 30_000, seed=7)
    return [*split_pcap(whole, root, 3), edge_capture(root / "zz-edge.pcap")]


# -- share keys --------------------------------------------------------------------------------
addresses4 = st.binary(min_size=4, max_size=4)
addresses6 = st.binary(min_size=16, max_size=16)
ports = st.integers(0, 65535)


def _ipv4(src: bytes, dst: bytes, sport: int, dport: int, fragment_offset: int) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, fragment_offset, 64, 17, 0, src, dst)
    return header + (struct.pack("!HHHH", sport, dport, 8, 0) if not fragment_offset else bytes(8))


@given(addresses4, addresses4, ports, ports, st.sampled_from([0, 0x2000, 0x0010]), st.booleans())
def test_share_key_is_direction_independent_and_ignores_ports(
    src: bytes, dst: bytes, sport: int, dport: int, frag: int, vlan: bool
) -> None:
    def frame(
        a: bytes, b: bytes, pa: int, pb: int, mac_a: bytes, mac_b: bytes, fragment_offset: int
    ) -> bytes:
        tag = b"\x81\x00\x00\x0a" if vlan else b""
        return mac_b + mac_a + tag + b"\x08\x00" + _ipv4(a, b, pa, pb, fragment_offset)

    forward = frame(src, dst, sport, dport, b"\x02" * 6, b"\x04" * 6, 0)
    backward = frame(dst, src, dport, sport, b"\x04" * 6, b"\x02" * 6, 0)
    piece = frame(src, dst, 0, 0, b"\x02" * 6, b"\x04" * 6, frag)  # a fragment: no ports at all
    key = share_key(1, forward)
    assert key and key == share_key(1, backward) == share_key(1, piece)
    raw = _ipv4(src, dst, sport, dport, 0)
    assert share_key(101, raw) == share_key(101, _ipv4(dst, src, dport, sport, 0)) == key


@given(addresses6, addresses6, ports, ports)
def test_share_key_ipv6_and_cooked_links(src: bytes, dst: bytes, sport: int, dport: int) -> None:
    def ipv6(a: bytes, b: bytes, pa: int, pb: int) -> bytes:
        return struct.pack("!IHBB", 0x60000000, 8, 17, 64) + a + b + struct.pack("!HHHH", pa, pb, 8, 0)

    sll = struct.pack("!HHH", 0, 1, 6) + b"\x02" * 8 + b"\x86\xdd"
    sll_back = struct.pack("!HHH", 4, 1, 6) + b"\x04" * 8 + b"\x86\xdd"
    key = share_key(113, sll + ipv6(src, dst, sport, dport))
    assert key == share_key(113, sll_back + ipv6(dst, src, dport, sport))
    assert key == share_key(229, ipv6(src, dst, sport, dport)) == share_key(229, ipv6(dst, src, dport, sport))


@given(st.binary(min_size=6, max_size=6), st.binary(min_size=6, max_size=6), st.integers(0x0600, 0xFFFF))
def test_share_key_layer2_is_the_mac_pair(mac_a: bytes, mac_b: bytes, ethertype: int) -> None:
    if ethertype in (0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8, 0x9100):
        ethertype = 0x88B8
    body = ethertype.to_bytes(2, "big") + bytes(20)
    assert share_key(1, mac_b + mac_a + body) == share_key(1, mac_a + mac_b + body)


# -- split results equal one analyzer -----------------------------------------------------------
def test_edge_capture_exercises_what_couples_flows(generated: list[Path]) -> None:
    """The edge capture really contains what a wrong split would break (else the next test proves little)."""
    evidence = analyze([generated[-1]])
    kinds = {e.kind for e in evidence.events}
    assert "arp-conflict" in kinds and "write" in kinds
    assert {f.transport for f in evidence.flows} >= {"tcp", "udp", "eth"}
    assert sum(s.pdus for s in evidence.capture.protocols.values()) > 0
    fragmented = [f for f in evidence.flows if f.client_ip == "10.0.1.1" and f.transport == "udp"]
    assert (
        fragmented
        and fragmented[0].packets >= 6
        and any(f.client_ip.startswith("fd00") for f in evidence.flows)
    )
    assert any(f.protocol == "bacnet" and f.transport == "eth" and f.server_port == 0 for f in evidence.flows)
    bacnet = [i for i in evidence.identities if i.protocol == "bacnet" and i.ip == "10.0.2.2"]
    assert any(i.fields.get("vendor_id") and i.fields.get("name") for i in bacnet), bacnet
    modbus_services = [s for s in evidence.services if s.protocol == "modbus"]
    assert (
        len(modbus_services) == 1
        and len({f.client_ip for f in evidence.flows if f.protocol == "modbus"}) == 3
    )


@pytest.mark.parametrize("shares", [2, 3, 5])
def test_flow_shares_equal_one_share(generated: list[Path], shares: int) -> None:
    single = split_by_shares(generated, 1)
    assert single.capture.packets > 30_000 and single.events and single.identities
    assert comparable(split_by_shares(generated, shares)) == comparable(single)


def test_one_share_equals_the_pipeline(generated: list[Path]) -> None:
    """The pipeline's recorder is split-invariant itself: one share is exactly ``pipeline.analyze``
    (event ids and service banners/details included)."""
    ours = split_by_shares(generated, 1)
    theirs = analyze(generated)
    assert comparable(ours) == comparable(theirs)
    assert len({e.event_id for e in ours.events}) == len(ours.events)


def test_processes_equal_one_analyzer(generated: list[Path]) -> None:
    calls: list[tuple[int, int]] = []
    parallel = analyze_parallel(generated, jobs=2, progress=lambda done, total: calls.append((done, total)))
    assert comparable(parallel) == comparable(analyze_parallel(generated, jobs=1))
    total = sum(p.stat().st_size for p in generated) * 2  # every share reads every file
    assert calls and calls[-1] == (total, total)
    assert parallel.capture.packets == analyze(generated).capture.packets
    assert sorted(f.path for f in parallel.capture.files) == sorted(str(p) for p in generated)


def test_per_file_mode_is_independent_of_jobs(generated: list[Path]) -> None:
    one = run_parallel(generated, 1, per_file=True).evidence
    three = run_parallel(generated, 3, per_file=True).evidence
    assert comparable(one) == comparable(three)
    assert one.capture.packets == analyze(generated).capture.packets
    assert len(plan_parts(generated, 3, per_file=True)) == len(generated)  # 4 files, 3 jobs: 1 share each
    assert len(plan_parts(generated[:1], 3, per_file=True)) == 3  # one big file still uses every job


def test_unreadable_file_is_reported(generated: list[Path], tmp_path: Path) -> None:
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("not a capture")
    paths = [generated[0], bogus]
    with pytest.raises(InputError, match="notes.pcap"):
        analyze_parallel(paths, jobs=2)
    outcome = run_parallel(paths, 2)
    assert [f.path for f in outcome.failures] == [str(bogus)]
    assert comparable(outcome.evidence) == comparable(analyze_parallel(generated[:1], jobs=1))


# -- the corpus ----------------------------------------------------------------------------------
@pytest.mark.corpus
@pytest.mark.slow
def test_corpus_split_equals_one_share() -> None:
    """Every corpus capture, in 3 shares, equals 1 share, and 1 share equals the pipeline exactly. All
    captures are also analyzed as one continuous capture."""
    if not corpus_available():
        pytest.skip("../shared/corpus is absent")
    captures = sorted(p for p in (CORPUS / "pcaps").rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))
    assert captures
    mismatches = []
    for capture in captures:
        try:
            pipeline = analyze([capture])
        except InputError:
            continue  # a file the pipeline refuses (tested elsewhere) is refused by every share too
        one = split_by_shares([capture], 1)
        if comparable(split_by_shares([capture], 3)) != comparable(one):
            mismatches.append(f"{capture.name}: 3 shares != 1 share")
        if comparable(one) != comparable(pipeline):
            mismatches.append(f"{capture.name}: 1 share != pipeline")
    readable = [c for c in captures if c.stat().st_size < 4 << 20]
    whole = split_by_shares(readable, 1)  # unreadable files are failures, the same in every share
    assert whole.capture.packets > 0
    if comparable(split_by_shares(readable, 4)) != comparable(whole):
        mismatches.append("all captures as one capture: 4 shares != 1 share")
    assert not mismatches, "\n".join(mismatches)


def test_share_key_of_bacnet_over_llc_is_the_bacnet_share() -> None:
    llc = b"\x82\x82\x03\x01\x00\x10\x08"
    for length in (len(llc), len(llc) + 20):  # the 802.3 length differs per frame: not part of the key
        frame = b"\xff" * 6 + b"\x02" * 6 + length.to_bytes(2, "big") + llc
        assert share_key(1, frame) == share_key(1, _bacnet_ip_frame()) == b"bacnet"


def _bacnet_ip_frame() -> bytes:
    header = _ipv4(b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", 47808, 47808, 0)
    return b"\x04" * 6 + b"\x02" * 6 + b"\x08\x00" + header
