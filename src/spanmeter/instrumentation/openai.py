"""Spans for the ``openai`` SDK: chat completions, responses and embeddings, sync and async.

Usage (``opentelemetry-instrument`` does this through the ``spanmeter_openai`` entry point)::

    from spanmeter.instrumentation.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=provider)  # provider optional

Each call gets one CLIENT span ``chat {model}`` / ``embeddings {model}`` with the GenAI
semantic-convention attributes: operation, provider ``openai``, request model and
parameters, ``server.address`` / ``server.port``, response id, model and finish reasons,
input / output tokens, cache-read / cache-write / reasoning tokens (when non-zero), the
tool calls the response asks for (``spanmeter.tool_calls.names`` / ``.ids``), and
``error.type`` (the HTTP status for API errors). Streams report the usage of OpenAI's
final usage chunk (sent only with ``stream_options={"include_usage": True}``) and
``gen_ai.response.time_to_first_chunk``.

Where it hooks: the resource methods ``create`` and ``parse`` of chat completions and
responses, and ``embeddings.create``. Everything else calls through them: the
``with_raw_response`` wrappers call ``create`` with a header (the result is then a
``LegacyAPIResponse``), and the ``.stream(...)`` helpers call ``create(stream=True)``
and wrap the returned stream; their ``close()`` bypasses the stream, so it is wrapped too.

Switches: ``SPANMETER_GENAI_SPAN_MODE`` (``enrich``: when another producer's GenAI span
for the same call is current, add to it rather than start a second one; ``separate``),
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` and ``SPANMETER_CONTENT_MAX_CHARS``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Collection, Mapping
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _gen_ai

from spanmeter import providers, sdk_internals, semconv
from spanmeter.instrumentation import genai
from spanmeter.instrumentation.usage import add_usage
from spanmeter.on_import import patch_on_import

_COMPONENT = "instrumentation.openai"
_PROVIDER = "openai"
_CHAT = semconv.Operation.CHAT.value
_EMBEDDINGS = semconv.Operation.EMBEDDINGS.value

_CHAT_PARAMS = {
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "max_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": semconv.GEN_AI_REQUEST_TOP_P,
    "frequency_penalty": semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": semconv.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "stop": semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
    "seed": semconv.GEN_AI_REQUEST_SEED,
    "n": semconv.GEN_AI_REQUEST_CHOICE_COUNT,
}
_RESPONSES_PARAMS = {
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "max_output_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": semconv.GEN_AI_REQUEST_TOP_P,
}
_EMBEDDINGS_PARAMS = {
    "encoding_format": semconv.GEN_AI_REQUEST_ENCODING_FORMATS,
    "dimensions": _gen_ai.GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
}


# --- request side -------------------------------------------------------------


def _describe_chat(instance: Any, kwargs: Mapping[str, Any]):
    return genai.describe_request(_CHAT, _PROVIDER, instance, kwargs, _CHAT_PARAMS)


def _describe_responses(instance: Any, kwargs: Mapping[str, Any]):
    return genai.describe_request(_CHAT, _PROVIDER, instance, kwargs, _RESPONSES_PARAMS)


def _describe_embeddings(instance: Any, kwargs: Mapping[str, Any]):
    operation, model, attributes = genai.describe_request(_EMBEDDINGS, _PROVIDER, instance, kwargs, _EMBEDDINGS_PARAMS)
    encoding = attributes.get(semconv.GEN_AI_REQUEST_ENCODING_FORMATS)
    if isinstance(encoding, str):  # the convention's attribute is a list
        attributes[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = (encoding,)
    return operation, model, attributes


def _field(value: Any, key: str) -> Any:
    """``value[key]`` of a dict param, or the attribute of an SDK object passed back as a param."""
    return value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)


def _chat_input_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Chat messages in the GenAI conventions' shape (role + parts)."""
    converted = []
    for message in kwargs.get("messages") or ():
        role, content = _field(message, "role"), _field(message, "content")
        parts: list[Any] = []
        if role == "tool":
            parts.append({"type": "tool_call_response", "id": _field(message, "tool_call_id"), "response": content})
        elif isinstance(content, str):
            parts.append({"type": "text", "content": content})
        elif content is not None:
            parts.extend({"type": "text", "content": _field(part, "text")} if _field(part, "type") == "text"
                         else part for part in content)  # fmt: skip
        for tool_call in _field(message, "tool_calls") or ():
            function = _field(tool_call, "function")
            parts.append({"type": "tool_call", "id": _field(tool_call, "id"), "name": _field(function, "name"),
                          "arguments": _field(function, "arguments")})  # fmt: skip
        converted.append({"role": role, "parts": parts})
    return converted


def _responses_input_messages(kwargs: Mapping[str, Any]) -> list[Any]:
    value = kwargs.get("input")
    if isinstance(value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": value}]}]
    return list(value or ())


# --- response side ------------------------------------------------------------


_CHAT_USAGE = ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details")
_RESPONSES_USAGE = ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details")
_EMBEDDINGS_USAGE = ("prompt_tokens", None, None, None)
_INPUT_INCLUDES_CACHE = providers.get(_PROVIDER).input_includes_cache


def _usage_attributes(attributes: dict[str, Any], usage: Any, fields: tuple[str | None, ...]) -> None:
    """Tokens from a usage object whose field names are ``fields`` (exact, so no failed lookups),
    written by :func:`add_usage`.

    Missing-attribute lookups on the SDK's pydantic models go through a slow ``__getattr__``,
    which is why each API's names are spelled out rather than probed.
    """
    if usage is None:
        return
    input_key, output_key, input_details, output_details = fields
    if output_key is None:
        add_usage(attributes, getattr(usage, input_key, None), None, input_includes_cache=_INPUT_INCLUDES_CACHE)
        return
    details = getattr(usage, input_details, None)
    cache_read = cache_write = reasoning = None
    if details is not None:
        cache_read, cache_write = getattr(details, "cached_tokens", None), getattr(details, "cache_write_tokens", None)
    details = getattr(usage, output_details, None)
    if details is not None:
        reasoning = getattr(details, "reasoning_tokens", None)
    add_usage(attributes, getattr(usage, input_key, None), getattr(usage, output_key, None), cache_read, cache_write,
              reasoning, input_includes_cache=_INPUT_INCLUDES_CACHE)  # fmt: skip


def _tool_call_name(tool_call: Any) -> Any:
    """Function tools carry ``function.name``, custom tools ``custom.name``."""
    return getattr(getattr(tool_call, "function", None) or getattr(tool_call, "custom", None), "name", None)


def _chat_attributes(completion: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    genai.add_response_identity(attributes, completion)
    reasons, tool_calls = [], []
    for choice in getattr(completion, "choices", None) or ():
        reason = getattr(choice, "finish_reason", None)
        if isinstance(reason, str):
            reasons.append(reason)
        for tool_call in getattr(getattr(choice, "message", None), "tool_calls", None) or ():
            tool_calls.append((_tool_call_name(tool_call), getattr(tool_call, "id", None)))
    if reasons:
        attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    genai.add_tool_calls(attributes, tool_calls)
    _usage_attributes(attributes, getattr(completion, "usage", None), _CHAT_USAGE)
    return attributes


def _chat_output_messages(completion: Any) -> list[dict[str, Any]]:
    messages = []
    for choice in getattr(completion, "choices", None) or ():
        message = getattr(choice, "message", None)
        parts: list[dict[str, Any]] = []
        content = getattr(message, "content", None)
        if content is not None:
            parts.append({"type": "text", "content": content})
        for tool_call in getattr(message, "tool_calls", None) or ():
            parts.append({"type": "tool_call", "id": getattr(tool_call, "id", None), "name": _tool_call_name(tool_call),
                          "arguments": getattr(getattr(tool_call, "function", None), "arguments", None)})  # fmt: skip
        messages.append({"role": getattr(message, "role", None) or "assistant", "parts": parts,
                         "finish_reason": getattr(choice, "finish_reason", None)})  # fmt: skip
    return messages


def _responses_attributes(response: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    genai.add_response_identity(attributes, response)
    status = getattr(response, "status", None)
    reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
    reason = reason if isinstance(reason, str) else status
    if isinstance(reason, str):
        attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = [reason]
    genai.add_tool_calls(attributes, [
        (getattr(item, "name", None), getattr(item, "call_id", None))
        for item in getattr(response, "output", None) or ()
        if getattr(item, "type", None) in ("function_call", "custom_tool_call")
    ])  # fmt: skip
    _usage_attributes(attributes, getattr(response, "usage", None), _RESPONSES_USAGE)
    return attributes


def _responses_output_messages(response: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in getattr(response, "output", None) or ():
        kind = getattr(item, "type", None)
        if kind == "message":
            parts.extend({"type": "text", "content": getattr(part, "text", None)}
                         for part in getattr(item, "content", None) or ())  # fmt: skip
        elif kind in ("function_call", "custom_tool_call"):
            parts.append({"type": "tool_call", "id": getattr(item, "call_id", None), "name": getattr(item, "name", None),
                          "arguments": getattr(item, "arguments", None) or getattr(item, "input", None)})  # fmt: skip
    return [{"role": "assistant", "parts": parts, "finish_reason": getattr(response, "status", None)}]


def _embeddings_attributes(response: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    model = getattr(response, "model", None)
    if isinstance(model, str):
        attributes[semconv.GEN_AI_RESPONSE_MODEL] = model
    _usage_attributes(attributes, getattr(response, "usage", None), _EMBEDDINGS_USAGE)
    return attributes


# --- streams ------------------------------------------------------------------


class _ChatChunks:
    """What a chat stream's chunks say: id/model (first chunk), finish reasons, tool calls, usage.

    A plain slotted object, so the per-chunk work avoids the proxy's slower attribute access.
    """

    __slots__ = ("head", "reasons", "text", "tool_calls", "usage")

    def __init__(self, capture_content: bool) -> None:
        self.head = None
        self.usage = None
        self.reasons: list[str] = []
        self.tool_calls: list[tuple[Any, Any]] = []  # (name, id): both come in a tool call's first delta
        self.text: list[str] | None = [] if capture_content else None

    def add(self, chunk: Any) -> None:
        if self.head is None:
            self.head = chunk
        for choice in chunk.choices or ():
            if choice.finish_reason:
                self.reasons.append(choice.finish_reason)
            delta = choice.delta
            if delta is None:
                continue
            if delta.tool_calls:
                for tool_call in delta.tool_calls:
                    if tool_call.id:
                        self.tool_calls.append((_tool_call_name(tool_call), tool_call.id))
            if self.text is not None and delta.content:
                self.text.append(delta.content)
        if chunk.usage is not None:
            self.usage = chunk.usage

    def attributes(self, call: genai.GenAICall) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if self.head is not None:
            genai.add_response_identity(attributes, self.head)
        if self.reasons:
            attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = self.reasons
        genai.add_tool_calls(attributes, self.tool_calls)
        _usage_attributes(attributes, self.usage, _CHAT_USAGE)
        if self.text is not None:
            call.set_content(semconv.GEN_AI_OUTPUT_MESSAGES, [{
                "role": "assistant", "parts": [{"type": "text", "content": "".join(self.text)}],
                "finish_reason": self.reasons[0] if self.reasons else None,
            }])  # fmt: skip
        return attributes


class _ChatStream:
    """Chat stream proxy hooks, delegated to :class:`_ChatChunks`."""

    def __init__(self, stream: Any, call: genai.GenAICall) -> None:
        super().__init__(stream, call)
        self._self_chunks = _ChatChunks(call.capture_content)
        self._self_on_item = self._self_chunks.add  # per chunk: straight to the accumulator

    def _self_final_attributes(self) -> dict[str, Any]:
        return self._self_chunks.attributes(self._self_call)


_RESPONSE_EVENTS = frozenset({
    "response.created", "response.in_progress", "response.completed", "response.incomplete", "response.failed",
})  # fmt: skip
"""Stream events that carry the Response so far (the last one the whole of it)."""


class _ResponsesStream:
    """Reads response stream events: the final ``response.*`` event carries the whole Response."""

    def __init__(self, stream: Any, call: genai.GenAICall) -> None:
        super().__init__(stream, call)
        self._self_response = None

    def _self_on_item(self, event: Any) -> None:
        # ``type`` first: most events (deltas) have no ``response``, and a failed lookup is slow.
        if event.type in _RESPONSE_EVENTS:
            self._self_response = event.response

    def _self_final_attributes(self) -> dict[str, Any] | None:
        response = self._self_response
        if response is None:
            return None
        self._self_call.capture(semconv.GEN_AI_OUTPUT_MESSAGES, _responses_output_messages, response)
        return _responses_attributes(response)


class _SyncChatStream(_ChatStream, genai.SyncStreamProxy):
    pass


class _AsyncChatStream(_ChatStream, genai.AsyncStreamProxy):
    pass


class _SyncResponsesStream(_ResponsesStream, genai.SyncStreamProxy):
    pass


class _AsyncResponsesStream(_ResponsesStream, genai.AsyncStreamProxy):
    pass


# --- result handling ----------------------------------------------------------


class _Kind:
    """How one API turns a result into attributes, content, and stream proxies."""

    def __init__(self, attributes, output_messages=None, streams=None, input_messages=None) -> None:
        self.attributes = attributes
        self.output_messages = output_messages
        self.streams = streams  # (sync proxy class, async proxy class)
        self.input_messages = input_messages


_CHAT_KIND = _Kind(_chat_attributes, _chat_output_messages, (_SyncChatStream, _AsyncChatStream),
                   _chat_input_messages)  # fmt: skip
_RESPONSES_KIND = _Kind(_responses_attributes, _responses_output_messages,
                        (_SyncResponsesStream, _AsyncResponsesStream), _responses_input_messages)  # fmt: skip
_EMBEDDINGS_KIND = _Kind(_embeddings_attributes)


class _Classes:
    """openai's result classes, imported when instrumenting (not when this module loads)."""

    def __init__(self) -> None:
        from openai import AsyncStream, Stream

        self.stream = Stream
        self.async_stream = AsyncStream
        self.raw = sdk_internals.openai_raw_response_class()
        self.streamed, self.async_streamed = sdk_internals.openai_streamed_response_classes()  # with_streaming_response


def _result_handler(kind: _Kind, classes: _Classes):
    def handle(call: genai.GenAICall, result: Any) -> Any:
        raw = None
        if isinstance(result, classes.async_streamed):
            return genai.AsyncParsedLater(result, call, handle)
        if isinstance(result, classes.streamed):
            return genai.ParsedLater(result, call, handle)
        if isinstance(result, classes.raw):  # with_raw_response: read the parsed object (parse() caches it)
            raw, result = result, result.parse()
        if kind.streams is not None and isinstance(result, (classes.stream, classes.async_stream)):
            sync_cls, async_cls = kind.streams
            proxy = (sync_cls if isinstance(result, classes.stream) else async_cls)(result, call)
            if raw is None:
                return proxy
            sdk_internals.set_parsed_result(raw, proxy)  # the user's raw.parse() returns the proxy
            return raw
        if call.capture_content and kind.output_messages is not None:
            call.capture(semconv.GEN_AI_OUTPUT_MESSAGES, kind.output_messages, result)
        call.end(kind.attributes(result))
        return raw if raw is not None else result

    return handle


def _with_input_capture(kind: _Kind, describe):
    """Add captured input messages to the request attributes when capture is on (checked per call)."""
    if kind.input_messages is None:
        return describe

    def describe_with_input(instance: Any, kwargs: Mapping[str, Any]):
        operation, model, attributes = describe(instance, kwargs)
        telemetry = _instrumentor_telemetry
        if telemetry.capture_content:  # checked here too: this runs on every call
            telemetry.capture_into(attributes, semconv.GEN_AI_INPUT_MESSAGES, kind.input_messages, kwargs)
        return operation, model, attributes

    return describe_with_input


_instrumentor_telemetry = genai.GenAITelemetry(_COMPONENT)
"""Shared by every wrapper this module ever installs (see :class:`genai.GenAITelemetry`)."""


def makes_spans() -> bool:
    """Whether spanmeter's openai spans are on: a framework's model span over this SDK would price calls twice."""
    return _instrumentor_telemetry.active


_TARGETS = (
    # module, class, method, describe, kind, is async
    ("openai.resources.chat.completions.completions", "Completions", "create", _describe_chat, _CHAT_KIND, False),
    ("openai.resources.chat.completions.completions", "Completions", "parse", _describe_chat, _CHAT_KIND, False),
    ("openai.resources.chat.completions.completions", "AsyncCompletions", "create", _describe_chat, _CHAT_KIND, True),
    ("openai.resources.chat.completions.completions", "AsyncCompletions", "parse", _describe_chat, _CHAT_KIND, True),
    ("openai.resources.responses.responses", "Responses", "create", _describe_responses, _RESPONSES_KIND, False),
    ("openai.resources.responses.responses", "Responses", "parse", _describe_responses, _RESPONSES_KIND, False),
    ("openai.resources.responses.responses", "AsyncResponses", "create", _describe_responses, _RESPONSES_KIND, True),
    ("openai.resources.responses.responses", "AsyncResponses", "parse", _describe_responses, _RESPONSES_KIND, True),
    ("openai.resources.embeddings", "Embeddings", "create", _describe_embeddings, _EMBEDDINGS_KIND, False),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", _describe_embeddings, _EMBEDDINGS_KIND, True),
)
_HELPER_STREAMS = (
    # The stream helpers close the HTTP response themselves; end the proxied stream's span too.
    ("openai.lib.streaming.chat._completions", "ChatCompletionStream", False),
    ("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream", True),
    ("openai.lib.streaming.responses._responses", "ResponseStream", False),
    ("openai.lib.streaming.responses._responses", "AsyncResponseStream", True),
)


def _close_helper(wrapped, instance, args, kwargs):
    try:
        return wrapped(*args, **kwargs)
    finally:
        genai.end_stream_of(sdk_internals.raw_stream_of(instance))


async def _aclose_helper(wrapped, instance, args, kwargs):
    try:
        return await wrapped(*args, **kwargs)
    finally:
        genai.end_stream_of(sdk_internals.raw_stream_of(instance))


def _owner(module: str, cls: str) -> Any:
    return getattr(importlib.import_module(module), cls)


class OpenAIInstrumentor(BaseInstrumentor):
    """spanmeter's instrumentation of the ``openai`` package (see the module docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 2.0",)

    def _instrument(self, **kwargs: Any) -> None:
        sdk_internals.check("opentelemetry-sdk")
        _instrumentor_telemetry.configure(
            tracer_provider=kwargs.get("tracer_provider"), settings=kwargs.get("settings")
        )
        patch_on_import("openai", _patch)

    def _uninstrument(self, **kwargs: Any) -> None:
        _instrumentor_telemetry.active = False  # wrappers left under a peer's pass calls through
        if "openai" not in sys.modules:  # never imported, so never patched: do not import it now
            return
        for module, cls, method, *_ in _TARGETS + tuple((m, c, "close") for m, c, _ in _HELPER_STREAMS):
            genai.unwrap_own(_owner(module, cls), method)


def _patch(_openai: Any) -> None:
    """Wrap openai's methods, once the app imported openai, unless uninstrumented meanwhile.
    What spanmeter reads of openai's internals is checked here, not at instrument(): the check
    imports openai's modules."""
    if _instrumentor_telemetry.active:
        sdk_internals.check("openai")
        classes = _Classes()
        for module, cls, method, describe, kind, is_async in _TARGETS:
            make = genai.async_wrapper if is_async else genai.sync_wrapper
            wrapper = make(_instrumentor_telemetry, _with_input_capture(kind, describe),
                           _result_handler(kind, classes))  # fmt: skip
            genai.wrap_once(_owner(module, cls), method, wrapper)
        for module, cls, is_async in _HELPER_STREAMS:
            genai.wrap_once(_owner(module, cls), "close", _aclose_helper if is_async else _close_helper)
