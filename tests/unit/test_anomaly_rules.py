"""What a span is judged on (issue 21): failures do not feed latency baselines, an LLM call's
latency is judged relative to its output tokens, an effect below the minimum is never a flag,
a slow LLM call is; agents by their own time and their calls; flags explain themselves and
count once per trace as an incident; a key still warming up says so."""

from __future__ import annotations

import math
import random

import pytest
from opentelemetry import trace

from spanmeter import semconv
from spanmeter.processing.anomaly import AnomalyDetector
from support.processing import T0, Pipeline, llm_attributes

KEY = ("svc", "chat gpt-4o-mini", "gpt-4o-mini")


def llm_seconds(rng: random.Random, output_tokens: int) -> float:
    """0.3 s to the first token plus 10 ms per output token, with a little noise."""
    return (0.3 + 0.01 * output_tokens) * math.exp(rng.gauss(0.0, 0.1))


def test_failures_do_not_move_the_latency_baseline():
    history = [0.5 * math.exp(random.Random(1).gauss(0.0, 0.1)) for _ in range(100)]
    never_failed, failed, fed_failures = AnomalyDetector(), AnomalyDetector(), AnomalyDetector()
    for detector in (never_failed, failed, fed_failures):
        for seconds in history:
            detector.observe_span(KEY, seconds)
    for _ in range(60):  # an error burst: the provider answers 500 at once
        failed.observe_span(KEY, 0.02, failed=True)
        fed_failures.observe_span(KEY, 0.02)  # as if the failures were ordinary calls
    probe = 0.8
    assert failed.observe_span(KEY, probe) == never_failed.observe_span(KEY, probe)
    assert fed_failures.observe_span(KEY, probe)[1] > never_failed.observe_span(KEY, probe)[1]


def test_a_failed_span_is_not_judged_on_latency():
    detector = AnomalyDetector()
    for _ in range(50):
        detector.observe_span(KEY, 0.5)
    assert detector.observe_span(KEY, 10.0, failed=True) == ((), 0.0, {})  # a timeout is an error, not slowness


def test_a_long_answer_is_not_slow():
    rng = random.Random(2)
    detector, without_tokens = AnomalyDetector(), AnomalyDetector()
    for _ in range(200):
        tokens = rng.randint(50, 400)
        seconds = llm_seconds(rng, tokens)
        detector.observe_span(KEY, seconds, output_tokens=tokens)
        without_tokens.observe_span(KEY, seconds)
    long_answer = 0.3 + 0.01 * 4000  # 4,000 tokens at the usual pace: 40 s
    assert detector.observe_span(KEY, long_answer, output_tokens=4000)[0] == ()
    assert without_tokens.observe_span(KEY, long_answer)[0] == ("latency",)  # judged on seconds alone it would be


def test_a_six_times_slower_llm_call_is_flagged_with_its_expected_latency():
    rng = random.Random(3)
    detector = AnomalyDetector()
    for _ in range(200):
        tokens = rng.randint(50, 400)
        detector.observe_span(KEY, llm_seconds(rng, tokens), output_tokens=tokens)
    usual = 0.3 + 0.01 * 200
    reasons, score, values = detector.observe_span(KEY, 6 * usual, output_tokens=200)
    assert reasons == ("latency",)
    assert score > 3.0
    value, baseline = values["latency"]
    assert value == 6 * usual
    assert baseline == pytest.approx(usual, rel=0.15)  # what 200 tokens usually take


def test_a_slow_first_chunk_is_flagged_and_a_long_stream_is_not():
    rng = random.Random(4)
    detector = AnomalyDetector()
    for _ in range(200):
        tokens = rng.randint(50, 400)
        first = 0.3 * math.exp(rng.gauss(0.0, 0.1))
        detector.observe_span(KEY, first + 0.01 * tokens, output_tokens=tokens, first_chunk_s=first)
    assert detector.observe_span(KEY, 0.3 + 0.01 * 3000, output_tokens=3000, first_chunk_s=0.3)[0] == ()
    reasons, _, values = detector.observe_span(KEY, 3.0 + 0.01 * 200, output_tokens=200, first_chunk_s=3.0)
    assert reasons == ("latency",)
    value, baseline = values["latency"]
    assert (value, baseline) == (5.0, pytest.approx(2.3, rel=0.1))  # with a usual first chunk: 0.3 + 2 s


def test_jitter_below_the_minimum_effect_is_not_flagged():
    rng = random.Random(5)
    detector = AnomalyDetector()
    for _ in range(200):  # a 5 ms tool, very regular
        detector.observe_span(("svc", "execute_tool get_weather", None), 0.005 * math.exp(rng.gauss(0.0, 0.03)))
    key = ("svc", "execute_tool get_weather", None)
    reasons, score, _ = detector.observe_span(key, 0.0075)  # 1.5x: far off in sigmas, small in effect
    assert (reasons, score > 3.0) == ((), True)
    reasons, score, _ = detector.observe_span(key, 0.025)  # 5x, but 20 ms: below the 50 ms minimum
    assert (reasons, score > 3.0) == ((), True)
    assert detector.observe_span(key, 0.1)[0] == ("latency",)  # 20x and 95 ms: worth a look


def test_an_agent_is_judged_by_its_own_time_and_its_calls():
    rng = random.Random(6)
    detector = AnomalyDetector()
    key = ("svc", "invoke_agent planner", None)
    for _ in range(100):
        calls_s = 2.0 * math.exp(rng.gauss(0.0, 0.3))
        detector.observe_span(key, calls_s + 0.01, calls=2, calls_s=calls_s)
    # a slow call below it is that call's anomaly, not the agent's
    assert detector.observe_span(key, 20.01, calls=2, calls_s=20.0)[0] == ()
    reasons, _, values = detector.observe_span(key, 10.05, calls=10, calls_s=10.0)  # a runaway loop
    assert reasons == ("calls",)
    assert values["calls"] == (10, pytest.approx(2.0, rel=0.05))


def test_a_prompt_blown_up_is_flagged_as_tokens():
    rng = random.Random(7)
    detector = AnomalyDetector()
    for _ in range(100):
        tokens = rng.randint(50, 400)
        detector.observe_span(KEY, llm_seconds(rng, tokens), output_tokens=tokens, input_tokens=rng.randint(900, 1100))
    reasons, _, values = detector.observe_span(KEY, llm_seconds(rng, 100), output_tokens=100, input_tokens=6000)
    assert reasons == ("tokens",)
    assert values["tokens"] == (6000, pytest.approx(1000, rel=0.15))


def test_a_key_with_too_few_samples_stays_quiet_and_says_so():
    detector = AnomalyDetector(min_samples=30)
    for _ in range(30):
        assert detector.observe_span(KEY, 0.5) == ((), -1.0, {})
    assert detector.observe_span(KEY, 0.5)[1] >= 0.0
    assert detector.observe_span(KEY, 50.0)[0] == ("latency",)


def _chat(pipeline: Pipeline, start: int, seconds: float, output_tokens: int, parent=None):
    context = trace.set_span_in_context(parent) if parent is not None else None
    span = pipeline.tracer.start_span(
        "chat gpt-4o-mini", context=context, attributes=llm_attributes("gpt-4o-mini", 1000, output_tokens),
        start_time=start,
    )  # fmt: skip
    span.end(end_time=start + round(seconds * 1e9))
    return span


def test_the_processor_flags_a_six_times_slower_llm_call_once_per_trace():
    rng = random.Random(8)
    with Pipeline({"anomaly_min_samples": 30}) as pipeline:
        start = T0
        for _ in range(60):
            tokens = rng.randint(50, 400)
            _chat(pipeline, start, llm_seconds(rng, tokens), tokens)
            start += 10**10
        agent = pipeline.tracer.start_span(
            "invoke_agent planner", attributes={"gen_ai.operation.name": "invoke_agent"}, start_time=start
        )
        slow = _chat(pipeline, start, 6 * (0.3 + 0.01 * 200), 200, parent=agent)
        again = _chat(pipeline, start, 6 * (0.3 + 0.01 * 200), 200, parent=agent)
        agent.end(end_time=start + 30 * 10**9)
        pipeline.processor.force_flush()
        spans = {span.context.span_id: span for span in pipeline.exporter.get_finished_spans()}
        first = spans[slow.get_span_context().span_id].attributes
        assert first[semconv.ANOMALY] is True
        assert first[semconv.ANOMALY_REASONS] == ("latency",)
        assert first[semconv.ANOMALY_SCORE] > 3.0
        assert first[semconv.ANOMALY_VALUE] == pytest.approx(6 * 2.3)
        assert first[semconv.ANOMALY_BASELINE] == pytest.approx(2.3, rel=0.2)
        assert spans[again.get_span_context().span_id].attributes[semconv.ANOMALY] is True
        early = [span for span in spans.values() if span.attributes.get(semconv.ANOMALY_WARMING_UP)]
        assert len(early) == 30 + 1  # the first 30 chat calls, and the first agent span
        # two flagged spans, one trace: two anomalous spans, one incident
        assert pipeline.value(semconv.METRIC_ANOMALIES, reason="latency") == 2
        assert pipeline.value(semconv.METRIC_ANOMALY_INCIDENTS, reason="latency") == 1


def test_span_tables_are_bounded_and_count_their_drops():
    detector = AnomalyDetector(max_spans=2)
    for parent in (1, 2, 3):  # three parents still open: the oldest one's calls are dropped
        detector.calls_below(10 + parent, parent, 0.5)
    assert detector.calls_below(1, None, 2.0) == (0, 0.0)
    assert detector.calls_below(3, None, 2.0) == (1, 0.5)
    assert [detector.first_in_trace(trace) for trace in (7, 7, 8, 9, 7)] == [True, False, True, True, True]
    assert detector.overflow_counts() == {"anomaly_baselines": 0, "anomaly_calls": 1, "anomaly_traces": 2}
