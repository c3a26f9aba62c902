"""``spanmeter bench``'s pure parts: the regression gate's tolerances, the recipe's recommendations,
and the runner's counting of errors and timeouts (async and sync targets, in process)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from spanmeter.bench.results import Check, compare, known_metrics, parse_fail_on, recommendations
from spanmeter.bench.runner import Runner, Scenario, Tally, Timeline


def test_tolerances_are_relative_or_absolute_and_have_a_direction():
    p95, errors, rps = parse_fail_on("latency_s.p95:+10%, error_rate:+0.01,requests_per_s:-20%")
    assert (p95.metric, p95.rising, p95.relative, p95.limit(2.0)) == ("latency_s.p95", True, True, pytest.approx(2.2))
    assert (errors.relative, errors.limit(0.02)) == (False, pytest.approx(0.03))
    assert (rps.rising, rps.limit(10.0)) == (False, pytest.approx(8.0))
    with pytest.raises(ValueError, match="'latency_s.p95:ten'"):
        parse_fail_on("latency_s.p95:ten")


def test_an_unknown_metric_is_refused_with_the_known_ones_not_gated_as_a_regression():
    with pytest.raises(ValueError) as refused:
        parse_fail_on("error_rate:+0.01,latency_s.p96:+10%")
    message = str(refused.value)
    assert "unknown metric 'latency_s.p96'" in message
    assert "latency_s.p95" in message and "requests_per_s" in message and "time_share.llm" in message
    assert {"latency_s.p99", "cost_per_request_usd", "timeouts"} <= set(known_metrics())
    assert not {"scenario.users", "interrupted", "timestamp"} & set(known_metrics())  # inputs, not figures


def test_the_timeline_buckets_requests_by_end_and_widens_to_stay_bounded():
    tally = Tally()
    start = 1_800_000_000 * 10**9
    for second in range(40):
        tally.record(0.1 * (second + 1), ValueError() if second % 10 == 0 else None, False, start + second * 10**9)
    tally.record(30.0, None, True, start + 39 * 10**9)
    timeline = tally.timeline.to_json()
    assert timeline["bucket_s"] == 1 and len(timeline["buckets"]) == 40  # a 40 s run: 40 one-second buckets
    last = timeline["buckets"][-1]
    assert (last["requests"], last["timeouts"], last["errors"], last["p95_s"]) == (2, 1, 0, pytest.approx(4.0))
    assert sum(bucket["errors"] for bucket in timeline["buckets"]) == 4

    long_run = Timeline()
    for minute in range(24 * 60):
        long_run.bucket(start + minute * 60 * 10**9).requests += 1
    widened = long_run.to_json()
    assert len(widened["buckets"]) <= 120 and widened["bucket_s"] >= 720
    assert sum(bucket["requests"] for bucket in widened["buckets"]) == 24 * 60


def test_compare_fails_beyond_tolerance_only_and_on_missing_metrics():
    tolerances = parse_fail_on("latency_s.p95:+10%,requests_per_s:-20%,cost_usd:+0.5")  # known metrics
    baseline = {"latency_s": {"p95": 1.0}, "requests_per_s": 10.0}
    within = compare({"latency_s": {"p95": 1.1}, "requests_per_s": 8.0, "cost_usd": 0.1}, baseline, tolerances)
    assert [check.failed for check in within] == [False, False, True]  # no baseline cost: not comparable
    beyond = compare({"latency_s": {"p95": 1.11}, "requests_per_s": 7.9}, baseline | {"cost_usd": 0.0}, tolerances)
    assert [check.failed for check in beyond] == [True, True, True]
    assert Check(tolerances[0], 1.0, None).failed


def result(**overrides) -> dict:
    base = {"latency_s": {"avg": 1.0, "p95": 1.5}, "requests": 100, "requests_per_s": 5.0, "error_rate": 0.0,
            "errors": 0, "timeouts": 0, "peak_rss_mb": 200.0, "input_tokens": 1000, "output_tokens": 100,
            "tokens_per_s": 500.0, "cpu_percent": 20.0}  # fmt: skip
    merged = base | overrides
    return merged | {"errors": overrides.get("errors", round(merged["error_rate"] * merged["requests"]))}


@pytest.mark.parametrize(("overrides", "kind"), [
    ({"latency_s": {"avg": 6.0, "p95": 7.0}}, "slow_average"),
    ({"latency_s": {"avg": 1.0, "p95": 2.5}}, "latency_outliers"),
    ({"requests_per_s": 0.5}, "low_throughput"),
    ({"error_rate": 0.06}, "error_rate"),
    ({"peak_rss_mb": 1200.0}, "high_memory"),
    ({"tokens_per_s": 5.0}, "low_tokens_per_s"),
    ({"cpu_percent": 90.0}, "high_cpu"),
])  # fmt: skip
def test_each_recipe_rule_fires_alone(overrides, kind):
    assert [item["kind"] for item in recommendations(result(**overrides))] == [kind]


def test_within_range_and_no_tokens_rule_without_llm_calls():
    assert [item["kind"] for item in recommendations(result())] == ["within_range"]
    quiet = result(input_tokens=0, output_tokens=0, tokens_per_s=0.0)
    assert [item["kind"] for item in recommendations(quiet)] == ["within_range"]


def test_runner_counts_errors_timeouts_and_cycles_inputs():
    seen = []

    async def target(item):
        seen.append(item)
        if item == "fail":
            raise RuntimeError(item)
        if item == "hang":
            await asyncio.sleep(10)
        return item

    scenario = Scenario(users=2, requests=3, timeout_s=0.2, inputs=("ok", "fail", "hang"))
    tally = asyncio.run(Runner(target, scenario).run())
    assert (tally.requests, tally.errors, tally.timeouts) == (6, 2, 2)
    assert sorted(seen) == sorted(["ok", "fail", "hang"] * 2)
    assert tally.error_types == {"RuntimeError": 2}
    assert tally.latency.count == 4


def test_sync_targets_run_on_threads_concurrently():
    all_in = threading.Barrier(4, timeout=10)  # passes only when four calls are in flight at once

    tally = asyncio.run(Runner(all_in.wait, Scenario(users=4, requests=1)).run())
    assert (tally.requests, tally.errors, tally.timeouts) == (4, 0, 0)
