"""spanmeter lives with others: its processing prices any span carrying gen_ai.* usage, whoever made it.

Real SDK calls over an in-memory transport (``tests/bench/llm_fakes.py``), with spans
made by the official opentelemetry-instrumentation-openai-v2 and by the anthropic
SDK's own telemetry (not by spanmeter's instrumentors), going through the session's
SpanmeterProcessor (``tests/conftest.py``). Expected prices are genai-prices' own
calculation for the usage the producer reported.
"""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from bench import llm_fakes
from spanmeter import semconv

ANTHROPIC_SCOPE = "com.anthropic.sdk.python"


def expected_usd(provider: str, model: str, **usage: int) -> float:
    return float(calc_price(Usage(**usage), model_ref=model, provider_id=provider).total_price)


def assert_priced(span, provider: str, model: str, **usage: int) -> None:
    attributes = span.attributes
    assert attributes.get(semconv.COST_SOURCE) == semconv.COST_SOURCE_GENAI_PRICES
    assert attributes.get(semconv.COST_USD) == pytest.approx(expected_usd(provider, model, **usage), rel=1e-9)


@pytest.fixture
def openai_v2(tracer_provider):
    """The official instrumentation, on the session's spanmeter pipeline, for one test."""
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield
    instrumentor.uninstrument()


@pytest.mark.parametrize("call", ["chat", "stream"])
def test_official_openai_v2_span_is_priced(openai_v2, finished_spans, call):
    llm_fakes.CALLS["openai"][call](llm_fakes.openai_client())

    (span,) = finished_spans()
    assert span.instrumentation_scope.name.startswith("opentelemetry.")
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == llm_fakes.INPUT_TOKENS
    assert_priced(
        span, "openai", llm_fakes.OPENAI_RESPONSE_MODEL,
        input_tokens=llm_fakes.INPUT_TOKENS, output_tokens=llm_fakes.OUTPUT_TOKENS,
    )  # fmt: skip


@pytest.mark.parametrize("call", ["chat", "stream"])
def test_anthropic_sdk_own_span_is_priced(finished_spans, call):
    """The SDK makes its span whenever a global TracerProvider exists (here: the session's)."""
    llm_fakes.CALLS["anthropic"][call](llm_fakes.anthropic_client(open_telemetry=None))

    (span,) = finished_spans()
    attributes = span.attributes
    assert span.instrumentation_scope.name == ANTHROPIC_SCOPE
    assert span.name == "anthropic.messages.create"
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attributes[semconv.GEN_AI_REQUEST_MODEL] == llm_fakes.ANTHROPIC_MODEL
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == llm_fakes.ANTHROPIC_RESPONSE_MODEL
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == llm_fakes.INPUT_TOKENS
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == llm_fakes.OUTPUT_TOKENS
    assert_priced(
        span, "anthropic", llm_fakes.ANTHROPIC_RESPONSE_MODEL,
        input_tokens=llm_fakes.INPUT_TOKENS, output_tokens=llm_fakes.OUTPUT_TOKENS,
    )  # fmt: skip


def test_anthropic_sdk_cached_tokens_are_priced_at_cache_rates(finished_spans):
    """The SDK reports input including the cache, plus cache_read and (its own name) cache_write."""
    body = llm_fakes.anthropic_message_body(input_tokens=300, cache_read=800, cache_write=100)
    llm_fakes.anthropic_message(llm_fakes.anthropic_client(body, open_telemetry=None))

    (span,) = finished_spans()
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1200
    assert span.attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 800
    assert span.attributes["gen_ai.usage.cache_write.input_tokens"] == 100
    assert_priced(
        span, "anthropic", llm_fakes.ANTHROPIC_RESPONSE_MODEL,
        input_tokens=1200, cache_read_tokens=800, cache_write_tokens=100, output_tokens=llm_fakes.OUTPUT_TOKENS,
    )  # fmt: skip
