"""Spans for Agno (3.1): agent and team runs, tool calls, and model calls no provider span covers.

Usage (``opentelemetry-instrument`` does this through the ``spanmeter_agno`` entry point)::

    from spanmeter.instrumentation.agno import AgnoInstrumentor
    AgnoInstrumentor().instrument(tracer_provider=provider)  # provider optional

Nothing is imported at ``instrument()``: wrapt post-import hooks patch Agno's modules when
the app imports them, so an app without Agno pays nothing.

Spans:

* ``invoke_agent {name}`` for every ``Agent.run`` / ``arun`` and ``Team.run`` / ``arun``, with
  ``gen_ai.agent.name`` / ``.id`` and ``gen_ai.conversation.id`` (the session id); ERROR when
  the run ends with status ``error`` (Agno reports most failures that way rather than
  raising). The hooks are the run functions Agno's dispatchers call (``agno.agent._run._run``,
  ``_run_stream``, ``_arun``, ``_arun_stream``, the continue-run and team task-mode variants),
  so whether a run streams is known from the function, whether it was asked for by the call
  or set on the agent, and ``arun`` keeps returning a coroutine or an async iterator.
  Streaming runs' spans end when the stream is exhausted, closed or abandoned.
* ``execute_tool {name}`` for ``FunctionCall.execute`` / ``aexecute`` with ``gen_ai.tool.call.id``.
  A tool returning a generator keeps its span open until the generator is consumed, with the
  span current while it runs, so a team's ``delegate_task_to_member`` span holds the member
  agent's run. A tool that reports ``status="failure"`` gets ERROR without an exception.
* ``chat {model}`` for a model call only when no spanmeter provider span sits beneath it.
  Agno's OpenAI-family models (``OpenAIChat``, ``OpenAIResponses``, every ``OpenAILike``)
  call the ``openai`` SDK and its Claude models the ``anthropic`` SDK; while spanmeter's
  instrumentation of that SDK is on, its span is the call's one priced span and Agno's
  model call adds none. Other models (Gemini, Groq, Mistral, Bedrock, ...) get this span with
  the usage Agno reports, normalized to the conventions: ``gen_ai.usage.input_tokens``
  includes cached tokens (Agno's Anthropic and Bedrock adapters leave them out).

Run spans carry no ``gen_ai.usage.*``: Agno's run metrics aggregate the run's model calls,
which are priced on their own spans; totals are the processor's roll-up.

Agno's own ``agno.tracing.setup_tracing`` instruments Agno with OpenInference; while this
instrumentation is on, that step is skipped so runs are not traced twice (its database
exporter is still set up). Content (tool arguments and results) is captured only with
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
"""

from __future__ import annotations

import contextvars
import inspect
import sys
from collections.abc import Collection, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.trace import SpanKind, Status, StatusCode

from spanmeter import providers, rules, semconv
from spanmeter.instrumentation import anthropic as spanmeter_anthropic
from spanmeter.instrumentation import execution, genai
from spanmeter.instrumentation import openai as spanmeter_openai
from spanmeter.instrumentation.usage import add_usage
from spanmeter.internal_errors import guard
from spanmeter.on_import import hooks_while_active, patch_on_import

_COMPONENT = "instrumentation.agno"
_guard = guard(_COMPONENT)
_telemetry = genai.GenAITelemetry(_COMPONENT)
"""Shared by every wrapper this module ever installs (see :class:`genai.GenAITelemetry`)."""

_INVOKE_AGENT = semconv.Operation.INVOKE_AGENT.value
_EXECUTE_TOOL = semconv.Operation.EXECUTE_TOOL.value
_CHAT = semconv.Operation.CHAT.value

_RUN_FUNCTIONS = {
    "agno.agent._run": ("_run", "_run_stream", "_arun", "_arun_stream", "_continue_run", "_continue_run_stream",
                        "_acontinue_run", "_acontinue_run_stream"),
    "agno.team._run": ("_run", "_run_stream", "_arun", "_arun_stream", "_continue_run", "_continue_run_stream",
                       "_acontinue_run", "_acontinue_run_stream", "_run_tasks", "_run_tasks_stream", "_arun_tasks",
                       "_arun_tasks_stream"),
}  # fmt: skip
_TOOLS = ("agno.tools.function", "FunctionCall", ("execute", "aexecute"))
_MODELS = ("agno.models.base", "Model",
           ("_invoke_with_retry", "_ainvoke_with_retry", "_invoke_stream_with_retry", "_ainvoke_stream_with_retry"))  # fmt: skip
_SETUP_TRACING = ("agno.tracing.setup", "setup_tracing")

# The spanmeter instrumentation of the SDK an Agno adapter calls, by the provider's semconv name.
_SDK_INSTRUMENTATIONS = {"openai": spanmeter_openai, "anthropic": spanmeter_anthropic}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _capture(attributes: dict[str, Any], key: str, value: Any) -> None:
    if _telemetry.capture_content:
        with _guard:
            attributes[key] = genai.content_text(value, _telemetry.content_max_chars)


def _mark_error(span: trace.Span, error_type: str, description: str | None) -> None:
    span.set_status(Status(StatusCode.ERROR, description))
    span.set_attribute(semconv.ERROR_TYPE, error_type)


def _start_span(name: str, attributes: dict[str, Any], kind: SpanKind = SpanKind.INTERNAL) -> trace.Span:
    return _telemetry.tracer.start_span(name, kind=kind, attributes=attributes)


class _SpanScope:
    """An OpenTelemetry span as an :class:`execution.Scope`; subclasses add end attributes."""

    __slots__ = ("context", "ended", "span")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.context = trace.set_span_in_context(span)
        self.ended = False

    def observe(self, item: Any) -> None:
        """Runs and tools read nothing from their items."""

    def end_attributes(self, result: Any) -> None:
        """Set what the result tells (status, ids) on the span."""

    def finish(self, exc: BaseException | None, result: Any = None) -> None:
        if self.ended:
            return
        self.ended = True
        span = self.span
        with _guard:
            if exc is not None and not isinstance(exc, GeneratorExit):
                _mark_error(span, rules.exception_error_type(exc), f"{type(exc).__name__}: {exc}")
                span.record_exception(exc)
            elif span.is_recording():
                self.end_attributes(result)
        with _guard:
            span.end()


# --- agent and team runs ---------------------------------------------------------------


class _RunScope(_SpanScope):
    __slots__ = ("run_response",)

    def __init__(self, span: trace.Span, run_response: Any) -> None:
        super().__init__(span)
        self.run_response = run_response

    def end_attributes(self, result: Any) -> None:
        run = self.run_response if self.run_response is not None else result
        session = _text(getattr(run, "session_id", None))
        if session is not None:
            self.span.set_attribute(semconv.GEN_AI_CONVERSATION_ID, session)
        status = getattr(getattr(run, "status", None), "value", None)  # a RunStatus: "ERROR", "COMPLETED", ...
        if isinstance(status, str) and status.lower() == "error":
            content = getattr(run, "content", None)
            _mark_error(self.span, rules.ERROR_TYPE_OTHER, content if isinstance(content, str) else None)


def _run_attributes(runner: Any, run_response: Any) -> tuple[str, dict[str, Any]]:
    name = _text(getattr(runner, "name", None)) or _text(getattr(runner, "id", None)) or type(runner).__name__
    attributes: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: _INVOKE_AGENT, semconv.GEN_AI_AGENT_NAME: name}
    agent_id = _text(getattr(runner, "id", None))
    if agent_id is not None:
        attributes[semconv.GEN_AI_AGENT_ID] = agent_id
    session = _text(getattr(run_response, "session_id", None))
    if session is not None:
        attributes[semconv.GEN_AI_CONVERSATION_ID] = session
    return f"{_INVOKE_AGENT} {name}", attributes


def _open_run(args: tuple, kwargs: Mapping[str, Any]) -> _RunScope | None:
    if not _telemetry.active:
        return None
    with _guard:
        runner = args[0] if args else kwargs.get("agent", kwargs.get("team"))
        run_response = kwargs.get("run_response", args[1] if len(args) > 1 else None)
        name, attributes = _run_attributes(runner, run_response)
        return _RunScope(_start_span(name, attributes), run_response)
    return None


# --- tool calls -------------------------------------------------------------------------


class _ToolScope(_SpanScope):
    __slots__ = ()

    def end_attributes(self, result: Any) -> None:
        if getattr(result, "status", None) == "failure":
            error = getattr(result, "error", None)
            _mark_error(self.span, rules.ERROR_TYPE_OTHER, error if isinstance(error, str) else None)
        elif _telemetry.capture_content and result is not None:
            attributes: dict[str, Any] = {}
            _capture(attributes, semconv.GEN_AI_TOOL_CALL_RESULT, getattr(result, "result", result))
            self.span.set_attributes(attributes)


def _open_tool(function_call: Any) -> _ToolScope | None:
    if not _telemetry.active:
        return None
    with _guard:
        name = _text(getattr(getattr(function_call, "function", None), "name", None)) or "tool"
        attributes: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: _EXECUTE_TOOL, semconv.GEN_AI_TOOL_NAME: name,
                                      semconv.GEN_AI_TOOL_TYPE: "function"}  # fmt: skip
        call_id = _text(getattr(function_call, "call_id", None))
        if call_id is not None:
            attributes[semconv.GEN_AI_TOOL_CALL_ID] = call_id
        _capture(attributes, semconv.GEN_AI_TOOL_CALL_ARGUMENTS, getattr(function_call, "arguments", None))
        return _ToolScope(_start_span(f"{_EXECUTE_TOOL} {name}", attributes))
    return None


def _settle_tool(scope: _ToolScope, function_call: Any, outcome: Any) -> Any:
    """End the tool's span, or hand it to the generator it returned (the span ends when that is consumed)."""
    with _guard:
        produced = getattr(outcome, "result", None)
        if inspect.isgenerator(produced):
            driven = execution.generator(lambda: scope, produced)
        elif inspect.isasyncgen(produced):
            driven = execution.async_generator(lambda: scope, produced)
        else:
            execution.finish(scope, None, outcome)
            return outcome
        outcome.result = driven
        if getattr(function_call, "result", None) is produced:
            function_call.result = driven
        return outcome
    execution.finish(scope, None, outcome)
    return outcome


def _execute(wrapped, instance, args, kwargs):
    scope = _open_tool(instance)
    if scope is None:
        return wrapped(*args, **kwargs)
    token = execution.attach(scope.context)
    try:
        outcome = wrapped(*args, **kwargs)
    except BaseException as exc:
        execution.detach(token)
        execution.finish(scope, exc)
        raise
    execution.detach(token)
    return _settle_tool(scope, instance, outcome)


async def _aexecute(wrapped, instance, args, kwargs):
    scope = _open_tool(instance)
    if scope is None:
        return await wrapped(*args, **kwargs)
    token = execution.attach(scope.context)
    try:
        outcome = await wrapped(*args, **kwargs)
    except BaseException as exc:
        execution.detach(token)
        execution.finish(scope, exc)
        raise
    execution.detach(token)
    return _settle_tool(scope, instance, outcome)


# --- model calls without a provider span beneath ---------------------------------------------


_family_cache: dict[type, tuple[Any, bool]] = {}


def _family(model_class: type) -> tuple[Any, bool]:
    """(spanmeter instrumentation module of the SDK the class calls, or None; whether input excludes cache)."""
    cached = _family_cache.get(model_class)
    if cached is None:
        rows = providers.for_agno_modules(getattr(klass, "__module__", "") + "." for klass in model_class.__mro__)
        sdk = next((_SDK_INSTRUMENTATIONS[row.name] for row in rows if row.name in _SDK_INSTRUMENTATIONS), None)
        cached = (sdk, any(not row.input_includes_cache for row in rows))
        if len(_family_cache) >= 256:
            _family_cache.clear()
        _family_cache[model_class] = cached
    return cached


class _ModelScope:
    """A model call's ``chat`` span (a :class:`genai.GenAICall`), summing usage over a stream's deltas."""

    __slots__ = ("call", "context", "input_excludes_cache", "usage")

    _FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")

    def __init__(self, call: genai.GenAICall, input_excludes_cache: bool) -> None:
        self.call = call
        self.context = trace.set_span_in_context(call.span) if call.owned else None
        self.usage: dict[str, int] = {}
        self.input_excludes_cache = input_excludes_cache

    def observe(self, item: Any) -> None:
        with _guard:
            self._add_usage(getattr(item, "response_usage", None))

    def _add_usage(self, metrics: Any) -> None:
        if metrics is None:
            return
        for name in self._FIELDS:
            value = getattr(metrics, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[name] = self.usage.get(name, 0) + value

    def finish(self, exc: BaseException | None, result: Any = None) -> None:
        if exc is not None and not isinstance(exc, GeneratorExit):
            self.call.fail(exc)
            return
        with _guard:
            self._add_usage(getattr(result, "response_usage", None))
        attributes: dict[str, Any] = {}
        with _guard:  # a fault costs the usage, never the app's run nor the span's end
            attributes = self.usage_attributes()
        self.call.end(attributes)

    def usage_attributes(self) -> dict[str, Any]:
        usage = self.usage
        if "input_tokens" not in usage and "output_tokens" not in usage:
            return {}
        attributes: dict[str, Any] = {}
        add_usage(attributes, usage.get("input_tokens", 0), usage.get("output_tokens", 0),
                  usage.get("cache_read_tokens"), usage.get("cache_write_tokens"), usage.get("reasoning_tokens"),
                  input_includes_cache=not self.input_excludes_cache)  # fmt: skip
        return attributes


def _open_model(model: Any) -> _ModelScope | None:
    if not _telemetry.active:
        return None
    with _guard:
        sdk, input_excludes_cache = _family(type(model))
        if sdk is not None and sdk.makes_spans():
            return None  # the provider SDK's span is this call's one priced span
        label = _text(getattr(model, "provider", None))
        attributes: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: _CHAT}
        if label is not None:
            attributes[semconv.GEN_AI_PROVIDER_NAME] = providers.from_agno(label)
        model_id = _text(getattr(model, "id", None))
        if model_id is not None:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = model_id
        return _ModelScope(_telemetry.start(_CHAT, model_id, attributes), input_excludes_cache)
    return None


# --- wiring ------------------------------------------------------------------------------


def _shaped_wrapper(original: Any, open_for):
    """A wrapt wrapper for ``original`` (function, generator, coroutine or async generator function).

    ``open_for(instance, args, kwargs)`` opens the scope; the shape decides how the body is driven.
    """
    if inspect.isasyncgenfunction(original):
        drive = execution.async_generator
    elif inspect.isgeneratorfunction(original):
        drive = execution.generator
    elif inspect.iscoroutinefunction(original):
        drive = execution.coroutine
    else:

        def plain(wrapped, instance, args, kwargs):
            return execution.call(lambda: open_for(instance, args, kwargs), wrapped, args, kwargs)

        return plain

    def shaped(wrapped, instance, args, kwargs):
        return drive(lambda: open_for(instance, args, kwargs), wrapped(*args, **kwargs))

    return shaped


def _wrap_runs(module: Any) -> None:
    for name in _RUN_FUNCTIONS.get(module.__name__, ()):
        original = getattr(module, name, None)
        if original is not None:
            genai.wrap_once(module, name, _shaped_wrapper(original, lambda _i, args, kwargs: _open_run(args, kwargs)))


def _wrap_tools(module: Any) -> None:
    owner = getattr(module, _TOOLS[1], None)
    if owner is not None:
        genai.wrap_once(owner, "execute", _execute)
        genai.wrap_once(owner, "aexecute", _aexecute)


def _wrap_models(module: Any) -> None:
    owner = getattr(module, _MODELS[1], None)
    for name in _MODELS[2] if owner is not None else ():
        original = owner.__dict__.get(name)
        if original is not None:
            genai.wrap_once(owner, name, _shaped_wrapper(original, lambda instance, _a, _k: _open_model(instance)))


_skip_openinference: contextvars.ContextVar[bool] = contextvars.ContextVar("spanmeter.agno.setup", default=False)


def _setup_tracing(wrapped, instance, args, kwargs):
    """Agno's ``setup_tracing`` without its OpenInference instrumentation while spanmeter traces Agno."""
    if not _telemetry.active:
        return wrapped(*args, **kwargs)
    token = _skip_openinference.set(True)
    try:
        return wrapped(*args, **kwargs)
    finally:
        _skip_openinference.reset(token)


def _openinference_instrument(wrapped, instance, args, kwargs):
    if _skip_openinference.get():
        return None
    return wrapped(*args, **kwargs)


def _wrap_setup_tracing(module: Any) -> None:
    if hasattr(module, _SETUP_TRACING[1]):
        genai.wrap_once(module, _SETUP_TRACING[1], _setup_tracing)
    peer = getattr(module, "AgnoInstrumentor", None)
    if peer is not None:
        genai.wrap_once(peer, "instrument", _openinference_instrument)


_PATCHES = (
    *((module, _wrap_runs) for module in _RUN_FUNCTIONS),
    (_TOOLS[0], _wrap_tools),
    (_MODELS[0], _wrap_models),
    (_SETUP_TRACING[0], _wrap_setup_tracing),
)


_HOOKS = hooks_while_active(_telemetry, _PATCHES)


def _unwrap_all() -> None:
    targets = [(module, names) for module, names in _RUN_FUNCTIONS.items()]
    targets += [(f"{_TOOLS[0]}:{_TOOLS[1]}", _TOOLS[2]), (f"{_MODELS[0]}:{_MODELS[1]}", _MODELS[2]),
                (_SETUP_TRACING[0], (_SETUP_TRACING[1],))]  # fmt: skip
    for where, names in targets:
        module_name, _, class_name = where.partition(":")
        module = sys.modules.get(module_name)
        owner = getattr(module, class_name, None) if class_name else module
        for name in names if owner is not None else ():
            genai.unwrap_own(owner, name)


class AgnoInstrumentor(BaseInstrumentor):
    """spanmeter's instrumentation of Agno (see the module docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("agno >= 3.1",)

    def _instrument(self, **kwargs: Any) -> None:
        _telemetry.configure(tracer_provider=kwargs.get("tracer_provider"), settings=kwargs.get("settings"))
        for module, hook in _HOOKS:
            patch_on_import(module, hook)

    def _uninstrument(self, **kwargs: Any) -> None:
        _telemetry.active = False  # wrappers left under a peer's, and pending hooks, do nothing
        _unwrap_all()
