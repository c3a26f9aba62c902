"""spanmeter's openai instrumentation through the real SDK over an in-memory transport.

Every call type (chat completions, responses, embeddings; sync, async, streams, stream
helpers, with_raw_response), every way a stream ends, API errors with the SDK's retries,
content capture, instrument/uninstrument cycles beside a peer, and injected faults that
must never change what the app gets back. Spans go through the session's
SpanmeterProcessor (``tests/conftest.py``), so pricing is checked as users would see it.
"""

from __future__ import annotations

import gc
import json
from importlib.metadata import entry_points

import httpx2
import openai
import pytest
import wrapt
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, StatusCode

from spanmeter import internal_errors, semconv
from spanmeter.instrumentation import genai
from spanmeter.instrumentation import openai as spanmeter_openai
from spanmeter.instrumentation.openai import OpenAIInstrumentor
from spanmeter.settings import Settings
from support import instrumentation as shared
from support import openai_fakes as fakes
from support.instrumentation import assert_no_internal_errors, instrument_fixture, only_span

CHAT_BODY = fakes.llm_fakes.OPENAI_CHAT_BODY

instrument = instrument_fixture(OpenAIInstrumentor)


def chat(client, **kwargs):
    return client.chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES, **kwargs)


# --- chat completions ---------------------------------------------------------


def test_chat_span_has_request_response_and_usage_attributes(instrumented, finished_spans):
    server = fakes.server(CHAT_BODY)
    result = chat(server.client(), temperature=0.2, max_completion_tokens=256, top_p=0.9, frequency_penalty=0.1,
                  presence_penalty=0.3, stop=["END"], seed=7, n=1)  # fmt: skip

    assert isinstance(result, openai.types.chat.ChatCompletion)
    span = only_span(finished_spans)
    assert span.name == f"chat {fakes.MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == semconv.INSTRUMENTATION_SCOPE
    assert span.status.status_code is StatusCode.UNSET
    attributes = span.attributes
    assert {key: attributes[key] for key in (
        semconv.GEN_AI_OPERATION_NAME, semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_REQUEST_MODEL,
        semconv.GEN_AI_REQUEST_TEMPERATURE, semconv.GEN_AI_REQUEST_MAX_TOKENS, semconv.GEN_AI_REQUEST_TOP_P,
        semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY, semconv.GEN_AI_REQUEST_PRESENCE_PENALTY,
        semconv.GEN_AI_REQUEST_STOP_SEQUENCES, semconv.GEN_AI_REQUEST_SEED, semconv.GEN_AI_REQUEST_CHOICE_COUNT,
        semconv.SERVER_ADDRESS, semconv.SERVER_PORT, semconv.GEN_AI_RESPONSE_ID, semconv.GEN_AI_RESPONSE_MODEL,
        semconv.GEN_AI_RESPONSE_FINISH_REASONS, semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
    )} == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": fakes.MODEL,
        "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 256, "gen_ai.request.top_p": 0.9,
        "gen_ai.request.frequency_penalty": 0.1, "gen_ai.request.presence_penalty": 0.3,
        "gen_ai.request.stop_sequences": ("END",), "gen_ai.request.seed": 7, "gen_ai.request.choice.count": 1,
        "server.address": "llm.example.com", "server.port": 8443, "gen_ai.response.id": "chatcmpl-bench",
        "gen_ai.response.model": fakes.RESPONSE_MODEL, "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": fakes.llm_fakes.INPUT_TOKENS,
        "gen_ai.usage.output_tokens": fakes.llm_fakes.OUTPUT_TOKENS,
    }  # fmt: skip
    assert semconv.GEN_AI_INPUT_MESSAGES not in attributes  # capture is off by default
    assert attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
    assert attributes[semconv.COST_USD] > 0
    assert_no_internal_errors()


def test_tool_calls_cached_and_reasoning_tokens(instrumented, finished_spans):
    result = chat(fakes.server(fakes.chat_tool_call_body()).client(), max_tokens=100)

    assert result.choices[0].message.tool_calls[1].function.name == "get_time"
    attributes = only_span(finished_spans).attributes
    assert attributes[semconv.TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert attributes[semconv.TOOL_CALL_IDS] == ("call_weather", "call_time")
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 2048
    assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1024
    assert attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 192
    assert attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 100


async def test_async_chat(instrumented, finished_spans):
    result = (
        await fakes.server(CHAT_BODY).async_client().chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES)
    )

    assert result.id == "chatcmpl-bench"
    attributes = only_span(finished_spans).attributes
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-bench"
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == fakes.llm_fakes.OUTPUT_TOKENS


def test_span_is_current_during_the_sdk_call(instrumented, finished_spans):
    """Spans started inside the call (HTTP client instrumentation) become children of the LLM span."""
    seen = []

    def reply(request):
        seen.append(trace.get_current_span().get_span_context())
        return fakes.json_reply(CHAT_BODY)(request)

    chat(fakes.server(reply).client())

    span = only_span(finished_spans)
    assert seen == [span.get_span_context()]
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_server_attributes_follow_a_changed_base_url(instrumented, finished_spans):
    client = fakes.server(CHAT_BODY).client()
    chat(client)
    client.base_url = "http://other.example.com:9000/v1"
    chat(client)

    first, second = finished_spans()
    assert (first.attributes[semconv.SERVER_ADDRESS], first.attributes[semconv.SERVER_PORT]) == (
        "llm.example.com",
        8443,
    )
    assert (second.attributes[semconv.SERVER_ADDRESS], second.attributes[semconv.SERVER_PORT]) == (
        "other.example.com",
        9000,
    )


def test_chat_parse_helper(instrumented, finished_spans):
    result = fakes.server(CHAT_BODY).client().chat.completions.parse(model=fakes.MODEL, messages=fakes.MESSAGES)

    assert result.choices[0].message.parsed is None
    assert only_span(finished_spans).attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-bench"


# --- chat streams -------------------------------------------------------------


@pytest.mark.parametrize("include_usage", [True, False])
def test_chat_stream_usage_comes_from_the_final_usage_chunk(
    instrumented, finished_spans, stepping_clock, include_usage
):
    server = fakes.server(fakes.chat_chunks(usage=include_usage))
    stream = chat(server.client(), stream=True,
                  **({"stream_options": {"include_usage": True}} if include_usage else {}))  # fmt: skip

    assert isinstance(stream, openai.Stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text == "Hello, world"
    attributes = only_span(finished_spans).attributes
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stream"
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] == 0.25
    if include_usage:
        assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20
        assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
        assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 4
    else:
        assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in attributes
    assert_no_internal_errors()


def test_chat_stream_tool_calls(instrumented, finished_spans):
    for _ in chat(fakes.server(fakes.chat_chunks(tool_call=True)).client(), stream=True):
        pass

    attributes = only_span(finished_spans).attributes
    assert attributes[semconv.TOOL_CALL_NAMES] == ("lookup",)
    assert attributes[semconv.TOOL_CALL_IDS] == ("call_lookup",)
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)


@pytest.mark.parametrize("consume, error", shared.SYNC_ENDINGS)
def test_sync_stream_ends_its_span_once_on_every_path(instrumented, finished_spans, consume, error):
    consume(chat(fakes.server(fakes.chat_chunks()).client(), stream=True))
    gc.collect()

    span = only_span(finished_spans)
    assert span.attributes.get(semconv.ERROR_TYPE) == error
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stream"
    assert_no_internal_errors()


def test_a_stream_read_in_two_loops_keeps_one_span_to_the_end(instrumented, finished_spans):
    """Like the SDK's stream, breaking out of a loop does not end it: a later loop continues."""
    stream = chat(fakes.server(fakes.chat_chunks()).client(), stream=True, stream_options={"include_usage": True})
    for first in stream:
        break
    assert finished_spans() == []
    rest = list(stream)

    assert first.choices[0].delta.role == "assistant"
    assert len(rest) == 5
    assert only_span(finished_spans).attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_stream_broken_mid_way_records_the_error_and_reraises_it(instrumented, finished_spans):
    stream = chat(fakes.server(fakes.sse_reply(fakes.chat_chunks(), fail_after=2)).client(), stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError):
        received.extend(stream)  # keeps the chunks that came before the failure
    stream.close()

    assert len(received) == 2
    span = only_span(finished_spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "APIConnectionError"
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stream"


async def _async_aclose_early(stream):
    await stream.__anext__()
    await stream.aclose()


@pytest.mark.parametrize("consume", [*shared.ASYNC_ENDINGS, _async_aclose_early])
async def test_async_stream_ends_its_span_once_on_every_path(instrumented, finished_spans, consume):
    client = fakes.server(fakes.chat_chunks()).async_client()
    stream = await client.chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES, stream=True)
    assert isinstance(stream, openai.AsyncStream)
    await consume(stream)
    del stream
    await shared.let_the_loop_run()

    span = only_span(finished_spans)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stream"
    assert semconv.ERROR_TYPE not in span.attributes


async def test_async_stream_broken_mid_way(instrumented, finished_spans):
    client = fakes.server(fakes.sse_reply(fakes.chat_chunks(), fail_after=1)).async_client()
    stream = await client.chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError):
        async for _ in stream:
            pass

    assert only_span(finished_spans).attributes[semconv.ERROR_TYPE] == "APIConnectionError"


@pytest.mark.parametrize("read_all", [True, False])
def test_chat_stream_helper(instrumented, finished_spans, read_all):
    client = fakes.server(fakes.chat_chunks()).client()
    with client.chat.completions.stream(model=fakes.MODEL, messages=fakes.MESSAGES,
                                        stream_options={"include_usage": True}) as stream:  # fmt: skip
        if read_all:
            assert stream.get_final_completion().choices[0].message.content == "Hello, world"
        else:
            next(iter(stream))

    attributes = only_span(finished_spans).attributes  # ended on exit, while `stream` is still referenced
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stream"
    assert (semconv.GEN_AI_USAGE_INPUT_TOKENS in attributes) is read_all


async def test_async_chat_stream_helper(instrumented, finished_spans):
    client = fakes.server(fakes.chat_chunks()).async_client()
    async with client.chat.completions.stream(model=fakes.MODEL, messages=fakes.MESSAGES) as stream:
        assert [event.type async for event in stream if event.type == "content.done"] == ["content.done"]
        completion = await stream.get_final_completion()

    assert completion.usage.prompt_tokens == 20
    assert only_span(finished_spans).attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20


# --- responses ----------------------------------------------------------------


def _assert_responses_span(span):
    attributes = span.attributes
    assert span.name == "chat gpt-4.1"
    assert attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "resp_123"
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4.1-2025-04-14"
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("completed",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 500
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 90
    assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 128
    assert attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 40
    assert attributes[semconv.TOOL_CALL_NAMES] == ("search",)
    assert attributes[semconv.TOOL_CALL_IDS] == ("call_search",)


def test_responses_create(instrumented, finished_spans):
    result = (
        fakes.server(fakes.response_body())
        .client()
        .responses.create(model="gpt-4.1", input="hi", temperature=0.3, max_output_tokens=256)
    )

    assert result.output_text == "Hi there"
    span = only_span(finished_spans)
    _assert_responses_span(span)
    assert span.attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 256
    assert span.attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.3


async def test_async_responses_create(instrumented, finished_spans):
    result = await fakes.server(fakes.response_body()).async_client().responses.create(model="gpt-4.1", input="hi")

    assert result.id == "resp_123"
    _assert_responses_span(only_span(finished_spans))


def test_responses_stream(instrumented, finished_spans, stepping_clock):
    stream = fakes.server(fakes.response_events()).client().responses.create(model="gpt-4.1", input="hi", stream=True)
    types = [event.type for event in stream]

    assert types[-1] == "response.completed"
    span = only_span(finished_spans)
    _assert_responses_span(span)
    assert span.attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] == 0.25


async def test_async_responses_stream(instrumented, finished_spans):
    client = fakes.server(fakes.response_events()).async_client()
    stream = await client.responses.create(model="gpt-4.1", input="hi", stream=True)
    async for _ in stream:
        pass

    _assert_responses_span(only_span(finished_spans))


def test_incomplete_response_reports_why(instrumented, finished_spans):
    body = fakes.response_object(status="incomplete")
    body["incomplete_details"] = {"reason": "max_output_tokens"}
    result = fakes.server(json.dumps(body).encode()).client().responses.create(model="gpt-4.1", input="hi")

    assert result.status == "incomplete"
    assert only_span(finished_spans).attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_output_tokens",)


def test_responses_stream_helper(instrumented, finished_spans):
    client = fakes.server(fakes.response_events()).client()
    with client.responses.stream(model="gpt-4.1", input="hi") as stream:
        assert "".join(event.delta for event in stream if event.type == "response.output_text.delta") == "Hi there"
        assert stream.get_final_response().id == "resp_123"

    _assert_responses_span(only_span(finished_spans))


async def test_async_responses_stream_helper_closed_early(instrumented, finished_spans):
    client = fakes.server(fakes.response_events()).async_client()
    async with client.responses.stream(model="gpt-4.1", input="hi") as stream:
        async for event in stream:
            assert event.type == "response.created"
            break

    span = only_span(finished_spans)  # ended on exit, before the final event came
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4.1"
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes


# --- embeddings and raw responses --------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
async def test_embeddings(instrumented, finished_spans, use_async):
    server = fakes.server(fakes.embeddings_body())
    kwargs = {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "float", "dimensions": 3}
    if use_async:
        result = await server.async_client().embeddings.create(**kwargs)
    else:
        result = server.client().embeddings.create(**kwargs)

    assert len(result.data) == 2
    span = only_span(finished_spans)
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "embeddings"
    assert span.attributes[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] == ("float",)
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 3
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 8
    assert span.attributes[semconv.GEN_AI_RESPONSE_MODEL] == "text-embedding-3-small"


def test_with_raw_response(instrumented, finished_spans):
    client = fakes.server(CHAT_BODY, fakes.embeddings_body()).client()
    raw = client.chat.completions.with_raw_response.create(model=fakes.MODEL, messages=fakes.MESSAGES)
    embedded = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="a")

    assert raw.headers["content-type"] == "application/json"
    assert raw.parse().id == "chatcmpl-bench"
    assert len(embedded.parse().data) == 2
    chat_span, embeddings_span = finished_spans()
    assert chat_span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == fakes.llm_fakes.INPUT_TOKENS
    assert embeddings_span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 8


def test_with_raw_response_stream(instrumented, finished_spans):
    raw = (
        fakes.server(fakes.chat_chunks())
        .client()
        .chat.completions.with_raw_response.create(model=fakes.MODEL, messages=fakes.MESSAGES, stream=True)
    )
    stream = raw.parse()
    assert isinstance(stream, openai.Stream)
    assert finished_spans() == []  # the span lasts as long as the stream

    assert len(list(stream)) == 6
    attributes = only_span(finished_spans).attributes
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


async def test_async_with_raw_response(instrumented, finished_spans):
    raw = (
        await fakes.server(CHAT_BODY)
        .async_client()
        .chat.completions.with_raw_response.create(model=fakes.MODEL, messages=fakes.MESSAGES)
    )

    assert raw.parse().id == "chatcmpl-bench"
    assert only_span(finished_spans).attributes[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-bench"


def test_with_streaming_response_leaves_the_unread_response_alone(instrumented, finished_spans):
    client = fakes.server(CHAT_BODY).client()
    with client.chat.completions.with_streaming_response.create(model=fakes.MODEL, messages=fakes.MESSAGES) as response:
        assert response.parse().id == "chatcmpl-bench"

    span = only_span(finished_spans)
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == fakes.MODEL
    assert_no_internal_errors()


# --- errors -------------------------------------------------------------------


@pytest.mark.parametrize("status, error", [
    (400, openai.BadRequestError), (429, openai.RateLimitError), (500, openai.InternalServerError),
])  # fmt: skip
def test_api_errors_after_the_sdks_retries_make_one_error_span(instrumented, finished_spans, status, error):
    server = fakes.server(fakes.json_reply(fakes.error_body(status), status=status))
    with pytest.raises(error) as raised:
        chat(server.client(max_retries=2))

    assert raised.value.status_code == status
    assert raised.value.message == f"Error code: {status} - fake {status}"
    assert len(server.requests) == (1 if status == 400 else 3)
    span = only_span(finished_spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == str(status)
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == fakes.MODEL
    assert span.events[0].name == "exception"
    assert_no_internal_errors()


def test_retry_that_succeeds_makes_one_ok_span(instrumented, finished_spans):
    server = fakes.server(fakes.json_reply(fakes.error_body(429), status=429), fakes.json_reply(CHAT_BODY))
    assert chat(server.client(max_retries=1)).id == "chatcmpl-bench"

    assert len(server.requests) == 2
    span = only_span(finished_spans)
    assert semconv.ERROR_TYPE not in span.attributes


async def test_async_connection_error(instrumented, finished_spans):
    def refuse(request):
        raise httpx2.ConnectError("refused")

    with pytest.raises(openai.APIConnectionError):
        await fakes.server(refuse).async_client().chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES)

    assert only_span(finished_spans).attributes[semconv.ERROR_TYPE] == "APIConnectionError"


# --- content capture ----------------------------------------------------------


@pytest.mark.parametrize("mode, captured", [
    ("true", True), ("SPAN_ONLY", True), ("span_and_event", True), ("EVENT_ONLY", False), ("NO_CONTENT", False),
    ("false", False),
])  # fmt: skip
def test_content_capture_follows_the_env_var(instrument, finished_spans, mode, captured):
    instrument(capture=mode)
    chat(fakes.server(CHAT_BODY).client())

    attributes = only_span(finished_spans).attributes
    assert (semconv.GEN_AI_INPUT_MESSAGES in attributes) is captured
    assert (semconv.GEN_AI_OUTPUT_MESSAGES in attributes) is captured
    if captured:
        assert json.loads(attributes[semconv.GEN_AI_INPUT_MESSAGES]) == [
            {"role": "user", "parts": [{"type": "text", "content": fakes.MESSAGES[0]["content"]}]}
        ]
        (output,) = json.loads(attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
        assert output["finish_reason"] == "stop"
        assert output["parts"][0]["content"].startswith("word0 ")


def test_content_capture_of_tool_calls_streams_and_responses(instrument, finished_spans):
    instrument(capture="true")
    server = fakes.server(fakes.chat_tool_call_body(), fakes.chat_chunks(), fakes.response_body())
    client = server.client()
    chat(client, tools=[])
    list(chat(client, stream=True))
    client.responses.create(model="gpt-4.1", input="hi")

    tool_span, stream_span, responses_span = finished_spans()
    tool_parts = json.loads(tool_span.attributes[semconv.GEN_AI_OUTPUT_MESSAGES])[0]["parts"]
    assert [(part["type"], part["name"]) for part in tool_parts] == [("tool_call", "get_weather"),
                                                                    ("tool_call", "get_time")]  # fmt: skip
    stream_output = json.loads(stream_span.attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert stream_output[0]["parts"] == [{"type": "text", "content": "Hello, world"}]
    responses_output = json.loads(responses_span.attributes[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert {"type": "text", "content": "Hi there"} in responses_output[0]["parts"]
    assert json.loads(responses_span.attributes[semconv.GEN_AI_INPUT_MESSAGES])[0]["parts"][0]["content"] == "hi"


def test_captured_tool_round_trip_with_the_sdks_own_message_object(instrument, finished_spans):
    """Apps append the response's message object itself, then the tool results, and call again."""
    instrument(capture="true")
    client = fakes.server(fakes.chat_tool_call_body(), CHAT_BODY).client()
    assistant = chat(client).choices[0].message
    messages = [*fakes.MESSAGES, assistant,
                {"role": "tool", "tool_call_id": "call_weather", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_time", "content": [{"type": "text", "text": "09:00"}]}]  # fmt: skip
    client.chat.completions.create(model=fakes.MODEL, messages=messages)

    _, second = finished_spans()
    _user, sent_back, weather, time_result = json.loads(second.attributes[semconv.GEN_AI_INPUT_MESSAGES])
    assert sent_back == {"role": "assistant", "parts": [
        {"type": "tool_call", "id": "call_weather", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "tool_call", "id": "call_time", "name": "get_time", "arguments": '{"tz": "CET"}'},
    ]}  # fmt: skip
    assert weather == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_weather",
                                                  "response": "18C"}]}  # fmt: skip
    assert time_result["parts"][0]["id"] == "call_time"


@pytest.mark.expect_internal_errors
def test_a_fault_building_content_loses_only_the_content(instrument, finished_spans, monkeypatch):
    def boom(*args):
        raise TypeError("odd message shape")

    monkeypatch.setattr(spanmeter_openai._CHAT_KIND, "output_messages", boom)
    monkeypatch.setattr(spanmeter_openai._CHAT_KIND, "input_messages", boom)
    instrument(capture="true")

    assert chat(fakes.server(CHAT_BODY).client()).id == "chatcmpl-bench"

    attributes = only_span(finished_spans).attributes
    assert semconv.GEN_AI_INPUT_MESSAGES not in attributes
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in attributes
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == fakes.llm_fakes.INPUT_TOKENS
    assert internal_errors.counts[("instrumentation.openai", "TypeError")] == 2


def test_captured_content_is_truncated(instrument, finished_spans):
    instrument(capture="true", content_max_chars=40)
    chat(fakes.server(CHAT_BODY).client())

    attributes = only_span(finished_spans).attributes
    assert len(attributes[semconv.GEN_AI_INPUT_MESSAGES]) == 40
    assert len(attributes[semconv.GEN_AI_OUTPUT_MESSAGES]) == 40


class _DropModel(Sampler):
    """A sampler that looks at attributes: drops calls to one model."""

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        dropped = (attributes or {}).get(semconv.GEN_AI_REQUEST_MODEL) == "blocked-model"
        return SamplingResult(Decision.DROP if dropped else Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self):
        return "DropModel"


def test_a_sampler_that_reads_attributes_sees_the_request_attributes(instrument):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=_DropModel())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(provider=provider)
    client = fakes.server(CHAT_BODY).client()

    client.chat.completions.create(model="blocked-model", messages=fakes.MESSAGES)
    chat(client)

    (span,) = exporter.get_finished_spans()
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == fakes.MODEL


@pytest.mark.parametrize("sampler, blind", [
    (sampling.ALWAYS_ON, True), (sampling.ParentBased(sampling.TraceIdRatioBased(0.5)), True),
    (sampling.ParentBasedTraceIdRatio(0.1), True), (_DropModel(), False),
    (sampling.ParentBased(sampling.ALWAYS_ON, remote_parent_sampled=_DropModel()), False),
])  # fmt: skip
def test_request_attributes_wait_for_the_end_only_under_attribute_blind_samplers(sampler, blind):
    assert genai.samples_without_attributes(TracerProvider(sampler=sampler).get_tracer("t")) is blind
    assert genai.samples_without_attributes(trace.NoOpTracer()) is False


# --- instrument / uninstrument ------------------------------------------------


def test_opentelemetry_instrument_finds_it_and_it_uses_the_global_provider(finished_spans):
    """``opentelemetry-instrument`` loads the entry point and calls ``instrument()`` without arguments."""
    (entry_point,) = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "spanmeter_openai"]
    instrumentor = entry_point.load()()
    instrumentor.instrument()
    try:
        chat(fakes.server(CHAT_BODY).client())
    finally:
        instrumentor.uninstrument()

    assert only_span(finished_spans).instrumentation_scope.name == semconv.INSTRUMENTATION_SCOPE


def test_instrument_uninstrument_cycles_leave_one_span_or_none(tracer_provider, finished_spans):
    instrumentor = OpenAIInstrumentor()
    client = fakes.server(CHAT_BODY).client()
    new_spans = shared.new_spans(finished_spans)
    cached_raw = None
    try:
        for _ in range(3):
            instrumentor.instrument(tracer_provider=tracer_provider)
            instrumentor.instrument(tracer_provider=tracer_provider)  # a second call is a no-op
            chat(client)
            cached_raw = cached_raw or client.chat.completions.with_raw_response  # binds the wrapped create
            cached_raw.create(model=fakes.MODEL, messages=fakes.MESSAGES)
            assert len(new_spans()) == 2
            instrumentor.uninstrument()
            chat(client)
            cached_raw.create(model=fakes.MODEL, messages=fakes.MESSAGES)
            assert new_spans() == []
    finally:
        instrumentor.uninstrument()
    from openai.resources.chat.completions.completions import Completions

    assert not isinstance(Completions.__dict__["create"], wrapt.ObjectProxy)


def test_uninstrument_under_a_peers_wrapper_keeps_the_peer_and_stays_single(tracer_provider, finished_spans):
    """openai-v2 wraps on top of spanmeter; neither order of uninstrument may drop or double a span."""
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as PeerInstrumentor

    client = fakes.server(CHAT_BODY).client()
    shared.assert_peer_on_top_stays_single(OpenAIInstrumentor(), PeerInstrumentor(), lambda: chat(client),
                                            shared.new_spans(finished_spans), tracer_provider)  # fmt: skip


@pytest.mark.parametrize("mode, spans", [("enrich", 1), ("separate", 2)])
def test_enrich_mode_adds_to_a_peers_span_for_the_same_call(tracer_provider, finished_spans, mode, spans):
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as PeerInstrumentor

    ours, peer = OpenAIInstrumentor(), PeerInstrumentor()
    ours.instrument(tracer_provider=tracer_provider, settings=Settings.load({"genai_span_mode": mode}))
    peer.instrument(tracer_provider=tracer_provider)  # outermost: its span is current inside ours
    try:
        chat(fakes.server(fakes.chat_tool_call_body()).client())
    finally:
        peer.uninstrument()
        ours.uninstrument()

    finished = finished_spans()
    assert len(finished) == spans
    peer_span = next(span for span in finished if span.instrumentation_scope.name != semconv.INSTRUMENTATION_SCOPE)
    if mode == "enrich":  # spanmeter's attributes land on the peer's span
        assert peer_span.attributes[semconv.TOOL_CALL_NAMES] == ("get_weather", "get_time")
        assert peer_span.attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 192
    else:
        ours_span = next(span for span in finished if span is not peer_span)
        assert ours_span.parent.span_id == peer_span.context.span_id


# --- faults never reach the app -----------------------------------------------


def _chat_body(**changes) -> bytes:
    body = json.loads(CHAT_BODY)
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "body",
    [
        _chat_body(usage=None),
        _chat_body(choices=None, id=None, model=None),
        _chat_body(choices=[{"index": 0, "message": None, "finish_reason": None}]),
        _chat_body(usage={"prompt_tokens": "many", "completion_tokens": None, "prompt_tokens_details": "odd"}),
        _chat_body(
            choices=[
                {"index": 0, "message": {"role": "assistant", "tool_calls": [None, {"id": 5}]}, "finish_reason": 3}
            ]
        ),
    ],
    ids=["no-usage", "null-fields", "null-message", "odd-usage-types", "odd-tool-calls"],
)
def test_odd_responses_keep_the_result_and_the_span(instrument, finished_spans, body):
    plain = chat(fakes.server(body).client())
    instrument(capture="true")
    result = chat(fakes.server(body).client())

    assert result.model_dump(warnings=False) == plain.model_dump(warnings=False)
    span = only_span(finished_spans)
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == fakes.MODEL
    assert semconv.ERROR_TYPE not in span.attributes


@pytest.mark.expect_internal_errors
def test_odd_stream_chunks_keep_the_stream(instrumented, finished_spans):
    chunks = fakes.chat_chunks()
    chunks.insert(1, b'data: {"id": null, "choices": [null], "usage": "oops"}\n\n')
    chunks.insert(2, b'data: {"object": "chat.completion.chunk", "choices": null, "usage": null}\n\n')

    received = list(chat(fakes.server(chunks).client(), stream=True))

    assert len(received) == 8
    span = only_span(finished_spans)
    assert semconv.ERROR_TYPE not in span.attributes
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20


def test_unknown_model_is_visible_not_priced(instrumented, finished_spans):
    result = chat(fakes.server(_chat_body(model="acme-private-model-7")).client())

    assert result.model == "acme-private-model-7"
    attributes = only_span(finished_spans).attributes
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "acme-private-model-7"
    assert attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_UNKNOWN
