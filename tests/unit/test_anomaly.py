"""AnomalyDetector: spikes flagged, baselines that resist spikes and absorb lasting shifts,
one-sided metrics, bounded keys; and the flags on a span through SpanmeterProcessor."""

from __future__ import annotations

import math
import random

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter import semconv
from spanmeter.processing import SpanmeterProcessor
from spanmeter.processing.anomaly import AnomalyDetector
from spanmeter.settings import Settings

KEY = ("svc", "chat gpt-4o", "gpt-4o")


def noisy(rng: random.Random, median: float = 0.8, log_sigma: float = 0.2) -> float:
    return median * math.exp(rng.gauss(0.0, log_sigma))


def warmed(metric: str = "latency", samples: int = 100, seed: int = 1, median: float = 0.8, **kwargs):
    detector = AnomalyDetector(sigma=3.0, min_samples=30, max_keys=kwargs.pop("max_keys", 100))
    rng = random.Random(seed)
    for _ in range(samples):
        detector.observe(KEY, {metric: noisy(rng, median)})
    return detector


def test_spike_after_warm_up_is_flagged():
    detector = warmed()
    reasons, score = detector.observe(KEY, {"latency": 0.8 * 5})
    assert reasons == ("latency",)
    assert score > 3.0


def test_nothing_is_flagged_before_min_samples():
    detector = AnomalyDetector(sigma=3.0, min_samples=30, max_keys=10)
    rng = random.Random(2)
    for i in range(30):
        value = 8.0 if i in (5, 25) else noisy(rng)
        assert detector.observe(KEY, {"latency": value}) == ((), 0.0)
    assert detector.observe(KEY, {"latency": 8.0})[0] == ("latency",)


def test_repeated_spikes_are_all_flagged():
    detector = warmed()
    rng = random.Random(3)
    for _ in range(20):  # one span in five: without winsorizing, 8 of these 20 would pass unseen
        assert detector.observe(KEY, {"latency": 5 * noisy(rng)})[0] == ("latency",)
        for _ in range(4):
            detector.observe(KEY, {"latency": noisy(rng)})


def test_lasting_level_shift_is_flagged_within_5_samples_and_stops_within_200():
    detector = AnomalyDetector(sigma=3.0, min_samples=30, max_keys=10)
    rng = random.Random(4)

    def observe(level: float) -> bool:
        # bounded noise (±0.2 in log units, ~1.7 sigma at most): a late flag is the shift's, not the noise's
        return bool(detector.observe(KEY, {"latency": level * math.exp(rng.uniform(-0.2, 0.2))})[0])

    assert not any(observe(0.8) for _ in range(200))
    flagged = [observe(1.6) for _ in range(1000)]
    assert any(flagged[:5])
    assert not any(flagged[200:])


def test_throughput_drop_is_flagged_but_rise_is_not():
    detector = warmed("throughput", median=8e6)  # B/s
    assert detector.observe(KEY, {"throughput": 8e6 * 5})[0] == ()
    reasons, score = detector.observe(KEY, {"throughput": 8e6 / 5})
    assert reasons == ("throughput",)
    assert score > 3.0


def test_latency_drop_is_not_flagged():
    detector = warmed()
    assert detector.observe(KEY, {"latency": 0.8 / 5}) == ((), 0.0)


def test_keys_are_bounded_least_recently_used_first():
    detector = warmed(max_keys=2)  # KEY holds a warmed-up baseline
    detector.observe("b", {"latency": 1.0})
    detector.observe(KEY, {"latency": 0.8})  # KEY is now the most recently used
    detector.observe("c", {"latency": 1.0})
    assert len(detector) == 2
    assert detector.evicted == 1
    assert detector.observe(KEY, {"latency": 4.0})[0] == ("latency",)  # KEY kept its baseline
    for _ in range(40):
        assert detector.observe("b", {"latency": 1.0})[0] == ()  # "b" starts over, warming up again
    assert detector.evicted == 2


def test_score_is_the_largest_deviation_and_every_metric_that_fired_is_a_reason():
    detector = AnomalyDetector(sigma=3.0, min_samples=30, max_keys=10)
    for _ in range(40):  # constant series: the spread sits on its floor of 0.1 (log units)
        detector.observe(KEY, {"latency": 1.0, "cost": 0.01, "tokens": 100.0})
    reasons, score = detector.observe(KEY, {"latency": 4.0, "cost": 0.01, "tokens": 1000.0})
    assert reasons == ("latency", "tokens")
    assert score == pytest.approx(math.log(1001 / 101) / 0.1, rel=0.1)  # tokens: 10x, the larger deviation


def test_constant_series_does_not_flag_small_noise():
    detector = AnomalyDetector(sigma=3.0, min_samples=30, max_keys=10)
    for _ in range(40):
        detector.observe(KEY, {"tokens": 100.0, "cost": 0.0})
    reasons, score = detector.observe(KEY, {"tokens": 110.0, "cost": 0.0})
    assert reasons == ()
    assert 0.0 < score < 3.0


def test_values_without_information_are_skipped():
    detector = warmed()
    for value in (-1.0, math.inf, math.nan):
        assert detector.observe(KEY, {"latency": value}) == ((), 0.0)
    assert detector.observe(KEY, {"latency": 4.0})[0] == ("latency",)


def test_slow_span_is_flagged_through_the_processor():
    exporter = InMemorySpanExporter()
    settings = Settings.load({"anomaly_min_samples": 20}, environ={})
    provider = TracerProvider()
    provider.add_span_processor(SpanmeterProcessor(exporter, settings=settings))
    tracer = provider.get_tracer("test")
    rng = random.Random(5)
    start = 1_700_000_000_000_000_000
    attributes = {semconv.GEN_AI_OPERATION_NAME: "execute_tool", "gen_ai.tool.name": "search"}
    for i in range(41):
        duration_ns = int(noisy(rng, median=0.1) * 1e9) if i < 40 else 1_000_000_000  # then one 10x slower
        span = tracer.start_span("execute_tool search", attributes=attributes, start_time=start)
        span.end(end_time=start + duration_ns)
        start += 2_000_000_000
    provider.shutdown()
    spans = exporter.get_finished_spans()
    assert len(spans) == 41
    assert not any(span.attributes.get(semconv.ANOMALY) for span in spans[:40])
    slow = spans[40].attributes
    assert slow[semconv.ANOMALY] is True
    assert slow[semconv.ANOMALY_REASONS] == ("latency",)
    assert slow[semconv.ANOMALY_SCORE] > 3.0
