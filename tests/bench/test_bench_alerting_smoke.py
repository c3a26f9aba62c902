"""The alerting benchmark runs on tiny sizes and prints a row of finite figures per rule set."""

from __future__ import annotations

import math

import bench_alerting as bench


def test_prints_a_row_per_rule_set(capsys):
    assert bench.main(["--spans", "500", "--groups", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = lines[2:]
    assert [row.split()[0] for row in rows] == ["none", "defaults", "defaults"]
    for row in rows:
        assert math.isfinite(float(row.split()[-3])) and float(row.split()[-3]) > 0, row


def test_the_benchmarked_engine_really_evaluates_what_it_was_fed():
    """Guards the figures' meaning: the filled engine holds groups and fires the error-rate rules."""
    _, filled = bench.per_span_us(bench.default_rules() + bench.filtered_rules(), bench.outcomes(340, 5))
    assert filled.evaluate() == [], "pending: the error-rate rules hold for 5 m"
    fired = filled.evaluate(now=1_000_300.0)  # every 17th span failed: 5.9 % per service, above 5 %, below 10 %
    assert sorted((a.name, a.labels["service"]) for a in fired) == [
        ("SpanmeterHighErrorRate", f"service-{i}") for i in range(5)
    ]
    assert filled.groups_evicted == 0
