"""`icsaudit analyze`: --jobs gives the same evidence for any number; option errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from icsaudit.cli import main
from tests.data.craft import ACK, PSH, SYN, ether, ipv4, pcap, tcp


def modbus_capture(path: Path) -> Path:
    c, s = "10.0.0.1", "10.0.0.2"
    request = bytes.fromhex("000100000006010300000002")
    reply = bytes.fromhex("00010000000701030400010002")
    frames = [
        ether(ipv4(c, s, 6, tcp(40000, 502, 100, flags=SYN))),
        ether(ipv4(s, c, 6, tcp(502, 40000, 500, ack=101, flags=SYN | ACK))),
        ether(ipv4(c, s, 6, tcp(40000, 502, 101, request, ack=501, flags=ACK | PSH))),
        ether(ipv4(s, c, 6, tcp(502, 40000, 501, reply, ack=113, flags=ACK | PSH))),
        ether(ipv4("10.0.0.3", s, 6, tcp(40001, 502, 7, request, flags=ACK | PSH))),
    ]
    path.write_bytes(pcap([(1_700_000_000 + i * 0.01, f) for i, f in enumerate(frames)]))
    return path


def run(*args: str):
    return CliRunner().invoke(main, ["analyze", "-q", *args])


def test_jobs_do_not_change_the_evidence(tmp_path: Path) -> None:
    capture = modbus_capture(tmp_path / "m.pcap")
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"e{jobs}.json"
        result = run(str(capture), "-j", jobs, "-o", str(out))
        assert result.exit_code == 0, result.output
        data = json.loads(out.read_text())
        data.pop("generated_at", None)
        outputs.append(data)
    assert outputs[0] == outputs[1]
    assert outputs[0]["capture"]["protocols"]["modbus"]["pdus"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give capture files"),
        (["{cap}", "-i", "eth0", "--count", "5"], "not both"),
        (["-i", "eth0"], "needs a limit"),
        (["-i", "eth0", "--count", "5", "-j", "2"], "not to --iface"),
        (["{cap}", "--duration", "5"], "apply to live analysis"),
        (["{cap}", "--dask", "tcp://127.0.0.1:1", "-j", "2"], "--dask uses"),
        (["{cap}", "-j", "0"], "0"),
    ],
)
def test_option_errors(tmp_path: Path, args: list[str], message: str) -> None:
    capture = modbus_capture(tmp_path / "m.pcap")
    result = run(*(a.format(cap=capture) for a in args))
    assert result.exit_code == 2
    assert message in result.output


def test_help_has_an_example_per_mode() -> None:
    result = CliRunner().invoke(main, ["analyze", "--help"])
    assert result.exit_code == 0
    for example in ("-j 8", "--dask tcp://", "-i eth1 --duration", "-i eth1 --count"):
        assert example in result.output
