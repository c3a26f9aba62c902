"""Spans for the ``anthropic`` SDK: ``messages.create`` (sync, async, ``stream=True``) and ``messages.stream(...)``.

Usage (``opentelemetry-instrument`` does this through the ``spanmeter_anthropic`` entry point)::

    from spanmeter.instrumentation.anthropic import AnthropicInstrumentor
    AnthropicInstrumentor().instrument(tracer_provider=provider)  # provider optional

Each call gets one CLIENT span ``chat {model}`` with the GenAI semantic-convention
attributes: operation ``chat``, provider ``anthropic``, request model and parameters
(``max_tokens``, ``stop_sequences``, and ``temperature`` / ``top_p`` / ``top_k`` when
sent, also through ``extra_body``), ``server.address`` / ``server.port``, response id,
model and finish reasons (``stop_reason``), tokens, the tool calls the response asks for
(``spanmeter.tool_calls.names`` / ``.ids``, from its ``tool_use`` blocks), and
``error.type`` (the HTTP status for API errors). Input tokens follow the conventions and
the SDK's own span: Anthropic's ``input_tokens`` plus the cache-read and cache-creation
tokens, which are also reported on their own. Streams read usage from ``message_start``
and ``message_delta`` and record ``gen_ai.response.time_to_first_chunk``.

The SDK's own span. anthropic makes a span per API call (scope ``com.anthropic.sdk.python``)
whenever a TracerProvider is around, unless the client is built with
``open_telemetry=False`` (or ``ANTHROPIC_OPEN_TELEMETRY=false``). With
``SPANMETER_GENAI_SPAN_MODE=enrich`` (the default) spanmeter starts no span of its own for
such a client: it adds its attributes to the SDK's span, so each call has one span. The
SDK starts that span inside the call and ends it before a non-streaming call returns, so
spanmeter hooks the SDK's ``finish_api_call_span`` to add them in time, and adds a
stream's as its ``message_delta`` arrives. What the SDK sets itself (``error.type`` as the
API's error type, e.g. ``rate_limit_error``; ``gen_ai.usage.cache_write.input_tokens``;
its time to first chunk) stays as the SDK set it. ``SPANMETER_GENAI_SPAN_MODE=separate``
always starts spanmeter's span; the SDK's is then its child.

Content (``gen_ai.input.messages``, with the ``system`` prompt as a system message, and
``gen_ai.output.messages``) only with ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``,
truncated to ``SPANMETER_CONTENT_MAX_CHARS`` (see :mod:`spanmeter.instrumentation.genai`).
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from spanmeter import providers, sdk_internals, semconv
from spanmeter.instrumentation import genai
from spanmeter.instrumentation.usage import add_usage
from spanmeter.on_import import patch_on_import

_COMPONENT = "instrumentation.anthropic"
_PROVIDER = "anthropic"
_CHAT = semconv.Operation.CHAT.value

_PARAMS = {
    "max_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": semconv.GEN_AI_REQUEST_TOP_P,
    "top_k": semconv.GEN_AI_REQUEST_TOP_K,
    "stop_sequences": semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
}

_telemetry = genai.GenAITelemetry(_COMPONENT)
"""Shared by every wrapper this module ever installs (see :class:`genai.GenAITelemetry`)."""


def makes_spans() -> bool:
    """Whether spanmeter's anthropic spans are on: a framework's model span over this SDK would price calls twice."""
    return _telemetry.active


# --- request side -------------------------------------------------------------


def _parts(content: Any) -> list[dict[str, Any]]:
    """Content blocks (dicts of a request, models of a response) as GenAI message parts."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if not isinstance(content, (list, tuple)):  # never consume an iterable the SDK has yet to send
        return []
    parts = []
    for block in content:
        get = block.get if isinstance(block, Mapping) else lambda key, b=block: getattr(b, key, None)
        kind = get("type")
        if kind == "text":
            parts.append({"type": "text", "content": get("text")})
        elif kind == "tool_use":
            parts.append({"type": "tool_call", "id": get("id"), "name": get("name"), "arguments": get("input")})
        elif kind == "tool_result":
            parts.append({"type": "tool_call_response", "id": get("tool_use_id"), "response": get("content")})
        else:  # images, documents, thinking...: their kind only
            parts.append({"type": kind})
    return parts


def _input_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "parts": _parts(system)})
    messages_sent = body.get("messages")
    for message in messages_sent if isinstance(messages_sent, (list, tuple)) else ():
        if isinstance(message, Mapping):
            messages.append({"role": message.get("role"), "parts": _parts(message.get("content"))})
    return messages


def _describe(instance: Any, kwargs: Mapping[str, Any]):
    """Request attributes; ``extra_body`` carries the sampling parameters this SDK has no kwarg for."""
    operation, model, attributes = genai.describe_request(_CHAT, _PROVIDER, instance, kwargs, _PARAMS)
    extra = kwargs.get("extra_body")
    if isinstance(extra, Mapping):
        genai.add_request_params(attributes, extra, _PARAMS)
    _telemetry.capture_into(attributes, semconv.GEN_AI_INPUT_MESSAGES, _input_messages, kwargs)
    return operation, model, attributes


# --- response side ------------------------------------------------------------


_USAGE_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")
_INPUT_INCLUDES_CACHE = providers.get(_PROVIDER).input_includes_cache


def _usage_attributes(attributes: dict[str, Any], *usages: Any) -> None:
    """Tokens from usage objects, later ones winning (a stream's ``message_delta`` usage is cumulative).

    Anthropic's ``input_tokens`` leaves the cache out (its row in :mod:`spanmeter.providers`):
    :func:`add_usage` writes the total the model read, as the conventions count it.
    """
    counts: dict[str, int] = {}
    for usage in usages:
        if usage is None:
            continue
        for name in _USAGE_FIELDS:
            value = getattr(usage, name, None)
            if type(value) is int:  # not a bool, nor a str from an odd body
                counts[name] = value
        value = getattr(getattr(usage, "output_tokens_details", None), "thinking_tokens", None)
        if type(value) is int:
            counts["thinking_tokens"] = value
    add_usage(attributes, counts.get("input_tokens"), counts.get("output_tokens"),
              counts.get("cache_read_input_tokens"), counts.get("cache_creation_input_tokens"),
              counts.get("thinking_tokens"), input_includes_cache=_INPUT_INCLUDES_CACHE)  # fmt: skip


def _response_attributes(message: Any, stop_reason: Any, tool_uses: Any, *usages: Any) -> dict[str, Any]:
    """Attributes of a Message (or of a stream's ``message_start`` message plus what came later)."""
    attributes: dict[str, Any] = {}
    genai.add_response_identity(attributes, message)
    if isinstance(stop_reason, str):
        attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = (stop_reason,)
    genai.add_tool_calls(attributes, ((getattr(block, "name", None), getattr(block, "id", None))
                                      for block in tool_uses if getattr(block, "type", None) == "tool_use"))  # fmt: skip
    _usage_attributes(attributes, *usages)
    return attributes


def _message_attributes(message: Any) -> dict[str, Any]:
    return _response_attributes(message, getattr(message, "stop_reason", None),
                                getattr(message, "content", None) or (), getattr(message, "usage", None))  # fmt: skip


def _output_messages(parts: list[dict[str, Any]], stop_reason: Any) -> list[dict[str, Any]]:
    return [{"role": "assistant", "parts": parts, "finish_reason": stop_reason}]


def _message_output(message: Any) -> list[dict[str, Any]]:
    return _output_messages(_parts(getattr(message, "content", None)), getattr(message, "stop_reason", None))


def _end_with_message(call: genai.GenAICall, message: Any) -> None:
    call.capture(semconv.GEN_AI_OUTPUT_MESSAGES, _message_output, message)
    call.end(_message_attributes(message))


# --- streams ------------------------------------------------------------------


class _MessageEvents:
    """Reads raw stream events: ``message_start`` (id, model, input usage), ``content_block_start``
    (tool_use blocks), ``message_delta`` (stop reason, cumulative usage); text and tool input
    deltas only when content is captured. Slotted and apart from the proxy: :meth:`add` runs per event.
    """

    __slots__ = ("call", "delta", "message", "parts", "tool_uses")

    def __init__(self, call: genai.GenAICall) -> None:
        self.call = call
        self.message = None
        self.delta = None
        self.tool_uses: list[Any] = []
        self.parts: list[dict[str, Any]] | None = [] if call.capture_content else None

    def add(self, event: Any) -> None:
        kind = event.type
        if kind == "content_block_delta":
            if self.parts:
                self._add_content_delta(event.delta)
        elif kind == "message_start":
            self.message = event.message
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self.tool_uses.append(block)
            if self.parts is not None:
                self.parts.extend(_parts([block]))
        elif kind == "message_delta":
            self.delta = event
            if not self.call.owned:
                # The SDK ends its own span when the body ends, before the stream reports its end.
                self.call.set_attributes(self.attributes())

    def _add_content_delta(self, delta: Any) -> None:
        part = self.parts[-1]
        if delta.type == "text_delta" and part["type"] == "text":
            part["content"] = (part["content"] or "") + delta.text
        elif delta.type == "input_json_delta" and part["type"] == "tool_call":
            arguments = part["arguments"]
            part["arguments"] = (arguments if isinstance(arguments, str) else "") + delta.partial_json

    def attributes(self) -> dict[str, Any] | None:
        message, delta = self.message, self.delta
        if message is None:
            return None
        stop_reason = getattr(getattr(delta, "delta", None), "stop_reason", None)
        if self.parts is not None:
            self.call.capture(semconv.GEN_AI_OUTPUT_MESSAGES, _output_messages, self.parts, stop_reason)
        return _response_attributes(message, stop_reason, self.tool_uses,
                                    getattr(message, "usage", None), getattr(delta, "usage", None))  # fmt: skip


class _MessageStream:
    """Stream proxy hooks, delegated to :class:`_MessageEvents`."""

    def __init__(self, stream: Any, call: genai.GenAICall) -> None:
        super().__init__(stream, call)
        self._self_events = _MessageEvents(call)
        self._self_on_item = self._self_events.add  # per event: straight to the accumulator

    def _self_final_attributes(self) -> dict[str, Any] | None:
        # The SDK's own span got them at message_delta, and has ended by now.
        return self._self_events.attributes() if self._self_call.owned else None


class _SyncMessageStream(_MessageStream, genai.SyncStreamProxy):
    pass


class _AsyncMessageStream(_MessageStream, genai.AsyncStreamProxy):
    pass


# --- the SDK's own span (enrich mode) -----------------------------------------


class _SdkSpan:
    """A call handed to the SDK's own span: the hook puts the GenAICall on that span here."""

    __slots__ = ("call",)

    def __init__(self) -> None:
        self.call: genai.GenAICall | None = None


_sdk_span: ContextVar[_SdkSpan | None] = ContextVar("spanmeter_anthropic_sdk_span", default=None)
"""Set by a wrapper around the SDK call whose span :func:`_enrich_sdk_span` is to enrich."""


def _sdk_makes_span(instance: Any) -> bool:
    """Whether this call's span is the SDK's: enrich mode and a client with the SDK's telemetry on.

    The client's tracer is None when the client makes no spans (or predates them).
    """
    with _telemetry.guard:  # the property failing: spanmeter's own span
        return _telemetry.enrich and sdk_internals.resource_client_tracer(instance) is not None
    return False


def _enrich_sdk_span(wrapped, instance, args, kwargs):
    """Around ``anthropic._base_client.finish_api_call_span(client, span, result)``, called before the SDK's span ends.

    Only for calls a spanmeter wrapper handed over (:data:`_sdk_span`): request attributes
    from the body the SDK sent (``extra_body`` merged in), a Message's response attributes
    and content. A stream's come later, from the stream proxy on the same GenAICall.
    """
    pending = _sdk_span.get()
    if pending is not None and pending.call is None and _telemetry.active:
        with _telemetry.guard:
            span, result = args[1], args[2]
            call = pending.call = genai.GenAICall(_telemetry, span, owned=False)
            body = result.options.json_data
            body = body if isinstance(body, Mapping) else {}
            attributes: dict[str, Any] = {}
            genai.add_request_params(attributes, body, _PARAMS)
            call.set_attributes(attributes)
            call.capture(semconv.GEN_AI_INPUT_MESSAGES, _input_messages, body)
            if result.error is None and _classes.is_message(result.data):
                _end_with_message(call, result.data)
    return wrapped(*args, **kwargs)


def _on_sdk_span(pending: _SdkSpan, result: Any) -> Any:
    """A stream returned on the SDK's span, wrapped so its events reach that span; anything else as it came."""
    with _telemetry.guard:
        call = pending.call
        if call is not None and not call.ended and _classes.is_stream(result):
            return _classes.proxy(result, call)
    return result


# --- wrappers -----------------------------------------------------------------


class _Classes:
    """anthropic's result classes, imported when instrumenting (not when this module loads)."""

    def __init__(self) -> None:
        self.types: tuple[type, type, type] | None = None

    def load(self) -> None:
        from anthropic import AsyncStream, Stream
        from anthropic.types import Message

        self.types = (Message, Stream, AsyncStream)

    def is_message(self, result: Any) -> bool:
        return isinstance(result, self.types[0])

    def is_stream(self, result: Any) -> bool:
        return isinstance(result, self.types[1:])

    def proxy(self, stream: Any, call: genai.GenAICall) -> Any:
        proxy_class = _SyncMessageStream if isinstance(stream, self.types[1]) else _AsyncMessageStream
        return proxy_class(stream, call)


_classes = _Classes()


def _handle_result(call: genai.GenAICall, result: Any) -> Any:
    if _classes.is_stream(result):
        return _classes.proxy(result, call)
    if _classes.is_message(result):
        _end_with_message(call, result)
    else:  # e.g. with_raw_response's unparsed response: the request attributes only
        call.end()
    return result


_own_sync = genai.sync_wrapper(_telemetry, _describe, _handle_result)
_own_async = genai.async_wrapper(_telemetry, _describe, _handle_result)


def _create(wrapped, instance, args, kwargs):
    """``Messages.create``: spanmeter's span, or the SDK's enriched (see the module docstring)."""
    if not (_telemetry.active and _sdk_makes_span(instance)):
        return _own_sync(wrapped, instance, args, kwargs)
    pending = _SdkSpan()
    token = _sdk_span.set(pending)
    try:
        result = wrapped(*args, **kwargs)
    finally:
        _sdk_span.reset(token)
    return _on_sdk_span(pending, result)


async def _acreate(wrapped, instance, args, kwargs):
    """``AsyncMessages.create``: :func:`_create` for the async client."""
    if not (_telemetry.active and _sdk_makes_span(instance)):
        return await _own_async(wrapped, instance, args, kwargs)
    pending = _SdkSpan()
    token = _sdk_span.set(pending)
    try:
        result = await wrapped(*args, **kwargs)
    finally:
        _sdk_span.reset(token)
    return _on_sdk_span(pending, result)


def _stream_helper(defer: Any):
    """``messages.stream(...)``: the manager it returns sends its prepared request on entry, through ``create``.

    The helper calls the API directly (not through ``create``) and its manager keeps the
    prepared request in a private attribute; ``defer`` replaces it with one that runs the
    request inside the create wrapper, which sees the helper's kwargs.
    """

    def wrapper(wrapped, instance, args, kwargs):
        manager = wrapped(*args, **kwargs)
        if _telemetry.active:
            with _telemetry.guard:  # the helper then runs without a span
                request = sdk_internals.stream_manager_request(manager)
                sdk_internals.replace_stream_manager_request(manager, defer(request, instance, args, kwargs))
        return manager

    return wrapper


def _defer_sync(request: Any, instance: Any, args: Any, kwargs: Any):
    """The sync manager calls its prepared request (no arguments) when entered."""
    return lambda: _create(lambda *_, **__: request(), instance, args, kwargs)


class _defer_async:  # lowercase: used like the function it stands beside
    """The async manager awaits its prepared coroutine when entered: awaited, this awaits it inside ``_acreate``.

    An awaitable rather than a coroutine, so a manager never entered leaves only the SDK's
    own never-awaited coroutine behind, as it would uninstrumented.
    """

    __slots__ = ("args", "instance", "kwargs", "request")

    def __init__(self, request: Any, instance: Any, args: Any, kwargs: Any) -> None:
        self.request, self.instance, self.args, self.kwargs = request, instance, args, kwargs

    def __await__(self):
        request = self.request
        return _acreate(lambda *_, **__: request, self.instance, self.args, self.kwargs).__await__()


_MODULE = "anthropic.resources.messages.messages"
_TARGETS = (
    # module, owner, attribute, wrapper
    (_MODULE, "Messages", "create", _create),
    (_MODULE, "AsyncMessages", "create", _acreate),
    (_MODULE, "Messages", "stream", _stream_helper(_defer_sync)),
    (_MODULE, "AsyncMessages", "stream", _stream_helper(_defer_async)),
    ("anthropic._base_client", None, "finish_api_call_span", _enrich_sdk_span),
)  # fmt: skip


def _owner(module: str, name: str | None) -> Any:
    import importlib

    owner = importlib.import_module(module)
    return owner if name is None else getattr(owner, name)


class AnthropicInstrumentor(BaseInstrumentor):
    """spanmeter's instrumentation of the ``anthropic`` package (see the module docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("anthropic >= 2.0",)

    def _instrument(self, **kwargs: Any) -> None:
        sdk_internals.check("opentelemetry-sdk")
        _telemetry.configure(tracer_provider=kwargs.get("tracer_provider"), settings=kwargs.get("settings"))
        patch_on_import("anthropic", _patch)

    def _uninstrument(self, **kwargs: Any) -> None:
        _telemetry.active = False
        if "anthropic" not in sys.modules:  # never imported, so never patched: do not import it now
            return
        for module, owner, attribute, _ in _TARGETS:
            genai.unwrap_own(_owner(module, owner), attribute)


def _patch(_anthropic: Any) -> None:
    """Wrap anthropic's methods, once the app imported anthropic, unless uninstrumented meanwhile.
    What spanmeter reads of anthropic's internals is checked here, not at instrument(): the
    check imports anthropic's modules."""
    if _telemetry.active:
        sdk_internals.check("anthropic")
        _classes.load()
        for module, owner, attribute, wrapper in _TARGETS:
            target = _owner(module, owner)
            if hasattr(target, attribute):  # an SDK without its own spans has no finish_api_call_span
                genai.wrap_once(target, attribute, wrapper)
