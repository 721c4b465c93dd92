"""Run one passive analysis in this process and print its figures as JSON (peak RSS needs its own process).

python -m tests.bench.rss CAPTURE
"""

from __future__ import annotations

import json
import resource
import sys
import time


def main(capture: str) -> None:
    from icsaudit.passive.pipeline import Analyzer

    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # interpreter + imports
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
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
