"""Merge properties the parallel and Dask reductions rely on: any grouping or order of the parts gives
the same evidence, the caps keep what one analysis would keep (and count the rest), capture facts are
carried, and merging a stream holds one accumulator and one part."""

from __future__ import annotations

import gc
import json
from collections import Counter

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icsaudit.evidence import merge as merge_module
from icsaudit.evidence.merge import ERROR_SAMPLES, cap_events, merge_evidence, merge_two
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
)
from icsaudit.ids import digest_id
from icsaudit.passive.session import MAX_EVENTS

IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
PER_KEY, MAX_TOTAL = 2, 5  # small caps so that a few events go over them
refs = st.builds(
    Ref,
    source=st.sampled_from(["passive:modbus", "passive:s7comm"]),
    file=st.sampled_from(["a.pcap", "b.pcap"]),
    frame=st.integers(1, 6),
    ts=st.sampled_from([1.0, 2.0, 3.0, 4.0]),
)


def _flow_id(client: str, server: str) -> str:
    return digest_id(client, server, "tcp", 502, "modbus")


flows = st.builds(
    lambda c, s, packets, first, ops, ref: Flow(
        flow_id=_flow_id(c, s), client_ip=c, server_ip=s, transport="tcp", server_port=502,
        protocol="modbus", packets=packets, bytes=packets * 60, connections=1, first_seen=first,
        last_seen=first + 1, ops=ops, first_ref=ref,
    ),
    st.sampled_from(IPS), st.sampled_from(IPS), st.integers(1, 9), st.sampled_from([1.0, 2.0]),
    st.dictionaries(st.sampled_from(["read", "write"]), st.integers(1, 4), max_size=2), refs,
)  # fmt: skip
identities = st.builds(
    lambda ip, vendor, ref, confidence: Identity(
        identity_id=digest_id(ip, "modbus", vendor), asset_id=ip, ip=ip, protocol="modbus",
        fields={"vendor": vendor}, confidence=confidence, ref=ref,
    ),
    st.sampled_from(IPS[:2]), st.sampled_from(["Acme", "Bolt"]), refs, st.sampled_from(["high", "medium"]),
)  # fmt: skip


@st.composite
def capture_facts(draw) -> Capture:
    names = draw(st.lists(st.sampled_from(["x.pcap", "y.pcap"]), unique=True, max_size=2))
    first = draw(st.one_of(st.none(), st.sampled_from([1.0, 2.0])))
    return Capture(
        files=[CaptureFile(path=n, sha256=digest_id(n), packets=7, first_ts=1.0, last_ts=2.0) for n in names],
        packets=draw(st.integers(0, 50)),
        bytes=draw(st.integers(0, 500)),
        first_ts=first,
        last_ts=None if first is None else first + draw(st.integers(0, 3)),
        decode_errors=draw(st.integers(0, 3)),
        decode_error_samples=draw(
            st.lists(
                st.builds(DecodeError, protocol=st.sampled_from(["modbus", "dnp3"]), message=st.just("short"),
                          file=st.sampled_from(["x.pcap", "y.pcap"]), frame=st.integers(1, 40)),
                max_size=ERROR_SAMPLES + 5,
            )
        ),
        tcp_gaps=draw(st.integers(0, 2)),
        tcp_gap_bytes=draw(st.integers(0, 99)),
        ip_fragments_incomplete=draw(st.integers(0, 2)),
        flows_expired=draw(st.integers(0, 2)),
        events_dropped=draw(st.integers(0, 2)),
        sources=["passive"],
        protocols=draw(
            st.dictionaries(
                st.sampled_from(["modbus", "dnp3"]),
                st.builds(ProtocolStats, frames=st.integers(0, 3), pdus=st.integers(0, 3),
                          functions=st.dictionaries(st.sampled_from(["fc3", "fc6"]), st.integers(1, 3))),
                max_size=2,
            )
        ),
    )  # fmt: skip


@st.composite
def parts(draw, count: int = 3) -> list[Evidence]:
    """``count`` evidences. Flows, identities and files overlap between parts (the same conversation,
    device or capture seen in several parts); events are distinct observations, spread over parts,
    several per (flow, kind, function) so that the caps bite."""
    events = []
    for n in range(draw(st.integers(0, 12))):
        client, server = draw(st.sampled_from(IPS)), draw(st.sampled_from(IPS[:1]))
        kind = draw(st.sampled_from(["write", "mode"]))
        events.append(
            Event(event_id=f"e{n:02d}", kind=kind, category=kind, protocol="modbus",
                  function=draw(st.sampled_from(["fc6", "fc16"])), client_ip=client, server_ip=server,
                  server_port=502, flow_id=_flow_id(client, server), ref=draw(refs))
        )  # fmt: skip
    owner = [draw(st.integers(0, count - 1)) for _ in events]

    def unique(items: list, key: str) -> list:
        return sorted({getattr(i, key): i for i in items}.values(), key=lambda i: getattr(i, key))

    result = []
    for index in range(count):
        mine = [e for e, o in zip(events, owner, strict=True) if o == index]
        kept = cap_events(mine, PER_KEY, MAX_TOTAL)  # each part was capped by its own recorder
        capture = draw(capture_facts())
        capture.events_dropped += len(mine) - len(kept)
        result.append(
            Evidence(
                generator="icsaudit test",
                capture=capture,
                flows=unique(draw(st.lists(flows, max_size=4)), "flow_id"),
                identities=unique(draw(st.lists(identities, max_size=3)), "identity_id"),
                events=kept,
            )
        )
    result.append(events)  # the oracle's input, popped by the tests
    return result


def merge(a: Evidence, b: Evidence) -> Evidence:
    return merge_two(a, b, per_key=PER_KEY, max_events=MAX_TOTAL)


def encoded(evidence: Evidence) -> bytes:
    return msgspec.json.encode(evidence, order="sorted")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts())
def test_any_grouping_and_order_gives_the_same_evidence(drawn: list) -> None:
    all_events = drawn.pop()
    a, b, c = drawn
    left, right = merge(merge(a, b), c), merge(a, merge(b, c))
    assert encoded(left) == encoded(right)
    assert encoded(merge(a, b)) == encoded(merge(b, a))
    assert encoded(merge(merge(c, a), b)) == encoded(left)
    # The caps keep what one recorder over all the events would keep, and count the rest.
    assert [e.event_id for e in left.events] == [
        e.event_id for e in cap_events(all_events, PER_KEY, MAX_TOTAL)
    ]
    dropped_in_parts = sum(p.capture.events_dropped for p in drawn)
    assert left.capture.events_dropped == dropped_in_parts + sum(len(p.events) for p in drawn) - len(
        left.events
    )
    assert len(left.events) <= MAX_TOTAL
    assert max(Counter((e.flow_id, e.kind, e.function) for e in left.events).values(), default=0) <= PER_KEY


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts())
def test_capture_facts_are_carried(drawn: list) -> None:
    drawn.pop()
    merged = merge(merge(drawn[0], drawn[1]), drawn[2])
    capture, captures = merged.capture, [p.capture for p in drawn]
    for counter in ("packets", "bytes", "decode_errors", "tcp_gaps", "tcp_gap_bytes", "ip_fragments_incomplete",
                    "flows_expired"):  # fmt: skip
        assert getattr(capture, counter) == sum(getattr(c, counter) for c in captures), counter
    assert {f.path for f in capture.files} == {f.path for c in captures for f in c.files}
    assert len(capture.files) == len(
        {f.path for f in capture.files}
    )  # a file read by several parts counts once
    starts = [c.first_ts for c in captures if c.first_ts is not None]
    assert capture.first_ts == (min(starts) if starts else None)
    samples = sorted(
        (s for c in captures for s in c.decode_error_samples),
        key=lambda e: (e.file, e.frame, e.protocol, e.message),
    )
    assert capture.decode_error_samples == samples[:ERROR_SAMPLES]
    for name in {n for c in captures for n in c.protocols}:
        stats = [c.protocols[name] for c in captures if name in c.protocols]
        assert capture.protocols[name].pdus == sum(s.pdus for s in stats)
        assert capture.protocols[name].frames == sum(s.frames for s in stats)
        assert sum(capture.protocols[name].functions.values()) == sum(
            sum(s.functions.values()) for s in stats
        )
    flows = {f.flow_id: f for f in merged.flows}
    for flow_id, flow in flows.items():
        seen = [f for p in drawn for f in p.flows if f.flow_id == flow_id]
        assert flow.packets == sum(f.packets for f in seen)
        assert flow.first_ref == min(
            (f.first_ref for f in seen), key=lambda r: (r.ts, r.file, r.frame, r.source)
        )


def test_merge_caps_match_the_recorder() -> None:
    assert merge_module.MAX_EVENTS == MAX_EVENTS  # one analysis and a merge of its parts keep as many


def test_merging_a_stream_holds_one_accumulator_and_one_part() -> None:
    """merge_evidence over a generator: when part k is produced, parts before k-1 are garbage."""
    live_at_yield: list[int] = []

    def tagged_parts_alive() -> int:
        gc.collect()
        return sum(
            1
            for obj in gc.get_objects()
            if isinstance(obj, Evidence)
            and len(obj.capture.sources) == 1
            and obj.capture.sources[0].startswith("part-")
        )

    def stream():
        for index in range(20):
            live_at_yield.append(tagged_parts_alive())
            flow = Flow(flow_id=f"f{index}", client_ip="10.0.0.1", server_ip="10.0.0.2", transport="tcp",
                        server_port=502, protocol="modbus", packets=1)  # fmt: skip
            yield Evidence(capture=Capture(packets=1, sources=[f"part-{index}"]), flows=[flow])

    merged = merge_evidence(stream())
    assert merged.capture.packets == 20 and len(merged.flows) == 20
    # The part just merged is still referenced (so the count sees parts at all); no older one is.
    assert live_at_yield[0] == 0 and max(live_at_yield[1:]) == 1, live_at_yield
    assert json.loads(msgspec.json.encode(merged))["capture"]["sources"][0] == "part-0"
