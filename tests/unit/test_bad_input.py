"""`icsaudit analyze` on bad captures: one clear line naming the file and the place, no traceback,
evidence of what could be read kept, and the good files of a run still analyzed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from icsaudit.cli import main
from tests.data.craft import ether, ipv4, pcap, tcp, udp

ICSAUDIT = Path(sys.executable).parent / "icsaudit"


def good_capture(count: int = 20) -> bytes:
    frames = [
        ether(ipv4("10.0.0.1", "10.0.0.2", 17, udp(40000 + i % 3, 161, b"\x30\x00")))
        for i in range(count // 2)
    ] + [
        ether(ipv4("10.0.0.1", "10.0.0.3", 6, tcp(40000, 80, 1 + i, b"G"))) for i in range(count - count // 2)
    ]
    return pcap([(1_700_000_000 + i * 0.01, f) for i, f in enumerate(frames)])


def cli(*args: str | Path):
    return CliRunner().invoke(main, ["analyze", "-q", *map(str, args)])


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_clean_failure(result, *needles: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty or too short"),
        (b"GARBAGE GARBAGE GARBAGE GARBAGE", "not a pcap or pcapng file"),
        (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00", "pcap global header truncated"),
    ],
    ids=["empty", "garbage", "truncated-global-header"],
)
def test_unreadable_capture_is_one_line(tmp_path: Path, content: bytes, needle: str) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    out = tmp_path / "ev.json"
    result = cli(bad, "-o", out)
    assert_clean_failure(result, str(bad), needle)
    assert not out.exists()


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert_clean_failure(cli(tmp_path / "missing.pcap"), "missing.pcap", "No such file")
    assert_clean_failure(cli(tmp_path), str(tmp_path), "is a directory")


def test_unknown_link_type(tmp_path: Path) -> None:
    bad = tmp_path / "usb.pcap"
    bad.write_bytes(pcap([(1.0, b"\x00" * 40)], linktype=189))  # USB Linux
    result = cli(bad, "-o", tmp_path / "ev.json")
    assert_clean_failure(result, str(bad), "link type 189 (linktype_189) is not supported")


def test_truncated_last_record_warns_and_keeps_evidence(tmp_path: Path) -> None:
    data = good_capture(20)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-7])
    out = tmp_path / "ev.json"
    result = cli(cut, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert (
        "warning:" in result.stderr
        and "truncated packet at byte" in result.stderr
        and "(frame 20)" in result.stderr
    )
    evidence = json.loads(out.read_text())
    assert evidence["capture"]["packets"] == 19
    assert evidence["capture"]["files"][0]["complete"] is False
    assert evidence["flows"]


def test_corrupt_record_length_mid_file_stops_there_and_keeps_evidence(tmp_path: Path) -> None:
    data = bytearray(good_capture(20))
    record = 24
    for _ in range(12):  # walk to the 13th record header
        caplen = int.from_bytes(data[record + 8 : record + 12], "little")
        record += 16 + caplen
    data[record + 8 : record + 12] = (0xFFFFFF00).to_bytes(4, "little")
    bad = tmp_path / "corrupt.pcap"
    bad.write_bytes(bytes(data))
    out = tmp_path / "ev.json"
    result = cli(bad, "-o", out)
    assert result.exit_code == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert f"corrupt record at byte {record} (frame 13)" in warning and str(bad) in warning
    evidence = json.loads(out.read_text())
    assert evidence["capture"]["packets"] == 12


def test_one_bad_file_among_good_ones(tmp_path: Path) -> None:
    first, second = tmp_path / "a.pcap", tmp_path / "c.pcap"
    first.write_bytes(good_capture(10))
    second.write_bytes(good_capture(30))
    bad = tmp_path / "b.pcap"
    bad.write_bytes(b"\x00" * 100)
    out = tmp_path / "ev.json"
    result = cli(first, bad, second, "-o", out)
    assert result.exit_code != 0
    lines = error_lines(result.stderr)
    assert any(str(bad) in line and "not a pcap or pcapng file" in line for line in lines)
    assert all(str(first) not in line and str(second) not in line for line in lines)
    evidence = json.loads(out.read_text())  # the good ones are analyzed and written
    assert evidence["capture"]["packets"] == 40
    assert sorted(f["path"] for f in evidence["capture"]["files"]) == [str(first), str(second)]


def test_file_failing_half_way_keeps_what_was_read(tmp_path: Path) -> None:
    good = tmp_path / "good.pcap"
    good.write_bytes(good_capture(10))
    usb = tmp_path / "usb.pcap"
    usb.write_bytes(pcap([(1.0, b"\x00" * 40)] * 3, linktype=189))
    out = tmp_path / "ev.json"
    result = cli(good, usb, "-o", out)
    assert result.exit_code != 0
    assert any("link type 189" in line and str(usb) in line for line in error_lines(result.stderr))
    files = {f["path"]: f for f in json.loads(out.read_text())["capture"]["files"]}
    assert files[str(good)]["packets"] == 10
    assert (
        files[str(usb)]["packets"] == 3 and files[str(usb)]["complete"] is False
    )  # recorded, with its sha256
    assert len(files[str(usb)]["sha256"]) == 64


def test_installed_command_prints_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.pcapng"
    bad.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\xff" * 40)
    proc = subprocess.run(
        [str(ICSAUDIT), "analyze", "-q", str(bad), "-o", str(tmp_path / "e.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and str(bad) in lines[0] and "byte-order magic" in lines[0]
    good = tmp_path / "good.pcap"
    good.write_bytes(good_capture(10))
    proc = subprocess.run(
        [str(ICSAUDIT), "analyze", str(good), "-o", str(tmp_path / "e.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # stderr is not a terminal: no progress bar
    assert "10 packets" in proc.stdout
