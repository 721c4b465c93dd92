"""Bench of passive analysis on several cores: jobs=2 against jobs=1 on the bench capture, as one big
file and cut in files, and the scaling projected from measured per-share CPU time.

Wall-clock speed-ups depend on what else the machine runs; the projection does not: each share of an
N-way split is run alone in this process and its CPU time measured, so the slowest share bounds an
N-core run (plus the measured merge). ``bench_parallel()`` returns (label, value) rows, prints nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from icsaudit.passive.parallel import (
    Part,
    analyze_parallel,
    analyze_part,
    decode_partial,
    encode_partial,
    finish_partial,
    fold_partials,
)
from tests.bench import gen_pcap

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "bench-out" / "parallel"  # own directory: the main bench prunes stale captures in bench-out
PACKETS = 300_000
FILES = 4
PROJECTED = (2, 4, 8)

Row = tuple[str, str]


def _capture(packets: int, seed: int = 1) -> Path:
    path = OUT / f"ics-mix-v{gen_pcap.VERSION}-s{seed}-{packets}.pcap"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        gen_pcap.generate(path, packets, seed)
    return path


def _cut(capture: Path, files: int) -> list[Path]:
    from tests.unit.test_parallel import split_pcap

    out = OUT / f"{capture.stem}-in-{files}"
    paths = sorted(out.glob("*.pcap"))
    if len(paths) != files:
        out.mkdir(parents=True, exist_ok=True)
        paths = split_pcap(capture, out, files)
    return paths


def _wall(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _cpu_of_part(part: Part) -> tuple[float, bytes]:
    start = time.process_time()
    partial = analyze_part(part)
    encoded = encode_partial(partial)
    cpu = time.process_time() - start
    if partial.failures:
        raise RuntimeError(partial.failures[0].message)
    return cpu, encoded


def bench_parallel(packets: int = PACKETS) -> list[Row]:
    capture = _capture(packets)
    pieces = _cut(capture, FILES)
    rows: list[Row] = [
        ("capture", f"{packets:,} packets, {capture.stat().st_size / 1e6:.0f} MB, 1 file or {FILES}")
    ]
    for label, paths in (("one file", [capture]), (f"{FILES} files", pieces)):
        one = _wall(lambda p=paths: analyze_parallel(p, jobs=1))
        two = _wall(lambda p=paths: analyze_parallel(p, jobs=2))
        rows.append((f"{label}: jobs=1 wall", f"{one:.2f} s ({packets / one / 1000:,.0f}k pkt/s)"))
        rows.append((f"{label}: jobs=2 wall", f"{two:.2f} s ({packets / two / 1000:,.0f}k pkt/s)"))
        rows.append((f"{label}: speed-up jobs=2 (wall)", f"x{one / two:.2f}"))
    per_file = _wall(lambda: analyze_parallel(pieces, jobs=2, per_file=True))
    rows.append(
        (f"{FILES} files per_file: jobs=2 wall", f"{per_file:.2f} s (each worker reads only its files)")
    )

    # Projection from CPU time: every share of an N-way split run alone, one after the other.
    names = (str(capture),)
    serial, _ = _cpu_of_part(Part(names, 0, 1))
    rows.append(("1 share: CPU", f"{serial:.2f} s"))
    for shares in PROJECTED:
        costs, partials = [], []
        for share in range(shares):
            cpu, data = _cpu_of_part(Part(names, share, shares))
            costs.append(cpu)
            partials.append(data)
        start = time.process_time()
        finish_partial(fold_partials(decode_partial(d) for d in partials))
        merge = time.process_time() - start
        bound = max(costs) + merge
        rows.append(
            (
                f"{shares} shares: CPU per share",
                f"max {max(costs):.2f} s, min {min(costs):.2f} s, merge {merge:.2f} s",
            )
        )
        rows.append((f"projected speed-up on {shares} cores", f"x{serial / bound:.2f} (ideal x{shares})"))
    return rows


if __name__ == "__main__":
    import sys

    for label, value in bench_parallel(int(sys.argv[1]) if len(sys.argv) > 1 else PACKETS):
        print(f"{label:40s} {value}")
