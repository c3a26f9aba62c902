"""spanmeter's openai spans for ``with_streaming_response`` calls (how the OpenAI Agents SDK streams).

The response is parsed by the app after the call returns; the span must follow what
``parse()`` gives (an object or a stream) and end when the response is closed.
"""

from __future__ import annotations

import pytest

from spanmeter import semconv
from spanmeter.instrumentation.openai import OpenAIInstrumentor
from support import scripted_llm as llm
from support.instrumentation import assert_no_internal_errors, instrument_fixture, only_span

instrument = instrument_fixture(OpenAIInstrumentor)
pytestmark = pytest.mark.usefixtures("instrumented")
_STEP = llm.text("Hello there", input_tokens=321, output_tokens=12, cached_tokens=64)


def _assert_usage(span) -> None:
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 321
    assert span.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 12
    assert span.attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 64
    assert span.attributes[semconv.COST_USD] > 0


async def test_async_responses_stream_is_read_after_parse(finished_spans):
    client = llm.ScriptedLLM([_STEP]).async_client()
    async with client.responses.with_streaming_response.create(model=llm.MODEL, input="Hi", stream=True) as response:
        assert finished_spans() == []  # the call returned; the stream has yet to be read
        events = [event async for event in await response.parse()]
    assert events[-1].type == "response.completed"
    _assert_usage(only_span(finished_spans))
    assert_no_internal_errors()


def test_sync_chat_object_is_read_at_parse(finished_spans):
    client = llm.ScriptedLLM([_STEP]).client()
    with client.chat.completions.with_streaming_response.create(model=llm.MODEL, messages=[]) as response:
        completion = response.parse()
    assert completion.choices[0].message.content == "Hello there"
    span = only_span(finished_spans)
    _assert_usage(span)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == completion.id


@pytest.mark.parametrize("stream", [False, True])
def test_closed_without_parse_ends_the_span(stream, finished_spans):
    client = llm.ScriptedLLM([_STEP]).client()
    with client.chat.completions.with_streaming_response.create(model=llm.MODEL, messages=[], stream=stream):
        pass
    span = only_span(finished_spans)
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
