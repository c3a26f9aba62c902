"""spanmeter's anthropic instrumentation through the real SDK over an in-memory transport.

Every call type (``messages.create`` sync / async / ``stream=True``, the ``messages.stream``
helper), every way a stream ends, API errors with the SDK's retries, content capture, the
SDK's own span (enriched in ``enrich`` mode, a child in ``separate`` mode),
instrument/uninstrument cycles, and injected faults that must never change what the app
gets back. Spans go through the session's SpanmeterProcessor (``tests/conftest.py``).
"""

from __future__ import annotations

import gc
import json
import time
import warnings

import anthropic
import httpx2
import pytest
import wrapt
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from spanmeter import internal_errors, semconv
from spanmeter.instrumentation import anthropic as spanmeter_anthropic
from spanmeter.instrumentation.anthropic import AnthropicInstrumentor
from support import anthropic_fakes as fakes
from support import instrumentation as shared
from support.instrumentation import assert_no_internal_errors, instrument_fixture, only_span

SDK_SCOPE = "com.anthropic.sdk.python"

instrument = instrument_fixture(AnthropicInstrumentor)


def create(client, **kwargs):
    return client.messages.create(model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512, **kwargs)


def assert_text_response(attributes):
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "msg_bench"
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == fakes.RESPONSE_MODEL
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1200
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 350


def assert_tool_response(attributes):
    """``tool_use_body`` / ``tool_use_stream``: input is the total the model read, cache included (as the SDK reports)."""
    assert attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1200
    assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 800
    assert attributes[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 100
    assert attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 200
    assert attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 50


# --- messages.create ----------------------------------------------------------


def test_create_span_has_request_response_and_usage_attributes(instrumented, finished_spans):
    result = create(fakes.client(fakes.server(fakes.MESSAGE_BODY)), stop_sequences=["END"],
                    extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 40})  # fmt: skip

    assert isinstance(result, anthropic.types.Message)
    assert result.content[0].text == fakes.TEXT
    span = only_span(finished_spans)
    assert span.name == f"chat {fakes.MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == semconv.INSTRUMENTATION_SCOPE
    assert span.status.status_code is StatusCode.UNSET
    attributes = span.attributes
    assert attributes[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attributes[semconv.GEN_AI_REQUEST_MODEL] == fakes.MODEL
    assert attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 512
    assert attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attributes[semconv.GEN_AI_REQUEST_TOP_P] == 0.9
    assert attributes[semconv.GEN_AI_REQUEST_TOP_K] == 40
    assert attributes[semconv.SERVER_ADDRESS] == "claude.example.com"
    assert attributes[semconv.SERVER_PORT] == 8443
    assert_text_response(attributes)
    assert semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS not in attributes  # zero counts are left out
    assert attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
    assert attributes[semconv.COST_USD] > 0
    assert semconv.GEN_AI_INPUT_MESSAGES not in attributes
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in attributes
    assert_no_internal_errors()


def test_tool_use_cache_and_thinking_tokens(instrumented, finished_spans):
    result = create(fakes.client(fakes.server(fakes.tool_use_body())))

    assert [block.type for block in result.content] == ["thinking", "text", "tool_use", "tool_use"]
    attributes = only_span(finished_spans).attributes
    assert_tool_response(attributes)
    assert attributes[semconv.TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert attributes[semconv.TOOL_CALL_IDS] == ("toolu_weather", "toolu_time")
    assert attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES


async def test_async_create(instrumented, finished_spans):
    result = await create(fakes.async_client(fakes.server(fakes.MESSAGE_BODY)))

    assert result.id == "msg_bench"
    span = only_span(finished_spans)
    assert span.name == f"chat {fakes.MODEL}"
    assert_text_response(span.attributes)


def test_span_is_current_while_the_sdk_sends(instrumented, finished_spans):
    seen = []

    def reply(request):
        seen.append(trace.get_current_span().get_span_context().span_id)
        return fakes.json_reply(fakes.MESSAGE_BODY)(request)

    create(fakes.client(fakes.server(reply)))

    assert seen == [only_span(finished_spans).context.span_id]


def test_with_raw_response_returns_the_raw_response(instrumented, finished_spans):
    raw = fakes.client(fakes.server(fakes.MESSAGE_BODY)).messages.with_raw_response.create(
        model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512
    )

    assert raw.parse().id == "msg_bench"
    span = only_span(finished_spans)
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == fakes.MODEL
    assert semconv.ERROR_TYPE not in span.attributes


# --- create(stream=True) ------------------------------------------------------


def test_stream_reads_usage_from_message_start_and_message_delta(instrumented, finished_spans, stepping_clock):
    stream = create(fakes.client(fakes.server(fakes.tool_use_stream())), stream=True)

    assert isinstance(stream, anthropic.Stream)
    events = [event.type for event in stream]
    assert events[0] == "message_start" and events[-1] == "message_stop" and "ping" not in events
    attributes = only_span(finished_spans).attributes
    assert attributes[semconv.GEN_AI_RESPONSE_ID] == "msg_tools"
    assert_tool_response(attributes)
    assert attributes[semconv.TOOL_CALL_NAMES] == ("get_weather",)
    assert attributes[semconv.TOOL_CALL_IDS] == ("toolu_weather",)
    assert attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] == 0.25
    assert_no_internal_errors()


@pytest.mark.parametrize("consume, error", shared.SYNC_ENDINGS)
def test_sync_stream_ends_its_span_once_on_every_path(instrumented, finished_spans, consume, error):
    consume(create(fakes.client(fakes.server(fakes.TEXT_STREAM)), stream=True))
    gc.collect()

    span = only_span(finished_spans)
    assert span.attributes.get(semconv.ERROR_TYPE) == error
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "msg_bench"
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1200
    assert_no_internal_errors()


def test_connection_broken_mid_stream_records_the_error_and_reraises_it(instrumented, finished_spans):
    stream = create(fakes.client(fakes.server(fakes.sse_reply(fakes.TEXT_STREAM, fail_after=3))), stream=True)
    received = []
    # Which class the SDK raises for a broken connection is the SDK's business (it changed in
    # anthropic 2.17); spanmeter's is to re-raise that very exception and name its class.
    with pytest.raises(Exception) as raised:
        received.extend(stream)  # keeps the events that came before the failure

    assert len(received) == 3
    span = only_span(finished_spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == type(raised.value).__qualname__
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "msg_bench"


def test_error_event_mid_stream_is_the_streams_error(instrumented, finished_spans):
    stream = create(fakes.client(fakes.server(fakes.overloaded_mid_stream())), stream=True)
    with pytest.raises(anthropic.APIStatusError) as raised:
        list(stream)

    assert "overloaded_error" in str(raised.value)
    span = only_span(finished_spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == "APIStatusError"  # not the stream's HTTP 200


@pytest.mark.parametrize("consume", shared.ASYNC_ENDINGS)
async def test_async_stream_ends_its_span_once_on_every_path(instrumented, finished_spans, consume):
    stream = await create(fakes.async_client(fakes.server(fakes.TEXT_STREAM)), stream=True)
    assert isinstance(stream, anthropic.AsyncStream)
    await consume(stream)
    del stream
    await shared.let_the_loop_run()

    span = only_span(finished_spans)
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "msg_bench"
    assert semconv.ERROR_TYPE not in span.attributes


async def test_async_stream_broken_mid_way(instrumented, finished_spans):
    client = fakes.async_client(fakes.server(fakes.sse_reply(fakes.TEXT_STREAM, fail_after=3)))
    stream = await create(client, stream=True)
    with pytest.raises(Exception) as raised:
        async for _ in stream:
            pass

    assert only_span(finished_spans).attributes[semconv.ERROR_TYPE] == type(raised.value).__qualname__


# --- the messages.stream(...) helper ------------------------------------------


def _text_stream(stream):
    assert "".join(stream.text_stream) == fakes.STREAMED_TEXT


def _final_message(stream):
    assert stream.get_final_message().stop_reason == "end_turn"


def _final_text(stream):
    assert stream.get_final_text() == fakes.STREAMED_TEXT


def _events(stream):
    assert [event.type for event in stream][-1] == "message_stop"


def _left_early(stream):
    next(iter(stream))  # the with block's exit closes the rest


@pytest.mark.parametrize("read", [_text_stream, _final_message, _final_text, _events, _left_early])
def test_stream_helper(instrumented, finished_spans, read):
    client = fakes.client(fakes.server(fakes.TEXT_STREAM))
    with client.messages.stream(model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512) as stream:
        assert isinstance(stream, anthropic.lib.streaming.MessageStream)
        read(stream)
    assert stream.response.is_closed

    span = only_span(finished_spans)
    assert span.name == f"chat {fakes.MODEL}"
    assert span.attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] == 512
    assert span.attributes[semconv.GEN_AI_RESPONSE_ID] == "msg_bench"
    if read is not _left_early:
        assert_text_response(span.attributes)
    assert_no_internal_errors()


def test_stream_helper_tool_use_and_an_unentered_manager(instrumented, finished_spans):
    client = fakes.client(fakes.server(fakes.tool_use_stream()))
    unentered = client.messages.stream(model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512)
    with client.messages.stream(model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512) as stream:
        final = stream.get_final_message()
    del unentered
    gc.collect()

    assert final.content[1].input == {"city": "Paris"}
    attributes = only_span(finished_spans).attributes  # the unentered manager sent nothing: no span
    assert_tool_response(attributes)
    assert attributes[semconv.TOOL_CALL_NAMES] == ("get_weather",)


@pytest.mark.parametrize("final", [False, True])
async def test_async_stream_helper(instrumented, finished_spans, final):
    client = fakes.async_client(fakes.server(fakes.TEXT_STREAM))
    async with client.messages.stream(model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512) as stream:
        if final:
            assert (await stream.get_final_message()).id == "msg_bench"
        else:
            assert "".join([text async for text in stream.text_stream]) == fakes.STREAMED_TEXT

    span = only_span(finished_spans)
    assert_text_response(span.attributes)


async def test_async_stream_helper_never_entered_sends_nothing_and_warns_as_the_sdk_would(instrumented, finished_spans):
    scripted = fakes.server(fakes.TEXT_STREAM)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fakes.async_client(scripted).messages.stream(model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512)
        gc.collect()

    assert scripted.requests == [] and finished_spans() == []
    never_awaited = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert never_awaited == ["coroutine 'AsyncAPIClient.post' was never awaited"]  # the SDK's own request only


# --- API errors ---------------------------------------------------------------


@pytest.mark.parametrize("status, error, retries", [
    (400, anthropic.BadRequestError, 0), (429, anthropic.RateLimitError, 2), (500, anthropic.InternalServerError, 2),
])  # fmt: skip
def test_api_errors_after_the_sdks_retries_make_one_error_span(instrumented, finished_spans, status, error, retries):
    scripted = fakes.server(fakes.json_reply(fakes.error_body(status), status=status))
    with pytest.raises(error) as raised:
        create(fakes.client(scripted, max_retries=2))

    assert raised.value.status_code == status
    assert len(scripted.requests) == 1 + retries  # 400 is not retried
    span = only_span(finished_spans)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == str(status)
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == fakes.MODEL


def test_retry_that_succeeds_makes_one_ok_span(instrumented, finished_spans):
    scripted = fakes.server(fakes.json_reply(fakes.error_body(429), status=429), fakes.MESSAGE_BODY)
    assert create(fakes.client(scripted, max_retries=2)).id == "msg_bench"

    assert len(scripted.requests) == 2
    span = only_span(finished_spans)
    assert semconv.ERROR_TYPE not in span.attributes
    assert_text_response(span.attributes)


async def test_async_connection_error(instrumented, finished_spans):
    def refuse(request):
        raise httpx2.ConnectError("connection refused")

    with pytest.raises(anthropic.APIConnectionError):
        await create(fakes.async_client(fakes.server(refuse)))

    assert only_span(finished_spans).attributes[semconv.ERROR_TYPE] == "APIConnectionError"


# --- content capture ----------------------------------------------------------


TOOL_CONVERSATION = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_weather", "name": "get_weather", "input": {"city": "Paris"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_weather", "content": "18°C"}]},
]  # fmt: skip


@pytest.mark.parametrize("mode, captured", [
    (None, False), ("false", False), ("event_only", False), ("true", True), ("SPAN_ONLY", True),
    ("span_and_event", True),
])  # fmt: skip
def test_content_capture_follows_the_env_var(instrument, finished_spans, mode, captured):
    instrument(capture=mode)
    create(fakes.client(fakes.server(fakes.tool_use_body())), system="Be brief.")

    attributes = only_span(finished_spans).attributes
    assert (semconv.GEN_AI_INPUT_MESSAGES in attributes) is captured
    assert (semconv.GEN_AI_OUTPUT_MESSAGES in attributes) is captured
    if captured:
        assert json.loads(attributes[semconv.GEN_AI_INPUT_MESSAGES]) == [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": fakes.MESSAGES[0]["content"]}]},
        ]
        assert json.loads(attributes[semconv.GEN_AI_OUTPUT_MESSAGES]) == [{
            "role": "assistant", "finish_reason": "tool_use", "parts": [
                {"type": "thinking"},
                {"type": "text", "content": "Let me check."},
                {"type": "tool_call", "id": "toolu_weather", "name": "get_weather", "arguments": {"city": "Paris"}},
                {"type": "tool_call", "id": "toolu_time", "name": "get_time", "arguments": {"tz": "CET"}},
            ],
        }]  # fmt: skip


def test_content_capture_of_tool_results_and_streams(instrument, finished_spans):
    instrument(capture="true")
    client = fakes.client(fakes.server(fakes.tool_use_stream()))
    list(client.messages.create(model=fakes.MODEL, messages=TOOL_CONVERSATION, max_tokens=512, stream=True))

    attributes = only_span(finished_spans).attributes
    sent = json.loads(attributes[semconv.GEN_AI_INPUT_MESSAGES])
    assert sent[1]["parts"] == [{"type": "tool_call", "id": "toolu_weather", "name": "get_weather",
                                 "arguments": {"city": "Paris"}}]  # fmt: skip
    assert sent[2]["parts"] == [{"type": "tool_call_response", "id": "toolu_weather", "response": "18°C"}]
    assert json.loads(attributes[semconv.GEN_AI_OUTPUT_MESSAGES]) == [{
        "role": "assistant", "finish_reason": "tool_use", "parts": [
            {"type": "text", "content": "Let me check."},
            {"type": "tool_call", "id": "toolu_weather", "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"},
        ],
    }]  # fmt: skip


def test_captured_content_is_truncated(instrument, finished_spans):
    instrument(capture="true", content_max_chars=40)
    create(fakes.client(fakes.server(fakes.MESSAGE_BODY)))

    attributes = only_span(finished_spans).attributes
    assert len(attributes[semconv.GEN_AI_INPUT_MESSAGES]) == 40
    assert len(attributes[semconv.GEN_AI_OUTPUT_MESSAGES]) == 40


def test_messages_given_as_an_iterator_are_sent_not_consumed(instrument, finished_spans):
    instrument(capture="true")
    scripted = fakes.server(fakes.MESSAGE_BODY)
    fakes.client(scripted).messages.create(model=fakes.MODEL, messages=iter(fakes.MESSAGES), max_tokens=512)

    assert json.loads(scripted.requests[0].content)["messages"] == fakes.MESSAGES
    assert json.loads(only_span(finished_spans).attributes[semconv.GEN_AI_INPUT_MESSAGES]) == []


# --- the SDK's own span -------------------------------------------------------


def _sdk_client(body) -> anthropic.Anthropic:
    """A client with the SDK's own telemetry on (its default), on the session's global provider."""
    return fakes.client(fakes.server(body), open_telemetry=None)


def test_enrich_mode_puts_spanmeters_attributes_on_the_sdks_own_span(instrumented, finished_spans):
    create(_sdk_client(fakes.tool_use_body()), extra_body={"temperature": 0.2})

    span = only_span(finished_spans)
    assert span.instrumentation_scope.name == SDK_SCOPE
    attributes = span.attributes
    assert attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attributes[semconv.TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert attributes[semconv.TOOL_CALL_IDS] == ("toolu_weather", "toolu_time")
    assert_tool_response(attributes)  # the SDK's own input count agrees: cache included
    assert attributes[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 100  # the SDK's name, kept
    assert attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
    assert_no_internal_errors()


@pytest.mark.parametrize("helper", [False, True])
def test_enrich_mode_stream_on_the_sdks_span(instrumented, finished_spans, helper):
    client = _sdk_client(fakes.tool_use_stream())
    started = time.perf_counter()
    if helper:
        with client.messages.stream(model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512) as stream:
            stream.get_final_message()
    else:
        list(create(client, stream=True))
    elapsed_s = time.perf_counter() - started

    span = only_span(finished_spans)
    assert span.instrumentation_scope.name == SDK_SCOPE
    assert_tool_response(span.attributes)
    assert span.attributes[semconv.TOOL_CALL_NAMES] == ("get_weather",)
    # The SDK's own reading (its wall clock), which spanmeter leaves alone: within the call.
    assert 0 < span.attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] <= elapsed_s
    assert_no_internal_errors()


@pytest.mark.parametrize("helper", [False, True])
async def test_enrich_mode_async_stream_on_the_sdks_span(instrumented, finished_spans, helper):
    client = fakes.async_client(fakes.server(fakes.tool_use_stream()), open_telemetry=None)
    if helper:
        async with client.messages.stream(model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512) as stream:
            await stream.get_final_message()
    else:
        assert [event.type async for event in await create(client, stream=True)][-1] == "message_stop"

    span = only_span(finished_spans)
    assert span.instrumentation_scope.name == SDK_SCOPE
    assert_tool_response(span.attributes)
    assert span.attributes[semconv.TOOL_CALL_IDS] == ("toolu_weather",)


async def test_enrich_mode_async_and_errors(instrumented, finished_spans):
    scripted = fakes.server(fakes.json_reply(fakes.error_body(429), status=429))
    client = fakes.async_client(scripted, max_retries=1, open_telemetry=None)
    with pytest.raises(anthropic.RateLimitError):
        await create(client, stop_sequences=["END"])

    span = only_span(finished_spans)
    assert span.instrumentation_scope.name == SDK_SCOPE
    assert span.attributes[semconv.ERROR_TYPE] == "rate_limit_error"  # the SDK's own error.type stays
    assert span.attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)


@pytest.mark.parametrize("stream", [False, True])
def test_separate_mode_makes_the_sdks_span_a_child_of_spanmeters(instrument, finished_spans, stream):
    instrument(genai_span_mode="separate")
    client = _sdk_client(fakes.TEXT_STREAM if stream else fakes.MESSAGE_BODY)
    result = create(client, stream=stream)
    if stream:
        list(result)

    spans = finished_spans()
    assert sorted(span.instrumentation_scope.name for span in spans) == sorted(
        [SDK_SCOPE, semconv.INSTRUMENTATION_SCOPE]
    )
    ours = next(span for span in spans if span.instrumentation_scope.name == semconv.INSTRUMENTATION_SCOPE)
    sdk = next(span for span in spans if span is not ours)
    assert sdk.parent.span_id == ours.context.span_id
    assert_text_response(ours.attributes)


def test_enrich_mode_content_capture_on_the_sdks_span(instrument, finished_spans):
    instrument(capture="true")
    create(_sdk_client(fakes.MESSAGE_BODY))

    attributes = only_span(finished_spans).attributes
    assert json.loads(attributes[semconv.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [
        {"type": "text", "content": fakes.TEXT}
    ]
    assert json.loads(attributes[semconv.GEN_AI_INPUT_MESSAGES])[0]["role"] == "user"


# --- instrument / uninstrument ------------------------------------------------


def test_instrument_uninstrument_cycles_leave_one_span_per_call_or_none(tracer_provider, finished_spans):
    instrumentor = AnthropicInstrumentor()
    client = fakes.client(fakes.server(fakes.MESSAGE_BODY, fakes.TEXT_STREAM))
    sdk_client = _sdk_client(fakes.MESSAGE_BODY)
    new_spans = shared.new_spans(finished_spans)

    def calls():
        create(client)
        with client.messages.stream(model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512) as stream:
            stream.until_done()
        create(sdk_client)
        return sorted(span.instrumentation_scope.name for span in new_spans())

    try:
        for _ in range(3):
            instrumentor.instrument(tracer_provider=tracer_provider)
            instrumentor.instrument(tracer_provider=tracer_provider)  # a second call is a no-op
            later = client.messages.stream(model=fakes.MODEL, messages=fakes.MESSAGES, max_tokens=512)
            assert calls() == [SDK_SCOPE, semconv.INSTRUMENTATION_SCOPE, semconv.INSTRUMENTATION_SCOPE]
            instrumentor.uninstrument()
            assert calls() == [SDK_SCOPE]  # the SDK's own span, unenriched
            with later as stream:  # made while instrumented, entered after: no span of ours
                stream.until_done()
            assert new_spans() == []
    finally:
        instrumentor.uninstrument()
    from anthropic.resources.messages.messages import Messages

    assert not isinstance(Messages.__dict__["create"], wrapt.ObjectProxy)


def test_uninstrument_under_a_peers_wrapper_keeps_the_peer_and_stays_single(tracer_provider, finished_spans):
    """OpenLLMetry's instrumentor wraps on top of spanmeter's."""
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as PeerInstrumentor

    client = fakes.client(fakes.server(fakes.MESSAGE_BODY))
    shared.assert_peer_on_top_stays_single(AnthropicInstrumentor(), PeerInstrumentor(), lambda: create(client),
                                            shared.new_spans(finished_spans), tracer_provider)  # fmt: skip


# --- faults never reach the app -----------------------------------------------


@pytest.mark.parametrize("body", [
    fakes.message(usage=None),
    fakes.message(id=None, model=None, stop_reason=None, content=None),
    fakes.message(usage={"input_tokens": None, "output_tokens": "many", "cache_read_input_tokens": "odd"}),
    fakes.message(content=[None, {"type": "tool_use", "id": 5, "name": None}, "text"]),
], ids=["no-usage", "null-fields", "odd-usage-types", "odd-blocks"])  # fmt: skip
@pytest.mark.parametrize("sdk_span", [False, True])
def test_odd_responses_keep_the_result_and_the_span(instrument, finished_spans, body, sdk_span):
    plain = create(fakes.client(fakes.server(body)))
    instrument(capture="true")
    result = create(fakes.client(fakes.server(body), open_telemetry=None if sdk_span else False))

    assert result.model_dump(warnings=False) == plain.model_dump(warnings=False)
    span = only_span(finished_spans)
    assert span.attributes[semconv.GEN_AI_REQUEST_MODEL] == fakes.MODEL
    assert semconv.ERROR_TYPE not in span.attributes


@pytest.mark.expect_internal_errors
def test_odd_stream_events_keep_the_stream(instrumented, finished_spans):
    chunks = list(fakes.TEXT_STREAM)
    chunks.insert(1, b'event: content_block_start\ndata: {"type": "content_block_start", "content_block": null}\n\n')
    chunks.insert(2, b'event: message_delta\ndata: {"type": "message_delta", "delta": null, "usage": null}\n\n')

    received = list(create(fakes.client(fakes.server(chunks)), stream=True))

    assert len(received) == 17
    span = only_span(finished_spans)
    assert semconv.ERROR_TYPE not in span.attributes
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1200


def test_unknown_model_is_visible_not_priced(instrumented, finished_spans):
    result = create(fakes.client(fakes.server(fakes.message(model="acme-claude-finetune"))))

    assert result.model == "acme-claude-finetune"
    attributes = only_span(finished_spans).attributes
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "acme-claude-finetune"
    assert attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_UNKNOWN


@pytest.mark.parametrize("sdk_span", [False, True])
@pytest.mark.expect_internal_errors
def test_a_fault_building_content_loses_only_the_content(instrument, finished_spans, monkeypatch, sdk_span):
    def boom(*args, **kwargs):
        raise ValueError("injected fault in content")

    monkeypatch.setattr(spanmeter_anthropic, "_parts", boom)
    instrument(capture="true")
    client = fakes.client(fakes.server(fakes.MESSAGE_BODY), open_telemetry=None if sdk_span else False)

    assert create(client).content[0].text == fakes.TEXT
    attributes = only_span(finished_spans).attributes
    assert_text_response(attributes)
    assert semconv.GEN_AI_INPUT_MESSAGES not in attributes and semconv.GEN_AI_OUTPUT_MESSAGES not in attributes
    assert internal_errors.counts[("instrumentation.anthropic", "ValueError")] == 2


def test_entry_point_loads_the_instrumentor():
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "spanmeter_anthropic"]
    assert entry.load() is AnthropicInstrumentor
