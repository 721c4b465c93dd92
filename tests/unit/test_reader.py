"""The streaming pcap/pcapng reader on captures crafted byte by byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icsaudit.errors import InputError
from icsaudit.passive import reader
from icsaudit.passive.reader import open_capture
from tests.data.craft import Pcapng, pcap

FRAMES = [bytes([i]) * (60 + i) for i in range(5)]
TIMES = [1_700_000_000.000001, 1_700_000_000.5, 1_700_000_001.25, 1_700_000_001.999999, 1_700_000_002.0]


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _read(path: Path) -> tuple[reader.ReadState, list]:
    state, records = open_capture(path)
    return state, list(records)


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_pcap_resolutions_and_byte_orders(tmp_path: Path, endian: str, nanos: bool) -> None:
    records = list(zip(TIMES, FRAMES, strict=True))
    path = _write(tmp_path, "a.pcap", pcap(records, linktype=1, endian=endian, nanos=nanos))
    state, got = _read(path)
    assert [r[0] for r in got] == [1, 2, 3, 4, 5]
    assert [r[3] for r in got] == FRAMES
    assert {r[2] for r in got} == {1}
    tolerance = 1e-6  # a float holds ~0.2 µs at 1.7e9 s: exactness is tested below with small values
    for (_frame, ts, _lt, _data, origlen), expected, frame in zip(got, TIMES, FRAMES, strict=True):
        assert ts == pytest.approx(expected, abs=tolerance)
        assert origlen == len(frame)
    assert state.format == "pcap"
    assert state.packets == 5 and state.bytes == sum(map(len, FRAMES))
    assert state.first_ts == pytest.approx(TIMES[0], abs=tolerance)
    assert state.last_ts == pytest.approx(TIMES[-1], abs=tolerance)
    assert state.complete and not state.problems
    assert state.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_pcap_nanosecond_value_is_exact(tmp_path: Path) -> None:
    path = _write(tmp_path, "ns.pcap", pcap([(1.000000123, b"x" * 20)], nanos=True))
    _state, got = _read(path)
    assert got[0][1] == pytest.approx(1.000000123, abs=1e-12)


def test_records_spanning_chunk_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "CHUNK", 7)  # every record straddles several refills
    frames = [bytes([i % 256]) * (1 + i * 13) for i in range(40)]
    data = pcap([(float(i), f) for i, f in enumerate(frames)])
    path = _write(tmp_path, "small-chunks.pcap", data)
    state, got = _read(path)
    assert [r[3] for r in got] == frames
    assert state.sha256 == hashlib.sha256(data).hexdigest()
    ng = Pcapng().section().interface(1)
    for i, frame in enumerate(frames):
        ng.epb(0, i * 1_000_000, frame)
    path = _write(tmp_path, "small-chunks.pcapng", ng.bytes())
    _state, got = _read(path)
    assert [r[3] for r in got] == frames


def test_pcapng_sections_interfaces_and_block_kinds(tmp_path: Path) -> None:
    ng = Pcapng()
    ng.section("<")
    ng.interface(1)  # 0: Ethernet, default µs
    ng.interface(101, tsresol=9)  # 1: raw IP, ns
    ng.interface(113, tsresol=0x80 | 10, tsoffset=1000)  # 2: SLL, 2^-10 s, +1000 s
    ng.epb(0, 1_500_000, b"A" * 30)
    ng.unknown(0x0BAD, b"unknown block, skipped")
    ng.epb(1, 2_000_000_001, b"B" * 31)
    ng.epb(2, 512, b"C" * 32)  # 512 / 1024 + 1000 = 1000.5 s
    ng.unknown(0x80000001, b"custom block")
    ng.obsolete_pb(1, 3_000_000_000, b"D" * 33)
    ng.section(">")  # a new section: interface ids start again, big-endian now
    ng.interface(276, tsresol=3)  # 0: SLL2, ms
    ng.interface(1)
    ng.epb(0, 4_000, b"E" * 34)
    ng.spb(b"F" * 35)
    ng.epb(1, 5_000_000, b"G" * 36)
    path = _write(tmp_path, "multi.pcapng", ng.bytes())
    state, got = _read(path)
    assert [(r[0], r[2], r[3][:1], len(r[3])) for r in got] == [
        (1, 1, b"A", 30),
        (2, 101, b"B", 31),
        (3, 113, b"C", 32),
        (4, 101, b"D", 33),
        (5, 276, b"E", 34),
        (6, 276, b"F", 35),  # SPB: first interface of its section
        (7, 1, b"G", 36),
    ]
    times = [r[1] for r in got]
    assert times[0] == pytest.approx(1.5)
    assert times[1] == pytest.approx(2.000000001, abs=1e-12)
    assert times[2] == pytest.approx(1000.5, abs=1e-12)
    assert times[3] == pytest.approx(3.0)
    assert times[4] == pytest.approx(4.0)
    assert times[6] == pytest.approx(5.0)
    assert state.format == "pcapng"
    assert state.link_types == {1, 101, 113, 276}
    assert state.packets == 7
    assert state.first_ts == pytest.approx(1.5) and state.last_ts == pytest.approx(1000.5)
    assert state.complete and not state.problems


def test_pcapng_packet_naming_unknown_interface_is_skipped_with_a_problem(tmp_path: Path) -> None:
    ng = Pcapng().section().interface(1).epb(0, 1, b"a" * 20).epb(3, 2, b"b" * 20).epb(0, 3, b"c" * 20)
    state, got = _read(_write(tmp_path, "iface.pcapng", ng.bytes()))
    assert [r[3][:1] for r in got] == [b"a", b"c"]
    assert len(state.problems) == 1 and "unknown interface 3" in state.problems[0]
    assert state.complete  # skipped, not stopped


def test_pcap_truncated_last_record_keeps_what_was_read(tmp_path: Path) -> None:
    data = pcap([(1.0, b"a" * 50), (2.0, b"b" * 50), (3.0, b"c" * 50)])
    path = _write(tmp_path, "cut.pcap", data[:-20])
    state, got = _read(path)
    assert len(got) == 2
    assert not state.complete
    assert state.problems == [f"truncated packet at byte {24 + 2 * 66} (frame 3): 30 of 50 bytes"]
    assert state.sha256 == hashlib.sha256(data[:-20]).hexdigest()


def test_pcap_truncated_record_header(tmp_path: Path) -> None:
    data = pcap([(1.0, b"a" * 50), (2.0, b"b" * 50)])
    state, got = _read(_write(tmp_path, "cut-header.pcap", data[: 24 + 66 + 10]))
    assert len(got) == 1
    assert state.problems == ["truncated record header at byte 90 after frame 1"]


def test_pcap_corrupt_length_mid_file_stops_there(tmp_path: Path) -> None:
    records = [(float(i), bytes([65 + i]) * 40) for i in range(5)]
    data = bytearray(pcap(records))
    corrupt_at = 24 + 2 * 56  # third record header
    data[corrupt_at + 8 : corrupt_at + 12] = (0x7FFF0000).to_bytes(4, "little")
    state, got = _read(_write(tmp_path, "corrupt.pcap", bytes(data)))
    assert len(got) == 2
    assert not state.complete
    assert len(state.problems) == 1
    assert f"corrupt record at byte {corrupt_at} (frame 3)" in state.problems[0]
    assert state.sha256 == hashlib.sha256(bytes(data)).hexdigest()  # whole file, even after the stop


def test_pcapng_corrupt_block_length_and_trailer(tmp_path: Path) -> None:
    ng = Pcapng().section().interface(1).epb(0, 1, b"a" * 20).epb(0, 2, b"b" * 20).epb(0, 3, b"c" * 20)
    raw = bytearray(ng.bytes())
    second_epb = len(ng.blocks[0]) + len(ng.blocks[1]) + len(ng.blocks[2])
    bad_length = bytearray(raw)
    bad_length[second_epb + 4 : second_epb + 8] = (13).to_bytes(4, "little")
    state, got = _read(_write(tmp_path, "badlen.pcapng", bytes(bad_length)))
    assert len(got) == 1 and not state.complete
    assert f"corrupt block at byte {second_epb} (after frame 1): length 13" in state.problems[0]
    bad_trailer = bytearray(raw)
    end = second_epb + len(ng.blocks[3])
    bad_trailer[end - 4 : end] = (999).to_bytes(4, "little")
    state, got = _read(_write(tmp_path, "badtrailer.pcapng", bytes(bad_trailer)))
    assert len(got) == 1 and "trailing length 999" in state.problems[0]
    state, got = _read(_write(tmp_path, "cut.pcapng", bytes(raw[:-10])))
    assert len(got) == 2 and "truncated block" in state.problems[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty or too short to be a capture (0 bytes)"),
        (b"\x01\x02", "empty or too short"),
        (b"this is not a capture file at all", "not a pcap or pcapng file (starts with 74686973)"),
        (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00", "pcap global header truncated (8 of 24 bytes)"),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\xff\xff\xff\xff", "bad byte-order magic ffffffff"),
    ],
)
def test_open_errors_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = _write(tmp_path, "bad.cap", content)
    with pytest.raises(InputError) as info:
        open_capture(path)
    assert str(path) in info.value.message
    assert message in info.value.message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open capture: No such file"):
        open_capture(tmp_path / "nope.pcap")
    with pytest.raises(InputError, match="is a directory"):
        open_capture(tmp_path)


def _valid_pcapng() -> bytes:
    ng = Pcapng().section().interface(1, tsresol=9).interface(101)
    for i in range(6):
        ng.epb(i % 2, i * 1000, bytes([i]) * (20 + i))
    return ng.spb(b"s" * 30).obsolete_pb(0, 7, b"p" * 25).unknown().bytes()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["pcap", "pcapng"]),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 400),
)
def test_mutated_captures_never_crash_the_reader(
    tmp_path_factory, kind: str, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(
        _valid_pcapng() if kind == "pcapng" else pcap([(float(i), bytes([i]) * (30 + i)) for i in range(8)])
    )
    for position, value in flips:
        data[position % len(data)] = value
    data = data[: len(data) - cut % len(data)]
    path = tmp_path_factory.mktemp("fuzz") / f"f.{kind}"
    path.write_bytes(bytes(data))
    try:
        state, records = open_capture(path)
    except InputError:
        return
    frames = list(records)  # never raises: problems are recorded
    assert state.packets == len(frames)
    assert state.complete or state.problems


def test_pcapng_block_too_short_for_its_type(tmp_path: Path) -> None:
    ng = Pcapng().section().interface(1).epb(0, 1, b"a" * 20)
    ng.blocks.append(bytes.fromhex("060000000c0000000c000000"))  # an EPB of 12 bytes, at the very end
    state, got = _read(_write(tmp_path, "short.pcapng", ng.bytes()))
    assert len(got) == 1 and not state.complete
    assert "type 6 cannot be 12 bytes long" in state.problems[0]
