"""The recorder (evidence under construction) and the per-flow session dissectors report through."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

from icsaudit.evidence.merge import (
    ERROR_SAMPLES,
    EVENTS_PER_KEY,
    error_sample_order,
    merge_identity,
    merge_service,
)
from icsaudit.evidence.model import (
    DecodeError,
    Event,
    Flow,
    Identity,
    ProtocolStats,
    Ref,
    Service,
)
from icsaudit.ids import digest_id

MAX_CONVERSATIONS = 200_000  # per protocol, for --stats-json; beyond it they are counted, not listed
# Memory stays flat whatever the capture size: beyond these, events and identity statements are counted
# as dropped (operation counts in flows stay exact). Real devices repeat the same identity, so the
# identity cap only bites on fuzzed or hostile traffic.
MAX_EVENTS = 50_000
MAX_IDENTITIES = 20_000
MAX_IDENTITY_CALLS = 50_000  # distinct identity() calls remembered to skip repeats


def _canonical(raw: dict[str, Any]) -> str:
    """The key of a raw identity object in the protocol statistics."""
    return json.dumps(raw, sort_keys=True, separators=(",", ":"))


def flow_id_for(client_ip: str, server_ip: str, transport: str, server_port: int, protocol: str) -> str:
    return digest_id(client_ip, server_ip, transport, server_port, protocol)


def secret_digest(value: str | bytes) -> str:
    """Credentials are never stored in clear: a salted, truncated digest lets reuse be spotted."""
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    return hashlib.sha256(b"icsaudit-credential:" + raw).hexdigest()[:16]


@dataclass(slots=True)
class FlowAgg:
    client_ip: str
    server_ip: str
    transport: str
    server_port: int
    protocol: str
    client_mac: str = ""
    server_mac: str = ""
    packets: int = 0
    bytes: int = 0
    connections: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    # Plain dicts, not Counters: counting into a Counter costs about 3x a dict.get on the PDU hot path.
    # Read them through ops/functions/exceptions, which first apply the tally.
    ops_counts: dict[str, int] = field(default_factory=dict)
    function_counts: dict[str, int] = field(default_factory=dict)
    exception_count: int = 0
    first_ref: Ref | None = None
    flow_id: str = ""
    # PDUs counted by Session.pdu and not yet applied: (protocol accumulator, function, operation
    # category or None when not a request, exception) -> count. One dict update per PDU instead of four
    # (protocol functions and PDUs, flow functions, operations, exceptions); applied when read.
    tally: dict[tuple, int] = field(default_factory=dict)

    def flush(self) -> None:
        """Apply the tally to the flow's counts and to the protocol accumulators."""
        tally = self.tally
        if not tally:
            return
        functions, ops = self.function_counts, self.ops_counts
        for (acc, function, op, exception), n in tally.items():
            acc.pdu_count += n
            if function:
                counts = acc.function_counts
                counts[function] = counts.get(function, 0) + n
                functions[function] = functions.get(function, 0) + n
            if op is not None:
                ops[op] = ops.get(op, 0) + n
            if exception:
                self.exception_count += n
        tally.clear()

    @property
    def ops(self) -> dict[str, int]:
        self.flush()
        return self.ops_counts

    @property
    def functions(self) -> dict[str, int]:
        self.flush()
        return self.function_counts

    @property
    def exceptions(self) -> int:
        self.flush()
        return self.exception_count

    def to_flow(self) -> Flow:
        return Flow(
            flow_id=self.flow_id,
            client_ip=self.client_ip,
            server_ip=self.server_ip,
            transport=self.transport,
            server_port=self.server_port,
            protocol=self.protocol,
            client_mac=self.client_mac,
            server_mac=self.server_mac,
            packets=self.packets,
            bytes=self.bytes,
            connections=self.connections,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            ops=dict(sorted(self.ops.items())),
            functions=dict(sorted(self.functions.items())),
            exceptions=self.exceptions,
            first_ref=self.first_ref,
        )


class _ProtoAcc:
    __slots__ = (
        "frames",
        "last_frame",
        "last_file",
        "pdu_count",
        "function_counts",
        "conversations",
        "identities",
        "conv_overflow",
        "tallied",
    )

    def __init__(self, tallied: dict[int, FlowAgg] | None = None) -> None:
        self.frames = 0
        self.last_frame = -1  # (last_file, last_frame): frame numbers restart in each file
        self.last_file = ""
        self.pdu_count = 0
        self.function_counts: dict[str, int] = {}  # a plain dict: cheaper to count into than a Counter
        self.conversations: set[tuple[str, str, int, str]] = set()
        self.identities: dict[str, dict] = {}
        self.conv_overflow = 0
        # The recorder's flows whose tallies hold PDUs of this protocol: applied before a read.
        self.tallied = tallied if tallied is not None else {}

    @property
    def pdus(self) -> int:
        _apply_tallies(self.tallied)
        return self.pdu_count

    @property
    def functions(self) -> dict[str, int]:
        _apply_tallies(self.tallied)
        return self.function_counts


def _apply_tallies(tallied: dict[int, FlowAgg]) -> None:
    for agg in tallied.values():
        agg.flush()


class Recorder:
    """Accumulates everything one analysis run observed; ``finish`` turns it into evidence tables."""

    def __init__(self) -> None:
        self.flows: dict[tuple, FlowAgg] = {}
        # Every flow aggregate a session counts into (by id; layer-2 ones may never join flows).
        self.tallied: dict[int, FlowAgg] = {}
        self.protocols: dict[str, _ProtoAcc] = {}
        self.events: list[Event] = []
        self._event_groups: Counter = Counter()
        self.events_dropped = 0
        self.identities_dropped = 0
        self.identity_calls: set[tuple] = set()
        self.identities: dict[str, Identity] = {}
        self.services: dict[str, Service] = {}
        self.decode_errors = 0
        self.error_samples: list[DecodeError] = []
        self.tcp_gaps = 0
        self.tcp_gap_bytes = 0
        self.ip_fragments_incomplete = 0
        self.flows_expired = 0
        # current packet, set by the pipeline before dissectors run
        self.file = ""
        self.frame = 0
        self.ts = 0.0
        # True while the pipeline closes a flow (idle sweep, finish): data delivered then belongs to
        # no packet of its own (the current one is whichever triggered the close), so PDUs count but
        # frames do not. This keeps frame counts independent of which packets a process was given.
        self.closing = False
        # Event ids number events per (flow, kind, function) within one packet (file, frame), so an
        # id does not depend on how many other events were recorded before.
        self._event_at: tuple[str, int] = ("", -1)
        self._event_seq: Counter = Counter()

    # -- flows -------------------------------------------------------------------------------
    def flow(
        self, client_ip: str, server_ip: str, transport: str, server_port: int, protocol: str
    ) -> FlowAgg:
        key = (client_ip, server_ip, transport, server_port, protocol)
        agg = self.flows.get(key)
        if agg is None:
            agg = FlowAgg(client_ip, server_ip, transport, server_port, protocol)
            agg.flow_id = flow_id_for(*key)
            agg.first_seen = self.ts
            agg.first_ref = Ref(source=f"passive:{protocol}", file=self.file, frame=self.frame, ts=self.ts)
            self.flows[key] = agg
        return agg

    def adopt_flow(self, agg: FlowAgg) -> None:
        """Record a flow built before it was known to be worth recording (a layer-2 flow whose module
        handles its first frame now): it starts at the current packet."""
        agg.first_seen = self.ts
        agg.first_ref = Ref(source=f"passive:{agg.protocol}", file=self.file, frame=self.frame, ts=self.ts)
        agg.connections = 1
        self.flows[(agg.client_ip, agg.server_ip, agg.transport, agg.server_port, agg.protocol)] = agg

    def proto(self, name: str) -> _ProtoAcc:
        acc = self.protocols.get(name)
        if acc is None:
            acc = self.protocols[name] = _ProtoAcc(self.tallied)
        return acc

    def ref(self, source: str) -> Ref:
        return Ref(source=source, file=self.file, frame=self.frame, ts=self.ts)

    def error(self, protocol: str, message: str) -> None:
        # Keep the smallest samples in the merge's order (error_sample_order), not the first arrivals:
        # then the samples of merged flow shares are the samples of the whole capture.
        self.decode_errors += 1
        samples = self.error_samples
        samples.append(DecodeError(protocol=protocol, message=message, file=self.file, frame=self.frame))
        if len(samples) >= 2 * ERROR_SAMPLES:
            samples.sort(key=error_sample_order)
            del samples[ERROR_SAMPLES:]

    def error_sample_list(self) -> list[DecodeError]:
        """The decode error samples as evidence lists them (the smallest ERROR_SAMPLES, in order)."""
        return sorted(self.error_samples, key=error_sample_order)[:ERROR_SAMPLES]

    def enter_packet(self, file: str, frame: int, ts: float) -> tuple:
        """Make (file, frame, ts) the current packet while data it carried is delivered late (held
        for a decision or behind a capture hole); returns what leave_packet restores."""
        saved = (self.file, self.frame, self.ts, self.closing, self._event_at, self._event_seq)
        self.file, self.frame, self.ts = file, frame, ts
        self.closing = False  # the data has its own packet, even when delivered at close
        self._event_at, self._event_seq = ("", -1), Counter()
        return saved

    def leave_packet(self, saved: tuple) -> None:
        # The event numbering of the packet being processed resumes where it was.
        self.file, self.frame, self.ts, self.closing, self._event_at, self._event_seq = saved

    def event_index(self, flow_id: str, kind: str, function: str) -> int:
        """The number of the next event of (flow, kind, function) in the current packet."""
        here = (self.file, self.frame)
        if here != self._event_at:
            self._event_at = here
            self._event_seq.clear()
        group = (flow_id, kind, function)
        index = self._event_seq[group]
        self._event_seq[group] = index + 1
        return index

    def add_event(self, event: Event) -> None:
        group = (event.flow_id, event.kind, event.function)
        if self._event_groups[group] >= EVENTS_PER_KEY or len(self.events) >= MAX_EVENTS:
            self.events_dropped += 1
            return
        self._event_groups[group] += 1
        self.events.append(event)

    def protocol_stats(self) -> dict[str, ProtocolStats]:
        _apply_tallies(self.tallied)
        out: dict[str, ProtocolStats] = {}
        for name in sorted(self.protocols):
            acc = self.protocols[name]
            out[name] = ProtocolStats(
                frames=acc.frames,
                pdus=acc.pdu_count,  # the tallies were applied above
                functions=dict(sorted(acc.function_counts.items())),
                conversations=sorted(acc.conversations),
                identities=[acc.identities[k] for k in sorted(acc.identities)],
            )
        return out


class Session:
    """One flow as a dissector sees it. Attributes describe the current packet."""

    __slots__ = (
        "recorder",
        "protocol",
        "agg",
        "transport",
        "client_ip",
        "server_ip",
        "client_port",
        "server_port",
        "client_mac",
        "server_mac",
        "from_client",
        "conv_server_ports",
        "state",
        "_acc_client",
        "_acc_server",
        "_service_ids",
        "_acc_other",
        "_tally",
    )

    def __init__(
        self,
        recorder: Recorder,
        protocol: str,
        agg: FlowAgg,
        transport: str,
        client_ip: str,
        server_ip: str,
        client_port: int,
        server_port: int,
        conv_server_ports: frozenset[int],
    ) -> None:
        self.recorder = recorder
        self.protocol = protocol
        self.agg = agg
        self.transport = transport
        self.client_ip = client_ip
        self.server_ip = server_ip
        self.client_port = client_port
        self.server_port = server_port
        self.client_mac = ""
        self.server_mac = ""
        self.from_client = True
        self.conv_server_ports = conv_server_ports
        self.state: dict[str, Any] = {}  # free space for dissectors that keep per-flow state
        # Protocol accumulator of this session's own protocol per direction, once its conversation is
        # registered: pdu() then skips building the conversation tuple (the hot path of every dissector).
        self._acc_client: _ProtoAcc | None = None
        self._acc_server: _ProtoAcc | None = None
        # The same for the other protocols this session counts PDUs of (cip under enip, umas under
        # modbus): (protocol, from_client) -> accumulator, its conversation registered.
        self._acc_other: dict[tuple[str, bool], _ProtoAcc] = {}
        self._service_ids: dict[str, str] = {}  # protocol -> service id (a digest, computed once)
        self._tally = agg.tally
        recorder.tallied[id(agg)] = agg  # protocol_stats applies every flow's tally first

    # -- current packet ----------------------------------------------------------------------
    @property
    def frame(self) -> int:
        return self.recorder.frame

    @property
    def ts(self) -> float:
        return self.recorder.ts

    @property
    def src_ip(self) -> str:
        return self.client_ip if self.from_client else self.server_ip

    @property
    def dst_ip(self) -> str:
        return self.server_ip if self.from_client else self.client_ip

    @property
    def src_mac(self) -> str:
        return self.client_mac if self.from_client else self.server_mac

    def _conversation(self) -> tuple[str, str, int, str]:
        """The corpus/tshark conversation tuple: server is the endpoint on a well-known port."""
        if self.transport == "eth":
            return (
                self.src_mac,
                self.server_ip if self.from_client else self.client_ip,
                self.server_port,
                "eth",
            )
        src, dst = (self.client_ip, self.server_ip) if self.from_client else (self.server_ip, self.client_ip)
        sport, dport = (
            (self.client_port, self.server_port) if self.from_client else (self.server_port, self.client_port)
        )
        known_s, known_d = sport in self.conv_server_ports, dport in self.conv_server_ports
        if known_d and not known_s:
            return (src, dst, dport, self.transport)
        if known_s and not known_d:
            return (dst, src, sport, self.transport)
        if sport == dport:
            return (src, dst, dport, self.transport)
        if dport < sport:
            return (src, dst, dport, self.transport)
        return (dst, src, sport, self.transport)

    # -- reporting ---------------------------------------------------------------------------
    def pdu(
        self,
        function: str,
        category: str,
        *,
        protocol: str | None = None,
        request: bool | None = None,
        exception: bool = False,
    ) -> None:
        """Count one PDU. Requests (default: sent by the client) count in the flow's operation categories."""
        rec = self.recorder
        from_client = self.from_client
        if protocol is None or protocol == self.protocol:
            acc = self._acc_client if from_client else self._acc_server
            if acc is None:
                acc = self._register(self.protocol)
                if from_client:
                    self._acc_client = acc
                else:
                    self._acc_server = acc
        else:
            acc = self._acc_other.get((protocol, from_client))
            if acc is None:
                acc = self._acc_other[(protocol, from_client)] = self._register(protocol)
        frame = rec.frame
        if (acc.last_frame != frame or acc.last_file != rec.file) and not rec.closing:
            acc.last_frame = frame
            acc.last_file = rec.file
            acc.frames += 1
        # Counted into the flow's tally (see FlowAgg.tally): requests (default: sent by the client)
        # count in the flow's operation categories.
        key = (acc, function, category if (from_client if request is None else request) else None, exception)
        tally = self._tally
        tally[key] = tally.get(key, 0) + 1

    def frame_only(self, protocol: str | None = None) -> None:
        """Count the current frame and conversation for ``protocol`` without a PDU (traffic a tshark
        dissector names but that has no operation to count, e.g. CIP class-1 I/O)."""
        name = protocol or self.protocol
        acc = self._acc_other.get((name, self.from_client))
        if acc is None:
            acc = self._acc_other[(name, self.from_client)] = self._register(name)
        rec = self.recorder
        frame = rec.frame
        if (acc.last_frame != frame or acc.last_file != rec.file) and not rec.closing:
            acc.last_frame = frame
            acc.last_file = rec.file
            acc.frames += 1

    def _register(self, name: str) -> _ProtoAcc:
        """The accumulator of ``name`` with this packet's conversation added to it."""
        acc = self.recorder.proto(name)
        conv = self._conversation()
        if conv not in acc.conversations:
            if len(acc.conversations) < MAX_CONVERSATIONS:
                acc.conversations.add(conv)
            else:
                acc.conv_overflow += 1
        return acc

    def event(
        self,
        kind: str,
        category: str,
        function: str = "",
        detail: dict[str, Any] | None = None,
        *,
        protocol: str | None = None,
    ) -> None:
        rec = self.recorder
        flow_id = self.agg.flow_id
        group = (flow_id, kind, function)
        groups = rec._event_groups
        kept = groups.get(group, 0)  # .get: a Counter's missing key costs a Python-level __missing__
        if kept >= EVENTS_PER_KEY or len(rec.events) >= MAX_EVENTS:
            rec.events_dropped += 1  # decided before building the event: repeated writes cost nothing
            return
        name = protocol or self.protocol
        # What add_event would check again was checked above: the event is appended here directly.
        groups[group] = kept + 1
        # event_index and digest_id inline (same numbering, same digest): events are per-PDU work.
        file, frame = rec.file, rec.frame
        at = rec._event_at
        if at[1] != frame or at[0] != file:
            rec._event_at = (file, frame)
            rec._event_seq.clear()
        seq = rec._event_seq
        index = seq.get(group, 0)
        seq[group] = index + 1
        joined = f"{flow_id}\x1f{file}\x1f{frame}\x1f{kind}\x1f{function}\x1f{index}"
        rec.events.append(
            Event(
                event_id=blake2b(joined.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()[:16],
                kind=kind,
                category=category,
                protocol=name,
                function=function,
                client_ip=self.client_ip,
                server_ip=self.server_ip,
                server_port=self.server_port,
                flow_id=flow_id,
                detail=detail or {},
                ref=Ref(source=f"passive:{name}", file=file, frame=frame, ts=rec.ts),
            )
        )

    def event_capped(self, kind: str, function: str = "") -> bool:
        """True, counting the event as dropped, when event(kind, ..., function) would be dropped: lets a
        dissector skip building the detail of an event nobody keeps (repeated writes)."""
        rec = self.recorder
        if (
            len(rec.events) >= MAX_EVENTS
            or rec._event_groups.get((self.agg.flow_id, kind, function), 0) >= EVENTS_PER_KEY
        ):
            rec.events_dropped += 1
            return True
        return False

    def identity(
        self,
        raw: dict[str, Any] | None,
        fields: dict[str, Any],
        *,
        protocol: str | None = None,
        ip: str | None = None,
        mac: str | None = None,
        confidence: str = "high",
        replaces: dict[str, Any] | None = None,
    ) -> None:
        """Record what a device said about itself. ``raw`` is the corpus-truth-shaped object (or None);
        ``fields`` the normalized fields (vendor, model, firmware, serial, name, device_type ...),
        attributed to ``ip`` (default: the sender of the current packet).

        ``replaces``: the raw object this one supersedes in the protocol statistics (a dissector that
        merges what a device says over several messages, as BACnet per sender and device instance,
        keeps one merged object there, as the corpus truth does)."""
        rec = self.recorder
        name = protocol or self.protocol
        sender_ip = self.src_ip if ip is None else ip
        sender_mac = self.src_mac if mac is None else mac
        if replaces is not None and raw is not None:
            rec.proto(name).identities.pop(_canonical(replaces), None)
        # Devices repeat the same identity in every reply: a call seen before changes nothing, and
        # recognising it by repr is far cheaper than the canonical JSON below. (Not after a
        # replacement: ``raw`` may have been replaced since it was last stated.)
        repeat = (name, sender_ip, sender_mac, confidence, repr(raw), repr(fields))
        if repeat in rec.identity_calls and replaces is None:
            return
        if len(rec.identity_calls) < MAX_IDENTITY_CALLS:
            rec.identity_calls.add(repeat)
        if raw is not None:
            key = _canonical(raw)
            acc = rec.proto(name)
            if key not in acc.identities:
                if len(acc.identities) < MAX_IDENTITIES:
                    acc.identities[key] = raw
                else:
                    rec.identities_dropped += 1
        clean = {k: str(v).strip() for k, v in fields.items() if v is not None and str(v).strip() != ""}
        if not clean:
            return
        asset_id = sender_ip or sender_mac
        ident_id = digest_id(asset_id, name, json.dumps(clean, sort_keys=True))
        existing = rec.identities.get(ident_id)
        if existing is not None:
            ref = existing.ref
            if ref is None or (rec.ts, rec.file, rec.frame) > (ref.ts, ref.file, ref.frame):
                return  # the earlier statement stands (the common repeat)
        elif len(rec.identities) >= MAX_IDENTITIES:
            rec.identities_dropped += 1
            return
        new = Identity(
            identity_id=ident_id,
            asset_id=asset_id,
            ip=sender_ip,
            mac=sender_mac,
            protocol=name,
            fields=dict(sorted(clean.items())),
            raw=raw or {},
            confidence=confidence,
            ref=rec.ref(f"passive:{name}"),
        )
        # As merge_identity chooses (earliest statement, ties by content): not by arrival order.
        rec.identities[ident_id] = new if existing is None else merge_identity(existing, new)

    def service(
        self, *, protocol: str | None = None, banner: str = "", details: dict[str, Any] | None = None
    ) -> None:
        """Note that the server side of this flow offers ``protocol`` (with a banner or details).

        Statements about one service are joined as ``merge_service`` joins evidence (longest banner,
        per-key maximum, earliest first_seen/ref), so the result does not depend on the order they
        arrive in (held payloads are replayed late, flow shares see them in another order)."""
        rec = self.recorder
        name = protocol or self.protocol
        # Dissectors restate their service on many packets: its id (a digest) is computed once per session.
        service_id = self._service_ids.get(name)
        if service_id is None:
            service_id = self._service_ids[name] = digest_id(
                self.server_ip, self.transport, self.server_port, name
            )
        banner = banner[:256]
        existing = rec.services.get(service_id)
        if existing is not None:
            ref = existing.ref
            if (
                (not banner or banner == existing.banner)
                and (not details or all(existing.details.get(k) == v for k, v in details.items()))
                and (ref is None or (rec.ts, rec.file, rec.frame) >= (ref.ts, ref.file, ref.frame))
            ):
                # Nothing new (the common repeat): only the time span grows.
                if rec.ts > existing.last_seen:
                    existing.last_seen = rec.ts
                return
        new = Service(
            service_id=service_id,
            asset_id=self.server_ip or self.server_mac,
            ip=self.server_ip,
            transport=self.transport,
            port=self.server_port,
            protocol=name,
            banner=banner,
            details=dict(sorted((details or {}).items())),
            first_seen=rec.ts,
            last_seen=rec.ts,
            ref=rec.ref(f"passive:{name}"),
        )
        rec.services[service_id] = new if existing is None else merge_service(existing, new)

    def credential(
        self,
        method: str,
        username: str | bytes = "",
        secret: str | bytes = "",
        *,
        protocol: str | None = None,
        flags: dict[str, bool] | None = None,
    ) -> None:
        """Cleartext credentials seen: keep digests and where, never the values. ``flags`` carry
        boolean facts checks need (``default_community``, ``anonymous``, ``accepted`` ...)."""
        detail: dict[str, Any] = {"method": method}
        if username:
            detail["user_digest"] = secret_digest(username)
        if secret:
            detail["secret_digest"] = secret_digest(secret)
        if flags:
            detail.update(flags)
        self.event("credential", "auth", method, detail, protocol=protocol)

    def error(self, message: str, *, protocol: str | None = None) -> None:
        self.recorder.error(protocol or self.protocol, message)
