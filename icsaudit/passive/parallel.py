"""Passive analysis on every core: captures split into flow shares, analyzed in processes, merged.

Why split by flow share, not by file or time slice: ``Analyzer`` reads a list of captures as one
continuous capture (a TCP connection cut by a ring-buffer file boundary is reassembled across it), so
cutting the file list or a file's time line cuts live state (reassembly buffers, dissector state,
fragments). Instead each of N workers reads *all* the captures in order and dissects only the packets
whose direction-independent share key falls in its share:

- IPv4/IPv6: the unordered address pair. Not the ports: a non-first IP fragment has none, and the
  pair keeps every flow (client, server, transport, port, protocol) and its fragments in one share;
- except BACnet/IP (UDP 47808): all of it in one share, because the BACnet dissector joins a device's
  statements across its flows (its I-Am broadcast and its answers to each client). Known limit: a
  BACnet/IP datagram cut in IP fragments goes by address pair, apart from its flow's whole datagrams;
- ARP: the sender address (the ARP table and its conflict events are per address);
- BACnet over 802.2 LLC (no IP): with BACnet/IP, for the same reason;
- other EtherTypes: the unordered MAC pair and the EtherType (the layer-2 sessions' key).

So every connection, datagram and flow aggregate lives whole in one worker, and the sweep runs at the
same packets in every worker (the sweep counter counts every record read, kept or not). Capture-level
facts (files, sha256, packets, bytes, time span, link types, problems) are read by every worker and
counted once: share 0 keeps the counters, the merge dedups the file entries.

What still couples shares is made split-independent by the recorder itself (session.py), so one
``Analyzer`` and the merged shares agree exactly: services and identities are joined as the merge joins
them (``merge_service``, ``merge_identity``) instead of "first arrival wins"; event ids number events
within (flow, file, frame, kind, function); decode error samples are the smallest in the merge's
order; a protocol's frame count compares (file, frame); PDUs delivered when a connection is closed
(held segments, at whatever packet triggered the close) count no frame.
Known limits (only under overload): the live-flow table cap, fragment/out-of-order byte caps, the
50k event cap (merge keeps the earliest by time, the recorder the first arrivals) and the identity
cap are per worker, so past them jobs=N can keep what jobs=1 evicted.

Partial results travel as msgpack (``Partial``) and are folded one at a time: the parent holds the
accumulator and the partial being merged, never all partial evidence.
"""

from __future__ import annotations

import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import msgspec

from icsaudit.errors import InputError
from icsaudit.evidence.merge import (
    merge_two,
)
from icsaudit.evidence.model import Evidence
from icsaudit.passive.pipeline import LLC_BACNET, VLAN_TAGS, Analyzer
from icsaudit.passive.protocols.bacnet import PORTS as BACNET_PORTS

Progress = Callable[[int, int], None]
RAW_IP_LINKTYPES = frozenset((101, 12, 14, 228, 229))
LOOPBACK_LINKTYPES = frozenset((0, 108))
PROGRESS_POLL_S = 0.25
# Dissectors that keep state across flows go whole to one share. BACnet joins what a device says
# about itself over all its flows (I-Am broadcasts, ReadProperty answers) per recorder.
BACNET_SHARE = b"bacnet"
CROSS_FLOW_UDP_PORTS = {port: BACNET_SHARE for port in BACNET_PORTS}


# -- share keys --------------------------------------------------------------------------------
def _ip_pair(data: bytes, off: int, version: int) -> bytes:
    if version == 4:
        if len(data) < off + 20:
            return b""
        a, b = data[off + 12 : off + 16], data[off + 16 : off + 20]
        udp = (
            off + ((data[off] & 0x0F) << 2)
            if data[off + 9] == 17 and not (data[off + 6] & 0x3F or data[off + 7])
            else 0
        )
    elif version == 6:
        if len(data) < off + 40:
            return b""
        a, b = data[off + 8 : off + 24], data[off + 24 : off + 40]
        udp = off + 40 if data[off + 6] == 17 else 0
    else:
        return b""
    if udp and len(data) >= udp + 4:
        sport, dport = (data[udp] << 8) | data[udp + 1], (data[udp + 2] << 8) | data[udp + 3]
        joined = CROSS_FLOW_UDP_PORTS.get(dport) or CROSS_FLOW_UDP_PORTS.get(sport)
        if joined:
            return joined
    return a + b if a <= b else b + a


def share_key(linktype: int, data: bytes) -> bytes:
    """The direction-independent key that decides a packet's share (b"" when it carries none: the
    pipeline ignores such packets, they go to share 0). Mirrors the link decoding of ``Analyzer``."""
    if linktype == 1:
        if len(data) < 14:
            return b""
        ethertype, off, macs = (data[12] << 8) | data[13], 14, (data[0:6], data[6:12])
    elif linktype == 113:
        if len(data) < 16:
            return b""
        ethertype, off, macs = (data[14] << 8) | data[15], 16, (data[6:12], b"")
    elif linktype == 276:
        if len(data) < 20:
            return b""
        ethertype, off, macs = (data[0] << 8) | data[1], 20, (data[12:18], b"")
    elif linktype in RAW_IP_LINKTYPES:
        return _ip_pair(data, 0, data[0] >> 4) if data else b""
    elif linktype in LOOPBACK_LINKTYPES:
        if len(data) < 5:
            return b""
        return _ip_pair(data, 4, data[4] >> 4)
    else:
        return b""
    while ethertype in VLAN_TAGS and len(data) >= off + 4:
        ethertype = (data[off + 2] << 8) | data[off + 3]
        off += 4
    if ethertype == 0x0800:
        return _ip_pair(data, off, 4)
    if ethertype == 0x86DD:
        return _ip_pair(data, off, 6)
    if ethertype == 0x0806:
        return data[off + 14 : off + 18]  # ARP sender protocol address
    if ethertype < 0x0600 and data[off : off + 2] == LLC_BACNET:
        return BACNET_SHARE  # BACnet over 802.2 LLC joins BACnet/IP's share
    low, high = sorted(macs)
    return low + high + ethertype.to_bytes(2, "big")


def share_of(linktype: int, data: bytes, shares: int) -> int:
    """Which of ``shares`` workers dissects this packet (crc32: the same in every process)."""
    return zlib.crc32(share_key(linktype, data)) % shares if shares > 1 else 0


class ShareAnalyzer(Analyzer):
    """An ``Analyzer`` that reads every packet but dissects only share ``share`` of ``shares``."""

    def __init__(self, share: int = 0, shares: int = 1, **kwargs: Any) -> None:
        if not 0 <= share < shares:
            raise ValueError(f"share {share} is not in 0..{shares - 1}")
        if shares > 1:
            kwargs["packet_filter"] = lambda linktype, data: (
                zlib.crc32(share_key(linktype, data)) % shares == share
            )
        super().__init__(**kwargs)
        self.share = share
        self.shares = shares

    def finish(self) -> Evidence:
        evidence = super().finish()
        evidence.assets = []  # rebuilt once from the merged tables (and the merged ARP table)
        if self.share:
            # Every share read every file: only share 0 counts the capture (files dedup in the merge).
            evidence.capture.packets = 0
            evidence.capture.bytes = 0
        return evidence


# -- work units and their results --------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One unit of work: read ``paths`` in order as one capture, dissect share ``share`` of ``shares``."""

    paths: tuple[str, ...]
    share: int = 0
    shares: int = 1


class Failure(msgspec.Struct, frozen=True):
    path: str
    message: str
    hint: str | None = None

    def error(self) -> InputError:
        return InputError(self.message, hint=self.hint)


class Partial(msgspec.Struct):
    """What a part yields: its evidence (assets not built), its ARP table, the files it could not read."""

    evidence: Evidence
    arp: dict[str, str] = {}
    failures: list[Failure] = []


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Partial)


def encode_partial(partial: Partial) -> bytes:
    return _ENCODER.encode(partial)


def decode_partial(data: bytes) -> Partial:
    return _DECODER.decode(data)


def plan_parts(paths: Sequence[str | os.PathLike[str]], shares: int, *, per_file: bool = False) -> list[Part]:
    """The parts to run. Default: all captures as one continuous capture, in ``shares`` flow shares
    (identical to one Analyzer over all of them). ``per_file``: each capture on its own (connections
    that span two files count twice; each worker reads only its files), split in enough shares that
    fewer files than workers still use every worker."""
    names = tuple(str(p) for p in paths)
    shares = max(1, shares)
    if not per_file or len(names) <= 1:
        return [Part(names, k, shares) for k in range(shares)]
    per = max(1, -(-shares // len(names)))
    return [Part((name,), k, per) for name in names for k in range(per)]


def analyze_part(part: Part, progress: Progress | None = None) -> Partial:
    """Run one part in this process."""
    analyzer = ShareAnalyzer(part.share, part.shares, progress=progress)
    analyzer.analyze_files(part.paths, keep_going=True)
    failures = [Failure(str(path), exc.message, exc.hint) for path, exc in analyzer.failures]
    return Partial(evidence=analyzer.finish(), arp=dict(analyzer.arp), failures=failures)


def merge_partials(a: Partial, b: Partial) -> Partial:
    """Associative and commutative, like ``merge_two`` (the ARP tables of shares never overlap; across
    independent files a conflicting address keeps the larger MAC, so the order of parts cannot matter)."""
    arp = dict(a.arp)
    for ip, mac in b.arp.items():
        arp[ip] = max(arp.get(ip, mac), mac)
    failures = sorted(set(a.failures) | set(b.failures), key=lambda f: (f.path, f.message))
    return Partial(evidence=merge_two(a.evidence, b.evidence), arp=arp, failures=failures)


def fold_partials(partials: Iterable[Partial]) -> Partial:
    """Merge a stream of partials, holding one accumulator and the partial being merged."""
    acc = Partial(evidence=Evidence())
    for partial in partials:
        acc = merge_partials(acc, partial)
    return acc


def finish_partial(partial: Partial) -> Evidence:
    """The merged partial as ``Analyzer.finish`` would write it: events in time order, assets built."""
    from icsaudit.passive.inventory import build_assets

    evidence = partial.evidence
    evidence.events = sorted(evidence.events, key=lambda e: (e.ref.ts, e.ref.file, e.ref.frame, e.event_id))
    evidence.assets = build_assets(evidence, arp=partial.arp)
    return evidence


# -- processes ---------------------------------------------------------------------------------
_progress_slots: Any = None  # a shared array of bytes read per part slot, set in each worker


def _init_worker(slots: Any) -> None:
    global _progress_slots
    _progress_slots = slots


def _run_part_in_worker(part: Part, slot: int) -> bytes:
    slots = _progress_slots

    def report(done: int, _total: int) -> None:
        slots[slot] = done

    return encode_partial(analyze_part(part, report if slots is not None else None))


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class Outcome:
    evidence: Evidence
    failures: list[Failure]


def run_parallel(
    paths: Sequence[str | os.PathLike[str]],
    jobs: int | None = None,
    progress: Progress | None = None,
    *,
    per_file: bool = False,
) -> Outcome:
    """Analyze captures with ``jobs`` processes; unreadable files are reported in ``failures``."""
    jobs = max(1, jobs or default_jobs())
    parts = plan_parts(paths, jobs, per_file=per_file)
    if jobs == 1 or len(parts) == 1:
        partials: Iterable[Partial] = (analyze_part(p, progress) for p in parts)
    else:
        partials = _in_processes(parts, jobs, progress)
    merged = fold_partials(partials)
    return Outcome(finish_partial(merged), merged.failures)


def analyze_parallel(
    paths: Sequence[str | os.PathLike[str]],
    jobs: int | None = None,
    progress: Progress | None = None,
    *,
    per_file: bool = False,
    keep_going: bool = False,
) -> Evidence:
    """Evidence of the captures, analyzed on ``jobs`` processes (default: every core); the same as
    ``Analyzer`` over the same files whatever ``jobs`` is. Raises the first file's InputError unless
    ``keep_going``."""
    outcome = run_parallel(paths, jobs, progress, per_file=per_file)
    if outcome.failures and not keep_going:
        order = {str(p): i for i, p in enumerate(paths)}
        raise min(outcome.failures, key=lambda f: order.get(f.path, len(order))).error()
    return outcome.evidence


def _part_bytes(part: Part) -> int:
    return sum(os.path.getsize(p) for p in part.paths if os.path.isfile(p))


def _in_processes(parts: list[Part], jobs: int, progress: Progress | None) -> Iterator[Partial]:
    """Yield each part's result as it completes; at most ``jobs`` parts are submitted at a time, so
    finished results waiting for the fold are bounded by ``jobs``, not by the number of parts."""
    context = multiprocessing.get_context("spawn")  # safe with threads in the parent (dask, rich)
    slots = context.Array("q", len(parts), lock=False) if progress is not None else None
    total = sum(_part_bytes(p) for p in parts)
    done_bytes = 0
    pending = list(enumerate(parts))
    running: dict[Future, int] = {}
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(parts)), mp_context=context, initializer=_init_worker, initargs=(slots,)
    ) as pool:
        try:
            while pending or running:
                while pending and len(running) < jobs:
                    slot, part = pending.pop(0)
                    running[pool.submit(_run_part_in_worker, part, slot)] = slot
                finished, _ = wait(running, timeout=PROGRESS_POLL_S, return_when=FIRST_COMPLETED)
                for future in finished:
                    slot = running.pop(future)
                    data = future.result()
                    del future
                    done_bytes += _part_bytes(parts[slot])
                    if slots is not None:
                        slots[slot] = 0
                    yield decode_partial(data)
                    del data
                if progress is not None:
                    progress(done_bytes + sum(slots[s] for s in running.values()), total)
        finally:
            for future in running:
                future.cancel()
