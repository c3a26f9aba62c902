"""``spanmeter report`` over a million spans: wall time and peak memory, against a 10x smaller file
in the same run (per-group state, so memory should not grow with the span count).

    python tests/bench/bench_report_memory.py [SPANS]      # default 1,000,000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.traces import report_peak_rss, write_many


def measure(spans: int, directory: Path) -> tuple[float, float, float]:
    path = directory / f"{spans}.jsonl"
    write_many(path, spans)
    started = time.perf_counter()
    before, after, report = report_peak_rss(path)
    seconds = time.perf_counter() - started
    assert report["totals"]["spans"] == spans
    return seconds, before, after


def main(spans: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        small = measure(spans // 10, Path(directory))
        large = measure(spans, Path(directory))
    for label, count, (seconds, before, after) in (("small", spans // 10, small), ("large", spans, large)):
        print(f"{label}: {count:>9,} spans  {seconds:6.1f} s  {count / seconds:8,.0f} spans/s  "
              f"peak RSS {after:6.1f} MB (after imports {before:.1f} MB, growth {after - before:.1f} MB)")  # fmt: skip
    print(f"growth ratio large/small: {(large[2] - large[1]) / max(small[2] - small[1], 0.1):.2f} "
          f"for {spans / (spans // 10):.0f}x the spans")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
