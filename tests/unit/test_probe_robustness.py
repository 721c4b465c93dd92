"""Fake devices on 127.x that answer garbage, truncated, oversized or slow replies, or hang up:
the prober never crashes, never retries (connections and requests counted at the device), records
one warning and backs the target off, so later services of the same host are left alone."""

from __future__ import annotations

import os
import struct

import pytest

from icsaudit.probes.guard import Guard, TargetPolicy
from icsaudit.probes.registry import parse_ports
from icsaudit.probes.run import make_target, run_probes
from tests.unit.test_probe_fakes import (
    FakeTcpDevice,
    FakeUdpDevice,
    HandshakeBlackhole,
    modbus_identity_reply,
)


def garbage(_request: bytes) -> bytes:
    return os.urandom(300)


def truncated_modbus(request: bytes) -> bytes:
    return request[:4] + b"\x00\x40" + bytes((request[6], 0x2B, 0x0E))  # announces 64 bytes, sends 3


def oversized_opcua(_request: bytes) -> bytes:
    return b"ACKF" + struct.pack("<I", 50_000_000) + bytes(20)


def silent(_request: bytes) -> None:
    return None


def garbage_tpkt(_request: bytes) -> bytes:
    return b"\x03\x00\x00\x0b\x02\xf0\x80" + b"\xff\xff\xff\xff"  # S7 header cut short


def short_enip_item(request: bytes) -> bytes:
    item = struct.pack("<HH", 0x0C, 40) + bytes(12)  # announces 40 bytes of identity, carries 12
    payload = struct.pack("<H", 1) + item
    return struct.pack("<HHII8sI", 0x63, len(payload), 0, 0, request[12:20], 0) + payload


CASES = [
    ("127.0.62.11", "modbus", garbage, "malformed"),
    ("127.0.62.12", "modbus", truncated_modbus, "reply timeout"),
    ("127.0.62.13", "opcua", oversized_opcua, "oversized"),
    ("127.0.62.14", "s7", silent, "reply timeout"),
    ("127.0.62.15", "s7", garbage_tpkt, "COTP connection refused"),
    ("127.0.62.16", "enip", short_enip_item, "malformed"),
    ("127.0.62.17", "iec104", garbage, "malformed"),
    ("127.0.62.18", "dnp3", garbage, "malformed"),
    ("127.0.62.19", "http", garbage, "closed"),
]


@pytest.fixture(scope="module")
def bad_devices():
    """Every bad device plus a healthy-looking second service on the same host, probed in one run."""
    devices = {}
    for address, probe, behaviour, _ in CASES:
        close_after = probe == "http"
        devices[address] = (
            FakeTcpDevice(address, behaviour, close_after=close_after),
            FakeTcpDevice(address, garbage),
        )
    guard = Guard(TargetPolicy.from_targets(",".join(devices)), rate=50)
    hosts = {
        address: parse_ports(f"{bad.port}:{probe},{second.port}:modbus")
        for (address, probe, _b, _w), (bad, second) in zip(CASES, devices.values(), strict=True)
    }
    report = run_probes(guard, hosts, lambda ip, spec: make_target(ip, spec, None, (1,), (10,), None))
    yield guard, report, devices
    for bad, second in devices.values():
        bad.close()
        second.close()


@pytest.mark.parametrize(("address", "probe", "why"), [(a, p, w) for a, p, _b, w in CASES])
def test_bad_reply_means_one_request_no_retry_and_backoff(
    bad_devices, address: str, probe: str, why: str
) -> None:
    guard, report, devices = bad_devices
    bad, second = devices[address]
    assert bad.settled_connections() == 1
    assert len(bad.requests) == 1, [r.hex() for _, r in bad.requests]
    assert second.settled_connections() == 0 and second.requests == []  # the backed-off host is left alone
    assert why in guard.backed_off[address]
    warnings = [w for w in report.warnings if w.startswith(f"{address}:")]
    assert len(warnings) == 1 and why in warnings[0]


def test_no_results_from_bad_devices(bad_devices) -> None:
    _guard, report, _devices = bad_devices
    assert report.results == []


def test_udp_garbage_and_silence() -> None:
    noisy = FakeUdpDevice("127.0.62.31", garbage)
    quiet = FakeUdpDevice("127.0.62.32", silent)
    try:
        guard = Guard(TargetPolicy.from_targets("127.0.62.31,127.0.62.32"))
        hosts = {
            "127.0.62.31": parse_ports(f"{noisy.port}:bacnet"),
            "127.0.62.32": parse_ports(f"{quiet.port}:bacnet"),
        }
        report = run_probes(guard, hosts, lambda ip, spec: make_target(ip, spec, None, (1,), (), None))
        assert report.results == []
        assert len(noisy.requests) == 1 and len(quiet.requests) == 1
        assert "malformed" in guard.backed_off["127.0.62.31"]
        assert "reply timeout" in guard.backed_off["127.0.62.32"]
    finally:
        noisy.close()
        quiet.close()


def test_closed_and_unreachable_ports_are_recorded_and_the_run_goes_on() -> None:
    device = FakeTcpDevice("127.0.62.41", lambda r: r[:4] + b"\x00\x03" + bytes((r[6], 0xAB, 1)))
    try:
        guard = Guard(TargetPolicy.from_targets("127.0.62.41,127.0.62.42"))
        hosts = {
            "127.0.62.42": parse_ports("1:modbus,2:s7"),
            "127.0.62.41": parse_ports(f"{device.port}:modbus"),
        }
        report = run_probes(guard, hosts, lambda ip, spec: make_target(ip, spec, None, (1,), (), None))
        assert ("127.0.62.42", 1) in report.closed and ("127.0.62.42", 2) in report.closed
        assert "127.0.62.42" not in guard.backed_off  # a closed port is not a device error
        assert len(device.requests) == 1
    finally:
        device.close()


def test_a_handshake_that_never_completes_holds_up_only_its_own_target() -> None:
    """The SYN is paced under the global rate lock, the handshake is awaited outside it: while one
    target's connect waits out its timeout, the other target is probed to the end."""
    hole = HandshakeBlackhole("127.0.61.90")
    device = FakeTcpDevice("127.0.61.91", modbus_identity_reply)
    try:
        guard = Guard(TargetPolicy.from_targets("127.0.61.90,127.0.61.91"), rate=50)
        hosts = {
            hole.address: parse_ports(f"{hole.port}:modbus"),
            device.address: parse_ports(f"{device.port}:modbus"),
        }
        report = run_probes(guard, hosts, lambda ip, spec: make_target(ip, spec, None, (1,), (), None))
        assert [r.ip for r in report.results] == [device.address]
        assert guard.backed_off == {hole.address: "connect timeout"}
        records = guard.transcript.records
        gave_up = next(r["line"] for r in records if r["event"] == "unreachable")
        done = [r["line"] for r in records if r["target"] == device.address and r["event"] == "close"]
        assert done and done[0] < gave_up  # the identified device finished while the other one waited
        assert len(device.requests) == 2  # basic and regular objects, unaffected
    finally:
        hole.close()
        device.close()
