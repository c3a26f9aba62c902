"""Spans for LangChain and LangGraph: agents, graphs, named chains, model calls, tools and retrievers.

Usage (``opentelemetry-instrument`` does this through the ``spanmeter_langchain`` entry point)::

    from spanmeter.instrumentation.langchain import LangChainInstrumentor
    LangChainInstrumentor().instrument(tracer_provider=provider)  # provider optional

No app code passes a handler: spanmeter's callback handler is added, inheritable, to
every LangChain callback manager. Nothing is patched until the app imports
``langchain_core`` (post-import hooks), so an app without LangChain pays nothing.

What becomes a span:

* ``invoke_agent {name}``: an agent from ``langchain.agents.create_agent`` and any
  LangGraph graph (a chain whose children are graph steps), with ``gen_ai.agent.name``.
* ``invoke_workflow {name}``: the root run of a chain, and nested composites (sequences,
  parallels) given a name of their own (``with_config(run_name=...)``). Building blocks
  get no span (hidden runs, LangGraph nodes, edges and ``__start__``, functions wrapped
  as ``RunnableLambda``, prompt templates, output parsers, default ``Runnable*`` names):
  their children hang under the nearest span above them.
* ``chat {model}`` / ``text_completion {model}``: model runs, with provider (the served
  ``model_provider``, else ``ls_provider``, mapped to the semantic-convention names),
  request model and parameters, response model and id, finish reason, the tool calls
  the model asked for (``spanmeter.tool_calls.ids``) and token usage.
* ``execute_tool {tool}`` with ``gen_ai.tool.call.id``; ``retrieval`` for retrievers.
* Every span of a run with a ``thread_id`` in its metadata carries it as
  ``gen_ai.conversation.id``. LangGraph copies ``config["configurable"]["thread_id"]``
  there; LangChain 1.x shows a plain chain's ``configurable`` to LangSmith only, so
  such a chain takes ``config={"metadata": {"thread_id": ...}}``.

One price per LLM call: when the model calls a provider SDK spanmeter instruments
(``ChatOpenAI`` over ``openai``, ``ChatAnthropic`` over ``anthropic``), the SDK call
claims the model span (:class:`~spanmeter.instrumentation.genai.FrameworkLLMCall`). With
``SPANMETER_GENAI_SPAN_MODE=enrich`` (the default) the SDK's attributes go onto that one
span, so each call has exactly one ``chat`` span carrying usage and cost; with
``separate`` the SDK's span sits beneath it and carries the usage, the model span none.
Without such an SDK beneath, the model span carries LangChain's usage, normalized to the
conventions (cache read/creation and reasoning tokens). Agent and chain spans carry no
usage: the processor rolls cost up.

Context: spans are parented through run ids, never by attaching a context in a callback.
The context is made current only at execution boundaries, in scopes that open and close
in one thread or task: where LangChain/LangGraph set a child's config (in a copied
context that dies with the step: tools, chain steps, graph nodes, ``batch`` workers),
around a chat model's generation, and around each step of a chat model's stream. So
provider-SDK spans nest under the model span, and nothing is left attached.

LangGraph control flow (``GraphInterrupt`` from ``interrupt()``, ``Command``/
``ParentCommand``) and a stream closed by its consumer are not errors; interrupts and
resumes are span events on the graph's span. Prompts, completions, tool arguments and
results are captured only when ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
says so. Open runs are bounded (:data:`handler.MAX_OPEN_RUNS`) and removed when a run
ends, fails, is cancelled or closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from contextvars import ContextVar
from typing import Any, ClassVar

from opentelemetry import context as otel_context
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from spanmeter.instrumentation import genai
from spanmeter.internal_errors import guard
from spanmeter.on_import import patch_on_import

_COMPONENT = "instrumentation.langchain"
_GUARD = guard(_COMPONENT)
_telemetry = genai.GenAITelemetry(_COMPONENT)
"""Shared by every wrapper this module installs; ``active`` turns them off after ``uninstrument()``."""


class _State:
    """The handler and its open runs, made when ``langchain_core`` is first imported."""

    handler: ClassVar[Any] = None
    runs: ClassVar[Any] = None
    patched: ClassVar[list[tuple[Any, str]]] = []  # (owner, attribute) wrapped since the last uninstrument


def _ensure_handler() -> Any:
    if _State.handler is None:
        from spanmeter.instrumentation.langchain.handler import OpenRuns, SpanmeterCallbackHandler

        _State.runs = OpenRuns()
        _State.handler = SpanmeterCallbackHandler(_telemetry, _State.runs)
    return _State.handler


def open_runs() -> Any:
    """The open-run map (tests check that it empties)."""
    _ensure_handler()
    return _State.runs


@_GUARD.wrap(None)
def _context_for(run_id: Any) -> otel_context.Context | None:
    """The context of an open run (its span current), or None: untraced, never a fault in the app."""
    runs = _State.runs
    return runs.context_for(run_id) if runs is not None and _telemetry.active else None


# --- registering the handler ---------------------------------------------------


def _manager_init(wrapped, instance, args, kwargs):
    wrapped(*args, **kwargs)
    if _telemetry.active:
        with _GUARD:
            handler = _State.handler
            if handler not in instance.inheritable_handlers:
                instance.add_handler(handler, inherit=True)


# --- execution boundaries ---------------------------------------------------------


def _config_context(wrapped, instance, args, kwargs):
    """``_set_config_context(config)``: also make the span of the config's parent run current.

    LangChain and LangGraph call it only inside ``copied_context.run(...)`` for one step
    (a tool, a chain step, a graph node, a batch input), so what is attached here lives
    in that copy and goes with it: nothing to detach, nothing left behind.
    """
    result = wrapped(*args, **kwargs)
    with _GUARD:
        config = args[0] if args else kwargs.get("config")
        callbacks = config.get("callbacks") if isinstance(config, dict) else None
        context = _context_for(getattr(callbacks, "parent_run_id", None))
        if context is not None:
            otel_context.attach(context)
    return result


def _run_id(kwargs) -> Any:
    return getattr(kwargs.get("run_manager"), "run_id", None)


def _generate(wrapped, instance, args, kwargs):
    """A chat model's generation runs with its span current, so SDK spans nest under it."""
    context = _context_for(_run_id(kwargs))
    if context is None:
        return wrapped(*args, **kwargs)
    token = otel_context.attach(context)
    try:
        return wrapped(*args, **kwargs)
    finally:
        otel_context.detach(token)


async def _agenerate(wrapped, instance, args, kwargs):
    """:func:`_generate`, async; also ends the run when the generation is cancelled.

    LangChain gathers generations with ``return_exceptions``: cancelling the caller cancels
    that gather, and no ``on_llm_error`` ever comes for the model run. Ending it here is
    idempotent (a later callback finds no run).
    """
    run_id = _run_id(kwargs)
    context = _context_for(run_id)
    if context is None:
        return await wrapped(*args, **kwargs)
    token = otel_context.attach(context)
    try:
        return await wrapped(*args, **kwargs)
    except asyncio.CancelledError as exc:
        _State.handler.on_llm_error(exc, run_id=run_id)
        raise
    finally:
        otel_context.detach(token)


class _Step:
    """One step of a chat model's stream; the model run started in it makes its span current until the step ends."""

    __slots__ = ("run_id", "token")

    def __init__(self, run_id: Any) -> None:
        self.run_id = run_id
        self.token = None

    def enter(self, managers: Any) -> None:
        if self.run_id is not None or not isinstance(managers, list) or not managers:
            return
        self.run_id = getattr(managers[0], "run_id", None)
        context = _context_for(self.run_id)
        if context is not None:
            self.token = otel_context.attach(context)

    def leave(self) -> None:
        if self.token is not None:
            otel_context.detach(self.token)
            self.token = None


_STEP: ContextVar[_Step | None] = ContextVar("spanmeter.langchain.stream_step", default=None)


def _begin_step(run_id: Any) -> tuple[_Step, Any, Any]:
    step = _Step(run_id)
    reset = _STEP.set(step)
    context = _context_for(run_id)
    return step, reset, otel_context.attach(context) if context is not None else None


def _end_step(step: _Step, reset: Any, token: Any) -> Any:
    step.leave()
    if token is not None:
        otel_context.detach(token)
    _STEP.reset(reset)
    return step.run_id


def _stepped(stream):
    """Drive a chat model's stream one step at a time, each step in the model span's context."""
    run_id = None
    try:
        while True:
            step, reset, token = _begin_step(run_id)
            try:
                item = next(stream)
            except StopIteration:
                return
            finally:
                run_id = _end_step(step, reset, token)
            yield item
    finally:
        stream.close()


class _AsyncStepped:
    """:func:`_stepped` for async streams, as a plain async iterator rather than an async generator.

    LangChain drives model streams from helper tasks and leaves abandoned ones to the
    event loop's finalizer; a second async generator around the model's would be
    finalized on its own, racing the model's (``aclose(): asynchronous generator is
    already running``) and losing its end. This object has no finalizer: the model's
    generator ends as it would without spanmeter, and its run ends with it.
    """

    __slots__ = ("_run_id", "_stream")

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._run_id = None

    def __aiter__(self) -> _AsyncStepped:
        return self

    async def __anext__(self) -> Any:
        step, reset, token = _begin_step(self._run_id)
        try:
            return await self._stream.__anext__()
        finally:
            self._run_id = _end_step(step, reset, token)

    def aclose(self) -> Any:
        return self._stream.aclose()

    def athrow(self, *args: Any) -> Any:
        return self._stream.athrow(*args)

    def asend(self, value: Any) -> Any:
        return self._stream.asend(value)


def _stream(wrapped, instance, args, kwargs):
    stream = wrapped(*args, **kwargs)
    return _stepped(stream) if _telemetry.active else stream


def _astream(wrapped, instance, args, kwargs):
    stream = wrapped(*args, **kwargs)
    return _AsyncStepped(stream) if _telemetry.active else stream


def _model_start(wrapped, instance, args, kwargs):
    managers = wrapped(*args, **kwargs)
    step = _STEP.get()
    if step is not None:
        with _GUARD:
            step.enter(managers)
    return managers


async def _amodel_start(wrapped, instance, args, kwargs):
    managers = await wrapped(*args, **kwargs)
    step = _STEP.get()
    if step is not None:
        with _GUARD:
            step.enter(managers)
    return managers


_TARGETS = {
    # module: ((class or None for the module, attribute, wrapper), ...)
    "langchain_core.callbacks.manager": (
        ("BaseCallbackManager", "__init__", _manager_init),
        ("CallbackManager", "on_chat_model_start", _model_start),
        ("AsyncCallbackManager", "on_chat_model_start", _amodel_start),
    ),
    "langchain_core.runnables.config": ((None, "_set_config_context", _config_context),),
    "langchain_core.language_models.chat_models": (
        ("BaseChatModel", "_generate_with_cache", _generate),
        ("BaseChatModel", "_agenerate_with_cache", _agenerate),
        ("BaseChatModel", "stream", _stream),
        ("BaseChatModel", "astream", _astream),
    ),
    "langgraph._internal._runnable": ((None, "_set_config_context", _config_context),),
}


def _patch(module: Any) -> None:
    """Post-import hook: wrap ``module``'s targets (once) while the instrumentor is active."""
    if not _telemetry.active:
        return
    with _GUARD:
        _ensure_handler()
        for cls, attribute, wrapper in _TARGETS.get(module.__name__, ()):
            owner = getattr(module, cls) if cls else module
            genai.wrap_once(owner, attribute, wrapper)
            if (owner, attribute) not in _State.patched:
                _State.patched.append((owner, attribute))


class LangChainInstrumentor(BaseInstrumentor):
    """spanmeter's instrumentation of LangChain and LangGraph (see the package docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("langchain-core >= 1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        _telemetry.configure(tracer_provider=kwargs.get("tracer_provider"), settings=kwargs.get("settings"))
        for module in _TARGETS:
            patch_on_import(module, _patch)  # runs now if already imported

    def _uninstrument(self, **kwargs: Any) -> None:
        # Hooks cannot be unregistered and managers made meanwhile keep the handler: both
        # do nothing while inactive. Wrappers under a peer's stay too (see genai.wrap_once).
        _telemetry.active = False
        while _State.patched:
            owner, attribute = _State.patched.pop()
            genai.unwrap_own(owner, attribute)
