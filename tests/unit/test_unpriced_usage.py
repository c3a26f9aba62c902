"""An LLM call that reports no usage (an openai stream without ``include_usage``, the SDK's
default) is visible as unpriced with reason ``no_usage``, not silently free."""

from __future__ import annotations

from spanmeter import semconv
from spanmeter.instrumentation.openai import OpenAIInstrumentor
from support import openai_fakes as fakes
from support.instrumentation import instrument_fixture
from support.processing import Pipeline, llm_attributes

instrument = instrument_fixture(OpenAIInstrumentor)


def _unpriced(reader, reason: str) -> float:
    data = reader.get_metrics_data()
    return sum(
        point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == semconv.METRIC_COST_UNPRICED
        for point in metric.data.data_points
        if point.attributes.get("reason") == reason
    )


def test_a_stream_without_usage_is_unpriced_with_reason_no_usage(instrumented, finished_spans, metric_reader):
    before = _unpriced(metric_reader, "no_usage")
    client = fakes.server(fakes.chat_chunks(usage=False)).client()
    stream = client.chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "Hello, world"
    (span,) = finished_spans()
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    assert span.attributes[semconv.COST_SOURCE] == "unknown"
    assert semconv.COST_USD not in span.attributes
    assert _unpriced(metric_reader, "no_usage") == before + 1


def test_reasons_tell_no_usage_from_no_price():
    with Pipeline() as p:
        p.span("stream", {k: v for k, v in llm_attributes("gpt-4o-mini", None, None).items() if v is not None})
        p.span("private", llm_attributes("acme-private-7b", 10, 1))
        p.span("failed", {**llm_attributes("gpt-4o-mini", None, None), "error.type": "429"})
        spans = p.spans()
        assert spans["stream"].attributes[semconv.COST_SOURCE] == "unknown"
        assert spans["private"].attributes[semconv.COST_SOURCE] == "unknown"
        assert semconv.COST_SOURCE not in spans["failed"].attributes  # a failed call is not billed
        points = {point.attributes["reason"]: point.value for point in p.points(semconv.METRIC_COST_UNPRICED)}
        assert points == {"no_usage": 1, "no_price": 1}
