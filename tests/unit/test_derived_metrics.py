"""Derived metrics read with an in-memory reader: DESIGN.md's names, the GenAI
semantic-convention buckets, bounded dimensions and exemplars linking to traces."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics.view import View
from opentelemetry.trace import Status, StatusCode

from spanmeter import semconv
from spanmeter.processing.derived_metrics import SPAN_DURATION_BUCKETS, SPAN_METRICS_DURATION_BUCKETS_MS
from support.processing import Pipeline, llm_attributes


def test_llm_span_feeds_the_genai_metrics_with_semconv_buckets_and_exemplars():
    attributes = llm_attributes(
        "gpt-4o-mini", 1200, 350, **{"user.id": "u-123", "spanmeter.team": "search", "gen_ai.agent.name": "planner"}
    )
    with Pipeline() as p:
        p.span("chat gpt-4o-mini", attributes, seconds=0.7)
        span = p.spans()["chat gpt-4o-mini"]
        metrics = p.collect()
        tokens = {point.attributes["gen_ai.token.type"]: point for point in metrics["gen_ai.client.token.usage"]}
        assert {kind: point.sum for kind, point in tokens.items()} == {"input": 1200, "output": 350}
        assert tuple(tokens["input"].explicit_bounds) == semconv.GEN_AI_TOKEN_USAGE_BUCKETS

        (duration,) = metrics["gen_ai.client.operation.duration"]
        assert duration.sum == pytest.approx(0.7)
        assert tuple(duration.explicit_bounds) == semconv.GEN_AI_DURATION_BUCKETS
        assert dict(duration.attributes) == {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        }  # fmt: skip
        (exemplar,) = duration.exemplars
        assert (exemplar.trace_id, exemplar.span_id) == (span.context.trace_id, span.context.span_id)

        (cost,) = metrics["spanmeter.cost"]
        assert cost.value == pytest.approx(span.attributes["spanmeter.cost.usd"])
        assert dict(cost.attributes) == {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.agent.name": "planner", "spanmeter.team": "search", "spanmeter.cost.source": "genai-prices",
            "spanmeter.cost.kind": "llm",
        }  # fmt: skip
        assert "spanmeter.span.duration" not in metrics  # an LLM call's duration is counted once


def test_work_spans_feed_span_duration_and_errors():
    with Pipeline() as p:
        p.span("invoke_agent planner", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
               seconds=3.0)  # fmt: skip
        tool = p.span("execute_tool search", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
                      end=False)  # fmt: skip
        tool.set_status(Status(StatusCode.ERROR, "boom"))
        tool.end()
        p.span("chat", llm_attributes("gpt-4o-mini", 10, 1, **{"error.type": "RateLimitError"}))
        p.span("plain", {})  # not work: no metrics
        p.spans()
        durations = {point.attributes["gen_ai.operation.name"]: point for point in p.points("spanmeter.span.duration")}
        assert set(durations) == {"invoke_agent", "execute_tool"}
        assert durations["invoke_agent"].sum == pytest.approx(3.0)
        assert tuple(durations["invoke_agent"].explicit_bounds) == SPAN_DURATION_BUCKETS
        errors = {
            (point.attributes["gen_ai.operation.name"], point.attributes["error.type"]): point.value
            for point in p.points("spanmeter.span.errors")
        }
        assert errors == {("execute_tool", "_OTHER"): 1, ("chat", "RateLimitError"): 1}
        (llm_duration,) = p.points("gen_ai.client.operation.duration")
        assert llm_duration.attributes["error.type"] == "RateLimitError"


def test_dimensions_are_bounded_by_the_sdk_cardinality_limit_with_visible_overflow():
    views = [View(instrument_name="spanmeter.cost.unpriced", aggregation_cardinality_limit=3)]
    with Pipeline(views=views) as p:
        for i in range(10):
            p.span(f"chat {i}", llm_attributes(f"private-model-{i}", 10, 1, "vllm"))
        p.spans()
        points = p.points("spanmeter.cost.unpriced")
        overflow = [point.value for point in points if point.attributes.get("otel.metric.overflow")]
        assert len(points) == 4 and overflow == [7]  # three models, the other seven in the overflow point


def test_ids_and_users_never_become_metric_dimensions():
    with Pipeline() as p:
        p.span("chat", llm_attributes("gpt-4o-mini", 10, 1, **{"user.id": "u-1", "gen_ai.response.id": "r-1"}))
        p.spans()
        keys = {key for points in p.collect().values() for point in points for key in point.attributes}
    assert keys and not keys & {"user.id", "gen_ai.response.id"}


@pytest.mark.parametrize("enabled", [False, True])
def test_span_metrics_are_derived_for_every_span_only_when_turned_on(enabled):
    with Pipeline({"span_metrics": enabled}) as p:
        p.span("GET /", {"http.route": "/"}, seconds=0.003)
        failed = p.span("chat", llm_attributes("gpt-4o-mini", 1, 1), end=False)
        failed.set_status(Status(StatusCode.ERROR))
        failed.end(end_time=failed.start_time + 2_000_000_000)
        p.spans()
        calls = p.points("traces.span.metrics.calls")
        durations = p.points("traces.span.metrics.duration")
    if not enabled:
        assert calls == [] and durations == []
        return
    assert {(point.attributes["span.name"], point.attributes["status.code"]): point.value for point in calls} == {
        ("GET /", "STATUS_CODE_UNSET"): 1,
        ("chat", "STATUS_CODE_ERROR"): 1,
    }
    assert {point.attributes["span.kind"] for point in calls} == {"SPAN_KIND_INTERNAL"}
    by_name = {point.attributes["span.name"]: point for point in durations}
    assert by_name["GET /"].sum == pytest.approx(3.0) and by_name["chat"].sum == pytest.approx(2000.0)
    assert tuple(by_name["GET /"].explicit_bounds) == SPAN_METRICS_DURATION_BUCKETS_MS
    assert by_name["GET /"].bucket_counts[1] == 1  # (2 ms, 4 ms]


def test_deferred_histogram_values_are_recorded_later_exactly_and_stop_when_spans_wait():
    with Pipeline() as p:
        sink = p.processor.enricher.metrics
        sink.defer(True)
        for tokens in range(1, 1201):
            sink.record("gen_ai.client.token.usage", ("chat", "openai", "m", "m", "input"), tokens)
        assert "gen_ai.client.token.usage" not in p.collect()  # held back, nothing recorded yet
        assert sink.exemplars is False  # no span context is built for a value held back

        sink.defer(False)
        sink.record_deferred(until=lambda: True)  # spans wait: the worker leaves the values for later
        assert "gen_ai.client.token.usage" not in p.collect()
        chunks = iter([False, True])
        sink.record_deferred(until=lambda: next(chunks))  # one chunk, then spans wait again
        (partial,) = p.points("gen_ai.client.token.usage")
        assert partial.count == 512
        sink.record_deferred()
        (point,) = p.points("gen_ai.client.token.usage")
    assert (point.count, point.sum, point.min, point.max) == (1200, 1200 * 1201 / 2, 1, 1200)


def test_a_burst_that_backs_the_queue_up_loses_no_measurement_of_the_spans_it_exports(monkeypatch):
    """While batches wait, histogram values are deferred; after the burst every exported span's
    tokens and duration are in the histograms, exactly once."""
    with Pipeline(max_queue_size=4096, max_export_batch_size=64, schedule_delay_millis=1) as p:
        sink = p.processor.enricher.metrics
        deferred = []
        monkeypatch.setattr(sink, "defer", lambda on, defer=sink.defer: deferred.append(on) or defer(on))
        for i in range(3000):
            p.span(f"chat {i % 3}", llm_attributes("gpt-4o-mini", 100 + i % 7, 10 + i % 5), seconds=0.5)
        p.processor.shutdown()
        exported = p.exporter.get_finished_spans()
        tokens = {point.attributes["gen_ai.token.type"]: point for point in p.points("gen_ai.client.token.usage")}
        (duration,) = p.points("gen_ai.client.operation.duration")
    assert True in deferred and deferred[-1] is False  # the burst was deferred, and the end was not
    assert p.processor.dropped == 0 and len(exported) == 3000
    assert tokens["input"].count == tokens["output"].count == duration.count == 3000
    assert tokens["input"].sum == sum(span.attributes["gen_ai.usage.input_tokens"] for span in exported)
    assert tokens["output"].sum == sum(span.attributes["gen_ai.usage.output_tokens"] for span in exported)
    assert duration.sum == pytest.approx(3000 * 0.5)
