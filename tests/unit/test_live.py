"""Live capture: command lines, failure messages, and real captures on the loopback interface.

The loopback tests run only as root with dumpcap present, send traffic to 127.0.0.1 only, and use a
capture filter on their own ports so concurrent test runs on the same host do not disturb them.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from icsaudit.errors import IcsauditError, InputError
from icsaudit.passive import live
from icsaudit.passive.pipeline import analyze

FINS_READ = bytes((0x80, 0, 2, 0, 9, 0, 0, 1, 0, 7)) + struct.pack("!H", 0x0101) + b"\x82\x00\x64\x00\x00\x01"


def test_dumpcap_command_line() -> None:
    cmd = live.capture_command(
        "dumpcap",
        "/usr/bin/dumpcap",
        "eth1",
        Path("/x/cap.pcapng"),
        duration=2.4,
        count=10,
        ring_size_mb=100,
        ring_files=24,
        capture_filter="not port 22",
    )
    assert cmd == [
        "/usr/bin/dumpcap",
        "-i",
        "eth1",
        "-q",
        "-w",
        "/x/cap.pcapng",
        "-a",
        "duration:2",
        "-c",
        "10",
        "-b",
        "filesize:100000",
        "-b",
        "files:24",
        "-f",
        "not port 22",
    ]


def test_tcpdump_command_line() -> None:
    cmd = live.capture_command(
        "tcpdump",
        "/usr/bin/tcpdump",
        "eth1",
        Path("/x/cap.pcap"),
        duration=5,
        count=3,
        ring_size_mb=10,
        ring_files=4,
        capture_filter="udp",
    )
    # tcpdump has no duration stop: LiveCapture interrupts it
    assert cmd == [
        "/usr/bin/tcpdump",
        "-i",
        "eth1",
        "-n",
        "-U",
        "-w",
        "/x/cap.pcap",
        "-c",
        "3",
        "-C",
        "10",
        "-W",
        "4",
        "udp",
    ]


def test_failures_become_one_clear_line() -> None:
    denied = live.classify_failure(
        "dumpcap: You don't have permission to capture on that device\n", "eth1", "dumpcap"
    )
    assert type(denied) is IcsauditError
    assert denied.message == "no permission to capture on 'eth1'" and "setcap" in denied.hint
    missing = live.classify_failure("tcpdump: eth9: No such device exists\n", "eth9", "tcpdump")
    assert isinstance(missing, InputError) and missing.message == "interface 'eth9' does not exist"
    other = live.classify_failure("capture started\ndumpcap: something odd\n\n", "lo", "dumpcap")
    assert other.message == "dumpcap failed capturing on 'lo': dumpcap: something odd"


def test_unknown_interface_and_missing_limit() -> None:
    with pytest.raises(InputError, match="does not exist"):
        live.check_interface("no-such-if0")
    with pytest.raises(InputError, match="needs a limit"):
        live.analyze_live("lo")
    with pytest.raises(IcsauditError, match="no capture tool"):
        live.find_tool("no-such-capture-tool")


def test_ring_files_are_found_in_capture_order(tmp_path: Path) -> None:
    names = ["cap_00001_20240101000000.pcapng", "cap_00002_20240101000100.pcapng", "other.pcapng"]
    for age, name in enumerate(names):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (1000 + age, 1000 + age))
    found = live.ring_files_of(tmp_path / "cap.pcapng", "dumpcap")
    assert [p.name for p in found] == names[:2]


def test_cli_rejects_bad_arguments() -> None:
    from icsaudit.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["capture", "-i", "no-such-if0", "--duration", "1", "-o", "x.pcapng"])
    assert result.exit_code == 2 and "interface 'no-such-if0' does not exist" in result.output
    result = runner.invoke(main, ["capture", "-i", "lo", "--ring-files", "3", "-o", "x.pcapng"])
    assert result.exit_code == 2 and "--ring-files needs --ring-size" in result.output
    result = runner.invoke(main, ["capture", "--list-interfaces"])
    assert result.exit_code == 0 and "lo" in result.output.split()


# -- real captures on lo -------------------------------------------------------------------------------
can_capture = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("dumpcap") is None or not Path("/sys/class/net/lo").exists(),
    reason="needs root, dumpcap and a loopback interface",
)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Traffic:
    """Sends FINS datagrams to 127.0.0.1:9600 and bulk TCP to a local listener until stopped."""

    def __init__(self, tcp_bytes: int = 4096) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.tcp_port = self.listener.getsockname()[1]
        self.udp_source = _free_port(socket.SOCK_DGRAM)
        self.tcp_bytes = tcp_bytes
        self.sent_datagrams = 0
        self.received = 0
        self.stop = threading.Event()

    def bpf(self) -> str:
        return f"(udp and port {self.udp_source}) or (tcp and port {self.tcp_port})"

    def _accept(self) -> None:
        while not self.stop.is_set():
            self.listener.settimeout(0.2)
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                while chunk := conn.recv(65536):
                    self.received += len(chunk)

    def run(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind(("127.0.0.1", self.udp_source))
        with sender, socket.create_connection(("127.0.0.1", self.tcp_port)) as stream:
            stream.sendall(os.urandom(self.tcp_bytes))
            while not self.stop.is_set():
                sender.sendto(FINS_READ, ("127.0.0.1", 9600))
                self.sent_datagrams += 1
                self.stop.wait(0.1)
        self.listener.close()


def _with_traffic(traffic: Traffic, work):
    thread = threading.Thread(target=traffic.run, daemon=True)
    holder: dict = {}

    def target() -> None:
        try:
            holder["result"] = work()
        except BaseException as exc:  # re-raised in the test thread
            holder["error"] = exc

    worker = threading.Thread(target=target)
    worker.start()
    time.sleep(1.0)  # let the capturer open the interface before the traffic starts
    thread.start()
    worker.join(timeout=60)
    traffic.stop.set()
    thread.join(timeout=10)
    if "error" in holder:
        raise holder["error"]
    return holder["result"]


@can_capture
def test_capture_on_loopback_writes_pcapng_with_the_traffic(tmp_path: Path) -> None:
    traffic = Traffic()
    output = tmp_path / "lo.pcapng"
    files = _with_traffic(
        traffic, lambda: live.capture("lo", output, duration=3, capture_filter=traffic.bpf())
    )
    assert files == [output]
    assert output.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # pcapng section header block
    evidence = analyze(files)
    fins = evidence.capture.protocols["fins"]
    assert fins.functions["cmd/0x0101"] >= 1
    assert fins.conversations == [("127.0.0.1", "127.0.0.1", 9600, "udp")]
    tcp_flows = [f for f in evidence.flows if f.transport == "tcp" and f.server_port == traffic.tcp_port]
    assert tcp_flows and tcp_flows[0].connections == 1
    assert sum(f.bytes for f in tcp_flows) >= traffic.tcp_bytes


@can_capture
def test_ring_buffer_rotates_by_size(tmp_path: Path) -> None:
    traffic = Traffic(tcp_bytes=6_000_000)  # several ring files
    output = tmp_path / "ring.pcapng"
    files = _with_traffic(
        traffic, lambda: live.capture("lo", output, duration=3, ring_size_mb=1, capture_filter=traffic.bpf())
    )
    assert len(files) >= 2
    assert all(p.name.startswith("ring_") and p.suffix == ".pcapng" for p in files)
    evidence = analyze(files)
    assert evidence.capture.protocols["fins"].pdus >= 1


@can_capture
def test_analyze_live_streams_the_ring_into_evidence() -> None:
    traffic = Traffic(tcp_bytes=6_000_000)
    evidence = _with_traffic(
        traffic, lambda: live.analyze_live("lo", duration=3, capture_filter=traffic.bpf(), ring_size_mb=1)
    )
    assert len(evidence.capture.files) >= 2  # analyzed file by file as the ring rotated
    assert all(f.format == "live" and f.path.startswith("live:lo:") for f in evidence.capture.files)
    assert evidence.capture.protocols["fins"].functions["cmd/0x0101"] >= 1
    assert any(f.protocol == "fins" and f.server_port == 9600 for f in evidence.flows)
