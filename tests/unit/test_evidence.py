"""The evidence contract: checked-in schema equals the model's, analyze output validates, writes are
atomic, merge is associative and commutative, load errors name the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icsaudit.cli import main
from icsaudit.errors import InputError
from icsaudit.evidence import load_evidence, merge_evidence, save_evidence
from icsaudit.evidence.model import (
    Capture,
    CaptureFile,
    DecodeError,
    Event,
    Evidence,
    Flow,
    Identity,
    ProtocolStats,
    Ref,
    Service,
)
from icsaudit.evidence.schema import SCHEMA_PATH, schema_bytes, validation_errors
from icsaudit.ids import digest_id
from icsaudit.passive.session import flow_id_for
from tests.data.craft import ACK, PSH, SYN, ether, ipv4, pcap, tcp, udp


def test_checked_in_schema_equals_the_generated_one() -> None:
    assert SCHEMA_PATH.read_bytes() == schema_bytes(), "run: python -m icsaudit.evidence.schema"


def test_schema_rejects_what_the_model_rejects() -> None:
    good = json.loads(msgspec.json.encode(Evidence()))
    assert validation_errors(good) == []
    bad = dict(good, flows=[{"flow_id": "x", "client_ip": "a", "server_ip": "b", "transport": "tcp"}])
    errors = validation_errors(bad)
    assert errors and any("server_port" in e for e in errors)


def _capture_with_traffic(path: Path) -> Path:
    frames = [
        ether(ipv4("10.0.0.5", "10.0.0.9", 6, tcp(40000, 502, 100, flags=SYN))),
        ether(ipv4("10.0.0.9", "10.0.0.5", 6, tcp(502, 40000, 900, ack=101, flags=SYN | ACK))),
        # Modbus write single register (FC 6), then its echo
        ether(
            ipv4(
                "10.0.0.5",
                "10.0.0.9",
                6,
                tcp(40000, 502, 101, bytes.fromhex("000100000006010600100001"), flags=ACK | PSH),
            )
        ),
        ether(
            ipv4(
                "10.0.0.9",
                "10.0.0.5",
                6,
                tcp(502, 40000, 901, bytes.fromhex("000100000006010600100001"), flags=ACK | PSH),
            )
        ),
        ether(
            ipv4(
                "10.0.0.5",
                "10.0.0.255",
                17,
                udp(47808, 47808, b"\x81\x0b\x00\x0c\x01\x20\xff\xff\x00\xff\x10\x08"),
            )
        ),
    ]
    path.write_bytes(pcap([(1_700_000_000 + i, f) for i, f in enumerate(frames)]))
    return path


def test_analyze_output_validates_against_the_schema(tmp_path: Path) -> None:
    capture = _capture_with_traffic(tmp_path / "plant.pcap")
    out = tmp_path / "evidence.json"
    result = CliRunner().invoke(main, ["analyze", "-q", str(capture), "-o", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["flows"] and document["assets"]
    assert validation_errors(document) == []


def test_analyze_output_of_a_corpus_capture_validates(tmp_path: Path, corpus_dir: Path) -> None:
    captures = sorted((corpus_dir / "pcaps" / "modbus").glob("*"))[:3]
    out = tmp_path / "evidence.json"
    result = CliRunner().invoke(main, ["analyze", "-q", *map(str, captures), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert validation_errors(json.loads(out.read_text())) == []


def test_atomic_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "evidence.json"
    save_evidence(Evidence(generator="first"), target)
    before = target.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        save_evidence(Evidence(generator="second", flows=[]), target)
    assert target.read_bytes() == before  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["evidence.json"]  # no temporary left behind
    monkeypatch.undo()
    with pytest.raises(TypeError):
        save_evidence({"not": object()}, tmp_path / "new.json")  # type: ignore[arg-type]
    assert not (tmp_path / "new.json").exists()


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    cases = {
        "garbage.json": b"{not json",
        "wrong-type.json": b'{"flows": "many"}',
        "old-major.json": b'{"schema_version": "0.9"}',
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InputError) as info:
            load_evidence(path)
        assert str(path) in info.value.message
    with pytest.raises(InputError, match="wrong-type.json: not valid evidence: .*flows"):
        load_evidence(tmp_path / "wrong-type.json")
    with pytest.raises(InputError, match="missing.json: cannot read evidence"):
        load_evidence(tmp_path / "missing.json")
    save_evidence(Evidence(generator="x"), tmp_path / "ok.json")
    assert load_evidence(tmp_path / "ok.json").generator == "x"


# -- merge properties ---------------------------------------------------------------------------
IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
PROTOCOLS = ["modbus", "s7comm", "dnp3"]
refs = st.builds(
    Ref,
    source=st.sampled_from(["passive:modbus", "probe:s7"]),
    file=st.sampled_from(["a", "b"]),
    frame=st.integers(1, 4),
    ts=st.sampled_from([1.0, 2.0, 3.0]),
)
counts = st.dictionaries(st.sampled_from(["read", "write", "fc3", "fc6"]), st.integers(0, 5), max_size=3)


@st.composite
def flows(draw) -> Flow:
    client, server = draw(st.sampled_from(IPS)), draw(st.sampled_from(IPS))
    protocol = draw(st.sampled_from(PROTOCOLS))
    first = draw(st.sampled_from([1.0, 2.0, 3.0]))
    return Flow(
        flow_id=flow_id_for(client, server, "tcp", 502, protocol),
        client_ip=client,
        server_ip=server,
        transport="tcp",
        server_port=502,
        protocol=protocol,
        client_mac=draw(st.sampled_from(["", "00:1b:1b:00:00:01", "00:1b:1b:00:00:02"])),
        packets=draw(st.integers(0, 9)),
        bytes=draw(st.integers(0, 999)),
        connections=draw(st.integers(0, 3)),
        first_seen=first,
        last_seen=first + draw(st.integers(0, 2)),
        ops=draw(counts),
        functions=draw(counts),
        exceptions=draw(st.integers(0, 2)),
        first_ref=draw(refs),
    )


@st.composite
def identities(draw) -> Identity:
    # Few distinct ids, so that parts often hold the same identity seen differently (the case merge must order).
    ip, protocol = draw(st.sampled_from(IPS[:2])), draw(st.sampled_from(PROTOCOLS[:1]))
    fields = draw(st.sampled_from([{"vendor": "A"}, {"vendor": "A", "model": "B"}]))
    return Identity(
        identity_id=digest_id(ip, protocol, json.dumps(fields, sort_keys=True)),
        asset_id=ip,
        ip=ip,
        protocol=protocol,
        fields=fields,
        raw=draw(st.sampled_from([{}, {"x": 1}])),
        confidence=draw(st.sampled_from(["high", "medium"])),
        ref=draw(refs),
    )


@st.composite
def services(draw) -> Service:
    ip, protocol = draw(st.sampled_from(IPS)), draw(st.sampled_from(PROTOCOLS))
    first = draw(st.sampled_from([1.0, 2.0]))
    return Service(
        service_id=digest_id(ip, "tcp", 502, protocol),
        asset_id=ip,
        ip=ip,
        transport="tcp",
        port=502,
        protocol=protocol,
        banner=draw(st.sampled_from(["", "v1", "v22"])),
        details=draw(
            st.dictionaries(st.sampled_from(["tls", "mode"]), st.sampled_from(["a", "b"]), max_size=2)
        ),
        first_seen=first,
        last_seen=first + 1,
        ref=draw(refs),
    )


@st.composite
def events(draw) -> Event:
    flow = draw(flows())
    kind = draw(st.sampled_from(["write", "mode"]))
    ref = draw(refs)
    return Event(
        event_id=digest_id(flow.flow_id, ref.file, ref.frame, kind),
        kind=kind,
        category=kind,
        protocol=flow.protocol,
        function=draw(st.sampled_from(["fc6", "fc16"])),
        client_ip=flow.client_ip,
        server_ip=flow.server_ip,
        server_port=502,
        flow_id=flow.flow_id,
        detail=draw(st.sampled_from([{}, {"address": 16}])),
        ref=ref,
    )


@st.composite
def captures(draw) -> Capture:
    names = draw(st.lists(st.sampled_from(["x.pcap", "y.pcap", "z.pcap"]), unique=True, max_size=2))
    files = [
        CaptureFile(path=n, sha256=digest_id(n), packets=len(n), first_ts=1.0, last_ts=2.0) for n in names
    ]
    first = draw(st.one_of(st.none(), st.sampled_from([1.0, 2.0])))
    protocols = draw(
        st.dictionaries(
            st.sampled_from(PROTOCOLS),
            st.builds(
                ProtocolStats,
                frames=st.integers(0, 3),
                pdus=st.integers(0, 3),
                functions=counts,
                conversations=st.lists(
                    st.tuples(st.sampled_from(IPS), st.sampled_from(IPS), st.just(502), st.just("tcp")),
                    max_size=2,
                ),
                identities=st.lists(
                    st.sampled_from([{"vendor": "A"}, {"vendor": "B"}]), max_size=2, unique_by=str
                ),
            ),
            max_size=2,
        )
    )
    return Capture(
        files=files,
        packets=draw(st.integers(0, 50)),
        bytes=draw(st.integers(0, 500)),
        first_ts=first,
        last_ts=None if first is None else first + 1,
        decode_errors=draw(st.integers(0, 3)),
        decode_error_samples=draw(
            st.lists(
                st.builds(
                    DecodeError,
                    protocol=st.sampled_from(PROTOCOLS),
                    message=st.sampled_from(["short", "bad fc"]),
                    file=st.just("x.pcap"),
                    frame=st.integers(1, 3),
                ),
                max_size=2,
            )
        ),
        tcp_gaps=draw(st.integers(0, 2)),
        flows_expired=draw(st.integers(0, 2)),
        sources=draw(st.lists(st.sampled_from(["passive", "probe:s7"]), unique=True, max_size=2)),
        protocols=protocols,
    )


@st.composite
def evidences(draw) -> Evidence:
    # A part never holds two records with the same id (the recorder keys them): de-duplicate like it does.
    def unique(items: list, key: str) -> list:
        return sorted({getattr(i, key): i for i in items}.values(), key=lambda i: getattr(i, key))

    return Evidence(
        generator="icsaudit test",
        capture=draw(captures()),
        flows=unique(draw(st.lists(flows(), max_size=4)), "flow_id"),
        services=unique(draw(st.lists(services(), max_size=2)), "service_id"),
        identities=unique(draw(st.lists(identities(), max_size=3)), "identity_id"),
        events=unique(draw(st.lists(events(), max_size=3)), "event_id"),
    )


def _encode(evidence: Evidence) -> bytes:
    return msgspec.json.encode(evidence, order="sorted")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evidences(), evidences(), evidences())
def test_merge_is_associative_and_commutative(a: Evidence, b: Evidence, c: Evidence) -> None:
    left = merge_evidence([merge_evidence([a, b]), c])
    right = merge_evidence([a, merge_evidence([b, c])])
    assert _encode(left) == _encode(right)
    assert _encode(merge_evidence([a, b])) == _encode(merge_evidence([b, a]))
    assert _encode(merge_evidence([a, b, c])) == _encode(merge_evidence([c, a, b]))
    merged = merge_evidence([a, b, c])
    assert merged.capture.packets == a.capture.packets + b.capture.packets + c.capture.packets
    assert validation_errors(json.loads(_encode(merged))) == []
