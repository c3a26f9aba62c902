"""``spanmeter report`` keeps state per group, not per span: peak memory of a 100k-span run, in its
own process, stays within a bound and barely above a 10k-span run's. The million-span figures are
printed by ``tests/bench/bench_report_memory.py`` (too slow for the suite: ~2 min).
"""

from __future__ import annotations

import pytest

from support.traces import report_peak_rss, write_many

pytestmark = pytest.mark.integration

GROWTH_BOUND_MB = 40  # over the process's size once imported; per-span records would take ~100 MB here
EXTRA_FOR_10X_SPANS_MB = 10


def test_a_100k_span_file_is_reported_in_bounded_memory(tmp_path):
    growth = {}
    for spans in (10_000, 100_000):
        path = tmp_path / f"{spans}.jsonl"
        write_many(path, spans)
        before, after, report = report_peak_rss(path)
        assert report["totals"]["spans"] == spans
        assert sum(row["calls"] for row in report["groups"]["model"]) == spans
        assert len(report["groups"]["user"]) == 50
        growth[spans] = after - before
    assert growth[100_000] < GROWTH_BOUND_MB, growth
    assert growth[100_000] - growth[10_000] < EXTRA_FOR_10X_SPANS_MB, growth
    assert report["totals"]["percentiles"].startswith("sketch")  # 33k calls per model: past the exact limit
