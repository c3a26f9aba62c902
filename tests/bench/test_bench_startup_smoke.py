"""bench_startup's harness works: one tiny run per setup gives finite figures.

Timing is not judged here (CI machines are noisy); the script is run by hand.
"""

from __future__ import annotations

import math

import bench_startup


def test_startup_bench_measures_both_setups():
    figures = bench_startup.measure(runs=1)
    assert set(figures) == {"with instrumentors", "baseline", "ratio"}
    for name, row in figures.items():
        for key in ("wall_s", "peak_rss_mb"):
            assert math.isfinite(row[key]) and row[key] > 0, (name, key)
