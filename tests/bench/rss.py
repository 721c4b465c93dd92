"""Run one passive analysis in this process and print its figures as JSON (peak RSS needs its own process).

python -m tests.bench.rss CAPTURE
"""

from __future__ import annotations

import json
import resource
import sys
import time


def peak_rss_kb() -> int:
    """Peak RSS of this process image. VmHWM starts afresh at exec; ru_maxrss would carry over the
    parent's peak (Linux keeps it across fork and exec), so it is only the fallback."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(capture: str) -> None:
    from icsaudit.passive.pipeline import Analyzer

    baseline_kb = peak_rss_kb()  # interpreter + imports
    analyzer = Analyzer()
    start = time.perf_counter()
    info = analyzer.analyze_file(capture)
    evidence = analyzer.finish()
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "packets": info.packets,
                "seconds": seconds,
                "flows": len(evidence.flows),
                "live_peak": analyzer.live_peak,
                "baseline_kb": baseline_kb,
                "maxrss_kb": peak_rss_kb(),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
