"""Spans for the OpenAI Agents SDK (0.24): its own traces, turned into OpenTelemetry spans.

Usage (``opentelemetry-instrument`` does this through the ``spanmeter_openai_agents`` entry point)::

    from spanmeter.instrumentation.openai_agents import OpenAIAgentsInstrumentor
    OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)  # provider optional

When the app imports ``agents``, a :class:`SpanmeterTracingProcessor` is added with
``agents.add_trace_processor``: the user's other processors and OpenAI's own exporter keep
receiving everything. ``uninstrument()`` makes it inert (the SDK cannot remove a processor).

Mapping (parents come from the SDK's own span and trace ids, through a bounded, locked map
of open spans that is emptied as they end and when their trace ends):

* a trace -> ``invoke_workflow {workflow name}`` under the app's current span, with
  ``gen_ai.conversation.id`` from the trace's ``group_id``;
* agent spans -> ``invoke_agent {name}``; function spans -> ``execute_tool {name}`` with
  ``gen_ai.tool.call.id`` (read where the SDK builds the tool's context, inside the span);
* handoff spans -> ``handoff {to}`` (``spanmeter.handoff.from_agent`` / ``.to_agent``),
  guardrail spans -> ``guardrail {name}`` (``spanmeter.guardrail.triggered``);
* response / generation spans (one model call) -> ``chat {model}`` with its usage, unless
  the call goes through the ``openai`` SDK while spanmeter's openai instrumentation is on:
  that span is then the call's one priced span and the SDK's is left out;
* task and turn spans (aggregated usage, never priced), MCP listings and voice spans add
  no span: their children hang on the nearest mapped ancestor. Custom spans keep their name.

Context: the SDK calls ``get_response`` / ``stream_response`` of its OpenAI models with its
agent span current; spanmeter makes that agent's OpenTelemetry span current around the call
(per step for streams), so the openai SDK's span nests under the agent. Likewise a function
tool's body runs with its ``execute_tool`` span current (the runner's tool invocation is the
boundary), so spans the tool makes nest under it. Nothing else attaches context: the
processor's callbacks only start and end spans.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.trace import SpanKind, Status, StatusCode

from spanmeter import rules, semconv
from spanmeter.instrumentation import execution, genai
from spanmeter.instrumentation import openai as spanmeter_openai
from spanmeter.instrumentation.usage import add_usage
from spanmeter.internal_errors import guard, record_internal_error
from spanmeter.on_import import hooks_while_active, patch_on_import

_COMPONENT = "instrumentation.openai_agents"
_guard = guard(_COMPONENT)
_telemetry = genai.GenAITelemetry(_COMPONENT)

_INVOKE_AGENT = semconv.Operation.INVOKE_AGENT.value
_INVOKE_WORKFLOW = semconv.Operation.INVOKE_WORKFLOW.value
_EXECUTE_TOOL = semconv.Operation.EXECUTE_TOOL.value
_CHAT = semconv.Operation.CHAT.value
_PASS_THROUGH = frozenset({"task", "turn", "mcp_tools", "speech", "speech_group", "transcription"})
MAX_OPEN_SPANS = 10_000
"""Open SDK spans and traces remembered at once; past it the oldest is ended and dropped (counted)."""


@dataclass(frozen=True)
class _ModelCall:
    """What the model wrapper knows of the call the SDK is about to trace."""

    model: str | None
    via_openai_sdk: bool


_MODEL_CALL = otel_context.create_key("spanmeter.openai_agents.model_call")
"""Context key of the :class:`_ModelCall` in progress: attached with the agent's context around the call."""


class _Entry:
    """One open SDK span or trace: its OpenTelemetry span, or its nearest mapped ancestor's."""

    __slots__ = ("conversation", "owned", "span", "trace_id")

    def __init__(self, span: trace.Span, owned: bool, trace_id: str, conversation: str | None) -> None:
        self.span, self.owned, self.trace_id, self.conversation = span, owned, trace_id, conversation


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def usage_attributes(usage: Any) -> dict[str, Any]:
    """GenAI usage attributes from the SDK's per-call usage dict (Responses API meanings: input includes cache)."""
    if not isinstance(usage, Mapping):
        return {}
    details = usage.get("input_tokens_details")
    details = details if isinstance(details, Mapping) else {}
    out_details = usage.get("output_tokens_details")
    out_details = out_details if isinstance(out_details, Mapping) else {}
    attributes: dict[str, Any] = {}
    add_usage(attributes, usage.get("input_tokens"), usage.get("output_tokens"), details.get("cached_tokens"),
              details.get("cache_write_tokens"), out_details.get("reasoning_tokens"))  # fmt: skip
    return attributes


def _error(span: trace.Span, error: Any) -> None:
    message = error.get("message") if isinstance(error, Mapping) else None
    span.set_status(Status(StatusCode.ERROR, message if isinstance(message, str) else None))
    span.set_attribute(semconv.ERROR_TYPE, rules.ERROR_TYPE_OTHER)


def _start_attributes(data: Any, kind: str) -> tuple[str, dict[str, Any], SpanKind] | None:
    """Span name, attributes and kind for an SDK span at its start; None: no span of its own."""
    name = _text(getattr(data, "name", None))
    if kind == "agent":
        name = name or "agent"
        return f"{_INVOKE_AGENT} {name}", {semconv.GEN_AI_OPERATION_NAME: _INVOKE_AGENT,
                                           semconv.GEN_AI_AGENT_NAME: name}, SpanKind.INTERNAL  # fmt: skip
    if kind == "function":
        name = name or "tool"
        return f"{_EXECUTE_TOOL} {name}", {semconv.GEN_AI_OPERATION_NAME: _EXECUTE_TOOL, semconv.GEN_AI_TOOL_NAME: name,
                                           semconv.GEN_AI_TOOL_TYPE: "function"}, SpanKind.INTERNAL  # fmt: skip
    if kind == "handoff":
        source = _text(getattr(data, "from_agent", None))
        return "handoff", ({semconv.HANDOFF_FROM_AGENT: source} if source else {}), SpanKind.INTERNAL
    if kind == "guardrail":
        return f"guardrail {name or ''}".strip(), {semconv.GUARDRAIL_NAME: name} if name else {}, SpanKind.INTERNAL
    if kind in ("response", "generation"):
        return _llm_start(data)
    if kind == "custom":
        return name or "custom", {}, SpanKind.INTERNAL
    return None


def _llm_start(data: Any) -> tuple[str, dict[str, Any], SpanKind] | None:
    call = otel_context.get_value(_MODEL_CALL)
    call = call if isinstance(call, _ModelCall) else None
    if call is not None and call.via_openai_sdk and spanmeter_openai.makes_spans():
        return None  # spanmeter's openai span is this call's one priced span
    model = _text(getattr(data, "model", None)) or (call.model if call is not None else None)
    attributes: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: _CHAT}
    if call is not None and call.via_openai_sdk:
        attributes[semconv.GEN_AI_PROVIDER_NAME] = "openai"
    if model is not None:
        attributes[semconv.GEN_AI_REQUEST_MODEL] = model
    return (f"{_CHAT} {model}" if model else _CHAT), attributes, SpanKind.CLIENT


def _end_attributes(span: trace.Span, data: Any, kind: str) -> None:
    """What the SDK span knows at its end: usage, the handoff's target, a guardrail's verdict, content."""
    attributes: dict[str, Any] = {}
    if kind in ("response", "generation"):
        attributes.update(usage_attributes(getattr(data, "usage", None)))
        genai.add_response_identity(attributes, getattr(data, "response", None))
    elif kind == "handoff":
        target = _text(getattr(data, "to_agent", None))
        if target is not None:
            attributes[semconv.HANDOFF_TO_AGENT] = target
            span.update_name(f"handoff {target}")
    elif kind == "guardrail":
        attributes[semconv.GUARDRAIL_TRIGGERED] = bool(getattr(data, "triggered", False))
    elif kind == "function" and _telemetry.capture_content:
        for key, value in ((semconv.GEN_AI_TOOL_CALL_ARGUMENTS, getattr(data, "input", None)),
                           (semconv.GEN_AI_TOOL_CALL_RESULT, getattr(data, "output", None))):  # fmt: skip
            if value is not None:
                attributes[key] = genai.content_text(value, _telemetry.content_max_chars)
    span.set_attributes(attributes)


class SpanmeterTracingProcessor:
    """An Agents SDK ``TracingProcessor`` that makes OpenTelemetry spans (see the module docstring).

    Every callback is guarded: a fault costs attributes or a span, never the run.
    """

    def __init__(self, max_open: int = MAX_OPEN_SPANS) -> None:
        self._open: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._max_open = max_open
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._open)

    # --- the map of open spans --------------------------------------------------------

    def _put(self, key: str, entry: _Entry) -> None:
        with self._lock:
            self._open[key] = entry
            evicted = self._open.popitem(last=False)[1] if len(self._open) > self._max_open else None
            self.dropped += evicted is not None
        if evicted is not None:
            record_internal_error(f"{_COMPONENT}.overflow", OverflowError("open SDK span map full; oldest ended"))
            if evicted.owned:
                evicted.span.end()

    def _get(self, key: str | None) -> _Entry | None:
        if key is None:
            return None
        with self._lock:
            return self._open.get(key)

    def _pop(self, key: str) -> _Entry | None:
        with self._lock:
            return self._open.pop(key, None)

    def context_of(self, sdk_span: Any) -> otel_context.Context | None:
        """The OpenTelemetry context of an open SDK span (its span, or its nearest mapped ancestor's)."""
        entry = self._get(getattr(sdk_span, "span_id", None))
        return trace.set_span_in_context(entry.span) if entry is not None else None

    # --- TracingProcessor ---------------------------------------------------------------

    def on_trace_start(self, sdk_trace: Any) -> None:
        if not _telemetry.active:
            return
        with _guard:
            name = _text(getattr(sdk_trace, "name", None)) or "workflow"
            conversation = _text(getattr(sdk_trace, "group_id", None))
            attributes: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: _INVOKE_WORKFLOW}
            if conversation is not None:
                attributes[semconv.GEN_AI_CONVERSATION_ID] = conversation
            span = _telemetry.tracer.start_span(f"{_INVOKE_WORKFLOW} {name}", attributes=attributes)
            self._put(sdk_trace.trace_id, _Entry(span, True, sdk_trace.trace_id, conversation))

    def on_trace_end(self, sdk_trace: Any) -> None:
        with _guard:
            trace_id = sdk_trace.trace_id
            with self._lock:
                leftovers = [key for key, entry in self._open.items() if entry.trace_id == trace_id and key != trace_id]
                entries = [self._open.pop(key) for key in leftovers]
            for entry in entries:  # spans the SDK never ended: end them rather than keep them
                if entry.owned:
                    entry.span.end()
            entry = self._pop(trace_id)
            if entry is not None:
                entry.span.end()

    def on_span_start(self, sdk_span: Any) -> None:
        if not _telemetry.active:
            return
        with _guard:
            parent = self._get(sdk_span.parent_id) or self._get(sdk_span.trace_id)
            data = sdk_span.span_data
            kind = getattr(data, "type", None)
            shape = None if kind in _PASS_THROUGH else _start_attributes(data, kind)
            if shape is None:
                if parent is not None:  # children hang on the nearest mapped ancestor
                    self._put(sdk_span.span_id, _Entry(parent.span, False, sdk_span.trace_id, parent.conversation))
                return
            name, attributes, span_kind = shape
            conversation = parent.conversation if parent is not None else None
            if conversation is not None and kind == "agent":
                attributes[semconv.GEN_AI_CONVERSATION_ID] = conversation
            context = trace.set_span_in_context(parent.span) if parent is not None else None
            span = _telemetry.tracer.start_span(name, context, kind=span_kind, attributes=attributes)
            self._put(sdk_span.span_id, _Entry(span, True, sdk_span.trace_id, conversation))

    def on_span_end(self, sdk_span: Any) -> None:
        with _guard:
            entry = self._pop(sdk_span.span_id)
            if entry is None or not entry.owned:
                return
            span = entry.span
            with _guard:
                if span.is_recording():
                    _end_attributes(span, sdk_span.span_data, getattr(sdk_span.span_data, "type", None))
                    if sdk_span.error:
                        _error(span, sdk_span.error)
            span.end()

    def set_tool_call_id(self, sdk_span: Any, call_id: str) -> None:
        entry = self._get(getattr(sdk_span, "span_id", None))
        if entry is not None and entry.owned:
            entry.span.set_attribute(semconv.GEN_AI_TOOL_CALL_ID, call_id)

    def shutdown(self) -> None:
        with self._lock:
            entries, self._open = list(self._open.values()), OrderedDict()
        for entry in entries:
            if entry.owned:
                with _guard:
                    entry.span.end()

    def force_flush(self) -> None:
        """Spans go to the tracer provider's processors as they end: nothing is held here."""


_processor = SpanmeterTracingProcessor()
_registered = False


def processor() -> SpanmeterTracingProcessor:
    """The one processor this module registers (tests read its open-span count)."""
    return _processor


# --- execution boundaries ---------------------------------------------------------------------


class _ContextScope:
    """An SDK span's OpenTelemetry context around a call the SDK makes inside that span."""

    __slots__ = ("context",)

    def __init__(self, context: otel_context.Context) -> None:
        self.context = context

    def observe(self, item: Any) -> None:
        """Stream events need nothing here."""

    def finish(self, exc: BaseException | None, result: Any = None) -> None:
        """The context is detached by the driver; nothing else is held."""


def _open_context(call: _ModelCall | None = None) -> _ContextScope | None:
    """The current SDK span's context (the agent's around a model call, the tool's around a tool call)."""
    if not _telemetry.active:
        return None
    with _guard:
        from agents.tracing import get_current_span

        context = _processor.context_of(get_current_span()) or otel_context.get_current()
        return _ContextScope(otel_context.set_value(_MODEL_CALL, call, context) if call is not None else context)
    return None


def _model_call(instance: Any) -> _ContextScope | None:
    return _open_context(_ModelCall(_text(getattr(instance, "model", None)), via_openai_sdk=True))


def _get_response(wrapped, instance, args, kwargs):
    return execution.coroutine(lambda: _model_call(instance), wrapped(*args, **kwargs))


def _stream_response(wrapped, instance, args, kwargs):
    return execution.async_generator(lambda: _model_call(instance), wrapped(*args, **kwargs))


def _invoke_tool(wrapped, instance, args, kwargs):
    """The tool's body runs with its ``execute_tool`` span current: spans it makes nest under it."""
    return execution.coroutine(_open_context, wrapped(*args, **kwargs))


def _tool_context(wrapped, instance, args, kwargs):
    """The tool call's id onto the function span current while the SDK builds the tool's context."""
    result = wrapped(*args, **kwargs)
    if _telemetry.active:
        with _guard:
            from agents.tracing import get_current_span

            sdk_span = get_current_span()
            call_id = _text(getattr(result, "tool_call_id", None))
            if call_id is not None and getattr(getattr(sdk_span, "span_data", None), "type", None) == "function":
                _processor.set_tool_call_id(sdk_span, call_id)
    return result


_MODELS = (
    ("agents.models.openai_responses", "OpenAIResponsesModel"),
    ("agents.models.openai_chatcompletions", "OpenAIChatCompletionsModel"),
)


def _register(module: Any) -> None:
    global _registered
    if not _registered:
        module.add_trace_processor(_processor)
        _registered = True


def _wrap_models(module: Any) -> None:
    for module_name, class_name in _MODELS:
        owner = getattr(module, class_name, None) if module.__name__ == module_name else None
        if owner is not None:
            genai.wrap_once(owner, "get_response", _get_response)
            genai.wrap_once(owner, "stream_response", _stream_response)


def _wrap_tool_context(module: Any) -> None:
    owner = getattr(module, "ToolContext", None)
    if owner is not None:
        genai.wrap_once(owner, "from_agent_context", _tool_context)


def _wrap_tool_invocation(module: Any) -> None:
    if callable(getattr(module, _TOOL_INVOCATION, None)):
        genai.wrap_once(module, _TOOL_INVOCATION, _invoke_tool)


_TOOL_INVOCATION = "_invoke_function_tool_with_metadata"
"""Where the runner awaits a function tool (imported by name into its module, so patched there)."""

_PATCHES = (
    ("agents", _register),
    *((module_name, _wrap_models) for module_name, _ in _MODELS),
    ("agents.tool_context", _wrap_tool_context),
    ("agents.run_internal.tool_execution", _wrap_tool_invocation),
)


_HOOKS = hooks_while_active(_telemetry, _PATCHES)


class OpenAIAgentsInstrumentor(BaseInstrumentor):
    """spanmeter's instrumentation of the OpenAI Agents SDK (see the module docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai-agents >= 0.24",)

    def _instrument(self, **kwargs: Any) -> None:
        _telemetry.configure(tracer_provider=kwargs.get("tracer_provider"), settings=kwargs.get("settings"))
        for module, hook in _HOOKS:
            patch_on_import(module, hook)

    def _uninstrument(self, **kwargs: Any) -> None:
        _telemetry.active = False  # the processor stays registered, inert; wrappers pass calls through
