"""The guard: allowlist and zone rules (named in the refusal), minimum timeout, global rate cap
(proved on the transcript timestamps), one connection and one request per target, backoff without
retries, and discovery through the guard (nmap given exactly the allowed addresses)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import socket
from pathlib import Path

import pytest

from icsaudit.engine.site import parse_site
from icsaudit.errors import InputError, SafetyRefusal
from icsaudit.probes import discover as discovery
from icsaudit.probes.guard import (
    BURST_GAP,
    Guard,
    GuardViolation,
    ProbeStopped,
    RateLimiter,
    TargetPolicy,
    in_probe_window,
)
from icsaudit.probes.registry import parse_ports
from icsaudit.probes.run import make_target, run_probes
from tests.unit.test_probe_fakes import FakeTcpDevice, busiest_second, modbus_identity_reply

PROBES_DIR = Path(__file__).resolve().parents[2] / "icsaudit" / "probes"

SITE = """
name: Guard test works
profile: water-chlorine
do_not_probe: [127.0.62.9, 127.0.63.0/28]
zones:
  - {id: process, template: process, cidrs: [127.0.62.0/24]}
  - {id: dosing, template: chlorine, cidrs: [127.0.64.0/24]}
  - {id: hmi, template: scada, cidrs: [127.0.63.0/24], csl: 2}
  - {id: sis, template: process, cidrs: [127.0.65.0/24], safety: true}
  - {id: ops, template: operations, cidrs: [127.0.66.0/24], probe_allowed: false}
"""


@pytest.fixture
def site_policy(tmp_path: Path) -> TargetPolicy:
    path = tmp_path / "site.yaml"
    path.write_text(SITE)
    return TargetPolicy.from_site(parse_site(path))


def test_site_rules_are_named(site_policy: TargetPolicy) -> None:
    assert site_policy.refusal("127.0.62.10") is None
    assert "do-not-probe list" in site_policy.refusal("127.0.62.9")
    assert "do-not-probe list (127.0.63.0/28)" in site_policy.refusal("127.0.63.5")
    assert "CSL 2 (probes are never sent to CSL 1-2 zones)" in site_policy.refusal("127.0.63.20")
    assert "safety zone" in site_policy.refusal("127.0.65.1")
    assert "zone dosing: probe_allowed is false" in site_policy.refusal("127.0.64.1")
    assert "zone ops: probe_allowed is false" in site_policy.refusal("127.0.66.1")
    assert "no site zone that allows probing" in site_policy.refusal("127.0.99.1")
    assert "not a literal IP address" in site_policy.refusal("plc.example")


def test_target_narrows_the_site_and_never_widens_it(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE)
    policy = TargetPolicy.from_site(parse_site(path), "127.0.62.10,127.0.63.20,127.0.70.1")
    allowed, refused = policy.hosts()
    assert allowed == ["127.0.62.10"]
    assert {ip for ip, _ in refused} == {"127.0.63.20", "127.0.70.1"}
    assert policy.refusal("127.0.62.11") == "127.0.62.11 is outside the allowlist"


def test_target_allowlist_expands_and_refuses_what_is_outside() -> None:
    policy = TargetPolicy.from_targets("127.0.61.0/30,127.0.61.9")
    assert policy.hosts()[0] == ["127.0.61.1", "127.0.61.2", "127.0.61.9"]
    assert policy.refusal("127.0.61.10") == "127.0.61.10 is outside the allowlist"
    # production targets come only from the allowlist; checking one sends nothing
    assert TargetPolicy.from_targets("192.0.2.10").refusal("192.0.2.10") is None
    assert TargetPolicy.from_targets("192.0.2.10").refusal("192.0.2.11") is not None
    with pytest.raises(InputError, match="at most 4096"):
        TargetPolicy.from_targets("127.0.0.0/16").hosts()
    with pytest.raises(InputError, match="not an IP address"):
        TargetPolicy.from_targets("plc-1.example")


def test_refused_target_gets_no_connection(site_policy: TargetPolicy) -> None:
    device = FakeTcpDevice("127.0.63.20", modbus_identity_reply)
    try:
        guard = Guard(site_policy)
        with pytest.raises(SafetyRefusal, match="CSL 2"):
            guard.connect("127.0.63.20", device.port, "tcp", "modbus")
        assert device.connections == 0
        assert guard.transcript.records[-1]["event"] == "refused"
    finally:
        device.close()


def test_timeout_below_two_seconds_refused() -> None:
    with pytest.raises(InputError, match="below the 2 s minimum"):
        Guard(TargetPolicy.from_targets("127.0.61.1"), timeout=1.5)
    with pytest.raises(InputError, match="positive"):
        Guard(TargetPolicy.from_targets("127.0.61.1"), rate=0)


def test_one_connection_and_one_request_per_target() -> None:
    device = FakeTcpDevice("127.0.61.20", modbus_identity_reply)
    try:
        guard = Guard(TargetPolicy.from_targets("127.0.61.20"))
        with guard.connect("127.0.61.20", device.port, "tcp", "modbus") as conn:
            with pytest.raises(GuardViolation, match="one per target"):
                guard.connect("127.0.61.20", device.port, "tcp", "modbus")
            conn._in_flight = True  # as if a reply were outstanding
            with pytest.raises(GuardViolation, match="outstanding"):
                conn.request("modbus", b"\x00\x01\x00\x00\x00\x05\x01\x2b\x0e\x01\x00", None, "x")
            conn._in_flight = False
        assert device.settled_connections() == 1
        assert device.requests == []
    finally:
        device.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_limiter_allows_one_seconds_worth_as_a_spaced_burst_then_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    sent = [limiter.paced(clock) - 100.0 for _ in range(25)]
    # the first second's ten sends leave at once, BURST_GAP apart; the 11th waits for the 1st to age out
    assert sent[:10] == pytest.approx([i * BURST_GAP for i in range(10)])
    assert sent[10:20] == pytest.approx([1.0 + i * BURST_GAP for i in range(10)])
    assert sent[20] == pytest.approx(2.0)
    assert busiest_second(sent) == 10
    assert all(b - a >= BURST_GAP - 1e-9 for a, b in zip(sent, sent[1:], strict=False))


def test_rate_limiter_rounds_a_fractional_cap_down_and_spaces_slow_rates() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.5, clock=clock, sleep=clock.sleep)
    sent = [limiter.paced(clock) - 100.0 for _ in range(7)]
    assert busiest_second(sent) == 2  # a cap of 2.5 packets/s never lets 3 into one second
    clock = FakeClock()
    limiter = RateLimiter(0.5, clock=clock, sleep=clock.sleep)
    sent = [limiter.paced(clock) - 100.0 for _ in range(3)]
    assert sent == pytest.approx([0.0, 2.0, 4.0])  # below 1/s: one send per 1/rate seconds


def test_rate_cap_holds_on_the_transcript() -> None:
    devices = [FakeTcpDevice(f"127.0.61.{30 + i}", modbus_identity_reply) for i in range(4)]
    try:
        rate = 10.0  # 20 sends: the cap must hold back the second half
        guard = Guard(TargetPolicy.from_targets("127.0.61.30,127.0.61.31,127.0.61.32,127.0.61.33"), rate=rate)
        hosts = {d.address: parse_ports(f"{d.port}:modbus") for d in devices}
        report = run_probes(guard, hosts, lambda ip, spec: make_target(ip, spec, None, (1, 2), (), None))
        assert len(report.results) == 8  # 4 devices x 2 declared units
        sends = [r["ts"] for r in guard.transcript.records if r["event"] in ("connect", "request")]
        assert len(sends) == 4 * (1 + 2 * 2)
        # timestamps are taken inside each paced slot; a few ms allow for wall vs monotonic clock
        assert busiest_second(sends, 1.0 - 0.005) <= rate
        assert min(b - a for a, b in zip(sends, sends[1:], strict=False)) >= BURST_GAP * 0.9
        received = [ts for d in devices for ts, _ in d.requests]
        assert busiest_second(received) <= rate + 1  # device-side receive times jitter by a packet
    finally:
        for d in devices:
            d.close()


def test_exception_reply_backs_the_target_off_without_retry() -> None:
    def exception(request: bytes) -> bytes:
        return request[:4] + b"\x00\x03" + bytes((request[6], 0xAB, 0x01))

    device = FakeTcpDevice("127.0.61.40", exception)
    try:
        guard = Guard(TargetPolicy.from_targets("127.0.61.40"))
        hosts = {device.address: parse_ports(f"{device.port}:modbus,{device.port}:modbus")}
        report = run_probes(guard, hosts, lambda ip, spec: make_target(ip, spec, None, (1, 2, 3), (), None))
        assert report.results == []
        assert device.settled_connections() == 1 and len(device.requests) == 1
        assert "exception 1" in guard.backed_off["127.0.61.40"]
        assert any("stopped probing" in w for w in report.warnings)
        with pytest.raises(ProbeStopped, match="backed off"):
            guard.connect("127.0.61.40", device.port, "tcp", "modbus")
        assert device.settled_connections() == 1
    finally:
        device.close()


def test_probe_modules_never_touch_sockets() -> None:
    offenders = []
    for path in sorted(PROBES_DIR.glob("*.py")):
        if path.name == "guard.py":
            continue
        text = path.read_text()
        if (
            re.search(r"^\s*(import socket|from socket import)|\bsocket\.", text, re.M)
            or "subprocess" in text
        ):
            offenders.append(path.name)
    assert offenders == []


def test_probe_windows() -> None:
    saturday_3am = dt.datetime(2026, 11, 28, 3, 0)
    assert in_probe_window([], saturday_3am)
    assert in_probe_window(["Sat 02:00-04:00"], saturday_3am)
    assert not in_probe_window(["Sat 02:00-04:00"], saturday_3am.replace(hour=5))
    assert not in_probe_window(["Sun 02:00-04:00"], saturday_3am)
    assert in_probe_window(["daily 22:00-04:00"], saturday_3am)
    with pytest.raises(InputError, match="not like"):
        in_probe_window(["whenever"], saturday_3am)


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
def test_nmap_discovery_gets_exactly_the_allowed_addresses() -> None:
    device = FakeTcpDevice("127.0.61.51", modbus_identity_reply)
    try:
        policy = TargetPolicy.from_targets("127.0.61.48/29")
        policy.do_not_probe = [__import__("ipaddress").ip_network("127.0.61.50/32")]
        hosts, refused = policy.hosts()
        assert "127.0.61.50" not in hosts and refused[0][0] == "127.0.61.50"
        guard = Guard(policy, rate=50)
        found = discovery.discover(guard, hosts, [device.port], "nmap")
        assert found == {"127.0.61.51": {device.port}}
        call = next(r for r in guard.transcript.records if r["event"] == "discover")
        assert call["targets"] == hosts
        assert "-sT -Pn -n -T2 --max-retries 1 --max-rate 50" in call["note"]
        assert "/" not in call["note"].split(f"-p {device.port} ", 1)[1]  # single addresses, no range
        with pytest.raises(SafetyRefusal, match="do-not-probe"):
            discovery.discover(guard, ["127.0.61.50"], [device.port], "nmap")
    finally:
        device.close()


def test_connect_scan_discovery_through_the_guard() -> None:
    device = FakeTcpDevice("127.0.61.61", modbus_identity_reply)
    closed = socket.socket()
    closed.bind(("127.0.61.61", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        guard = Guard(TargetPolicy.from_targets("127.0.61.61"))
        found = discovery.discover(guard, ["127.0.61.61"], [device.port, closed_port], "connect")
        assert found == {"127.0.61.61": {device.port}}
        assert device.requests == []  # a connect scan sends no payload
        assert not guard.backed_off
    finally:
        device.close()
