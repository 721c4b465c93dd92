"""Merge several evidence documents into one.

The merge is associative and commutative: every table is keyed by a content-derived id, counters
add, times take min/max, provenance keeps the earliest reference, and capped lists keep the N
smallest items by a total order. Assets are not merged field by field: they are rebuilt from the
merged flows, identities and services by the inventory, which is a function of those tables.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

import msgspec

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

EVENTS_PER_KEY = 200  # events kept per (flow, kind, function); counts stay exact in flows
MAX_EVENTS = 50_000  # events kept in all, as one analysis of all the captures would keep
ERROR_SAMPLES = 50


def error_sample_order(error: DecodeError) -> tuple:
    return (error.file, error.frame, error.protocol, error.message)


def ref_order(ref: Ref | None) -> tuple:
    if ref is None:
        return (1, 0.0, "", 0, "")
    return (0, ref.ts, ref.file, ref.frame, ref.source)


def earliest_ref(a: Ref | None, b: Ref | None) -> Ref | None:
    return a if ref_order(a) <= ref_order(b) else b


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    total = Counter(a)
    total.update(b)
    return dict(sorted(total.items()))


def _min_opt(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _max_opt(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def merge_flow(a: Flow, b: Flow) -> Flow:
    return Flow(
        flow_id=a.flow_id,
        client_ip=a.client_ip,
        server_ip=a.server_ip,
        transport=a.transport,
        server_port=a.server_port,
        protocol=a.protocol,
        client_mac=max(a.client_mac, b.client_mac),
        server_mac=max(a.server_mac, b.server_mac),
        packets=a.packets + b.packets,
        bytes=a.bytes + b.bytes,
        connections=a.connections + b.connections,
        first_seen=min(a.first_seen, b.first_seen),
        last_seen=max(a.last_seen, b.last_seen),
        ops=_add_counts(a.ops, b.ops),
        functions=_add_counts(a.functions, b.functions),
        exceptions=a.exceptions + b.exceptions,
        first_ref=earliest_ref(a.first_ref, b.first_ref),
    )


def merge_service(a: Service, b: Service) -> Service:
    banner = max((a.banner, b.banner), key=lambda s: (len(s), s))
    details = dict(b.details)
    for key, value in a.details.items():
        other = details.get(key)
        details[key] = (
            value if other is None else max(value, other, key=lambda v: json.dumps(v, sort_keys=True))
        )
    return Service(
        service_id=a.service_id,
        asset_id=a.asset_id,
        ip=a.ip,
        transport=a.transport,
        port=a.port,
        protocol=a.protocol,
        banner=banner,
        details=dict(sorted(details.items())),
        first_seen=min(a.first_seen, b.first_seen),
        last_seen=max(a.last_seen, b.last_seen),
        ref=earliest_ref(a.ref, b.ref),
    )


def _total_key(obj: object) -> bytes:
    """A total order on structs, to break ties so that merging never depends on argument order."""
    return msgspec.json.encode(obj, order="sorted")


def merge_identity(a: Identity, b: Identity) -> Identity:
    return min(a, b, key=lambda i: (ref_order(i.ref), _total_key(i)))


def _identity_key(obj: dict) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def merge_protocol_stats(a: ProtocolStats, b: ProtocolStats) -> ProtocolStats:
    identities = {_identity_key(i): i for i in (*a.identities, *b.identities)}
    return ProtocolStats(
        frames=a.frames + b.frames,
        pdus=a.pdus + b.pdus,
        functions=_add_counts(a.functions, b.functions),
        conversations=sorted({tuple(c) for c in (*a.conversations, *b.conversations)}),
        identities=[identities[k] for k in sorted(identities)],
    )


def _file_key(f: CaptureFile) -> tuple:
    return (f.sha256, f.path)


def merge_capture(a: Capture, b: Capture) -> Capture:
    files = {_file_key(f): f for f in a.files}
    for f in b.files:
        known = files.get(_file_key(f))
        files[_file_key(f)] = f if known is None else min(known, f, key=_total_key)
    protocols = dict(a.protocols)
    for name, stats in b.protocols.items():
        protocols[name] = merge_protocol_stats(protocols[name], stats) if name in protocols else stats
    # A multiset, like the decode_errors count beside it: two parts never hold the same error.
    samples = sorted((*a.decode_error_samples, *b.decode_error_samples), key=error_sample_order)[
        :ERROR_SAMPLES
    ]
    return Capture(
        files=[files[k] for k in sorted(files)],
        packets=a.packets + b.packets,
        bytes=a.bytes + b.bytes,
        first_ts=_min_opt(a.first_ts, b.first_ts),
        last_ts=_max_opt(a.last_ts, b.last_ts),
        decode_errors=a.decode_errors + b.decode_errors,
        decode_error_samples=samples,
        tcp_gaps=a.tcp_gaps + b.tcp_gaps,
        tcp_gap_bytes=a.tcp_gap_bytes + b.tcp_gap_bytes,
        ip_fragments_incomplete=a.ip_fragments_incomplete + b.ip_fragments_incomplete,
        flows_expired=a.flows_expired + b.flows_expired,
        events_dropped=a.events_dropped + b.events_dropped,
        identities_dropped=a.identities_dropped + b.identities_dropped,
        sources=sorted(set(a.sources) | set(b.sources)),
        protocols=dict(sorted(protocols.items())),
    )


def _merge_keyed(items_a: Iterable, items_b: Iterable, key: str, combine) -> list:
    merged: dict[str, object] = {}
    for item in (*items_a, *items_b):
        k = getattr(item, key)
        merged[k] = combine(merged[k], item) if k in merged else item
    return [merged[k] for k in sorted(merged)]


def cap_events(
    events: Iterable[Event], per_key: int = EVENTS_PER_KEY, max_events: int = MAX_EVENTS
) -> list[Event]:
    """Keep the earliest ``per_key`` events per (flow, kind, function) and ``max_events`` in all, by a
    total order (the K smallest of a union: merging stays associative), as the recorder keeps them."""
    unique: dict[str, Event] = {}
    for event in events:
        known = unique.get(event.event_id)
        unique[event.event_id] = event if known is None else min(known, event, key=_total_key)
    ordered = sorted(unique.values(), key=lambda e: (ref_order(e.ref), e.event_id))
    kept: list[Event] = []
    seen: Counter[tuple[str, str, str]] = Counter()
    for event in ordered:
        group = (event.flow_id, event.kind, event.function)
        if seen[group] < per_key:
            seen[group] += 1
            kept.append(event)
            if len(kept) == max_events:
                break
    return kept


def merge_two(
    a: Evidence, b: Evidence, *, per_key: int = EVENTS_PER_KEY, max_events: int = MAX_EVENTS
) -> Evidence:
    """Merge two evidence documents without rebuilding assets (see merge_evidence).

    Counters add, so the parts must be distinct observations (other captures, or other flow shares of
    one capture: their common capture files count once); events the caps drop here are counted in
    ``events_dropped``, as the recorder counts those it drops."""
    capture = merge_capture(a.capture, b.capture)
    candidates = {e.event_id for e in a.events} | {e.event_id for e in b.events}
    events = cap_events((*a.events, *b.events), per_key, max_events)
    capture.events_dropped += len(candidates) - len(events)
    return Evidence(
        schema_version=a.schema_version,
        generator=max(a.generator, b.generator),
        capture=capture,
        flows=_merge_keyed(a.flows, b.flows, "flow_id", merge_flow),
        services=_merge_keyed(a.services, b.services, "service_id", merge_service),
        identities=_merge_keyed(a.identities, b.identities, "identity_id", merge_identity),
        events=events,
        assets=[],
    )


def merge_evidence(parts: Iterable[Evidence]) -> Evidence:
    """Merge any number of evidence documents (streaming: holds one accumulator and one part)."""
    from icsaudit.passive.inventory import build_assets

    merged: Evidence | None = None
    for part in parts:
        merged = part if merged is None else merge_two(merged, part)
    if merged is None:
        merged = Evidence()
    merged = msgspec.structs.replace(merged, assets=[])
    merged.assets = build_assets(merged)
    return merged
