"""The Insights store benchmark runs on tiny sizes and prints finite figures for both variants."""

from __future__ import annotations

import math

import bench_insights_store as bench


def test_prints_both_variants_and_their_ratio(capsys):
    assert bench.main(["--spans", "300", "--buckets", "10"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["baseline", "latency", "ratio"]
    for row in rows:
        assert all(math.isfinite(float(cell)) and float(cell) > 0 for cell in row.split()[-2:]), row


def test_the_shipped_variant_really_serves_percentiles():
    """Guards the figures' meaning: sketches on give p95 per model row; the baseline has none."""
    spans = bench.outcomes(200, 5, 10)
    for on in (False, True):
        with bench.per_group_latency(on):
            store = bench.InsightsStore(horizon_s=600, clock=lambda: bench.NOW)
            for outcome in spans:
                store.on_outcome(outcome)
        row = store.cost_summary("model").rows[0][1]
        assert (row.latency is not None and row.latency.quantile(0.95) > 0) if on else row.latency is None
