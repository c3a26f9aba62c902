"""The callback handler: LangChain runs -> spans, parented through run ids, never through attach.

Each run that means something gets a span whose parent is the span of its nearest
spanned ancestor run (``parent_run_id`` looked up in :class:`OpenRuns`), or the current
span for a root run. Runs that mean nothing on their own (hidden runs, LangGraph nodes,
prompt templates, parsers, anonymous lambdas) get no span but an entry that passes
their ancestor's context on to their children. Callbacks never attach a context: the
execution boundaries in ``__init__`` do, in scopes they open and close themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from spanmeter import rules, semconv
from spanmeter.instrumentation import genai
from spanmeter.instrumentation.langchain import payloads
from spanmeter.internal_errors import guard, record_internal_error

COMPONENT = "instrumentation.langchain"
MAX_OPEN_RUNS = 10_000
"""Open runs tracked at once; runs beyond it get no span (counted) rather than unbounded memory."""

_GUARD = guard(COMPONENT)
_Op = semconv.Operation
_AGENT, _WORKFLOW = _Op.INVOKE_AGENT.value, _Op.INVOKE_WORKFLOW.value
_HIDDEN_TAG = "langsmith:hidden"
_GRAPH_STEP_TAG = "graph:step:"
_GENERIC_PREFIXES = ("Runnable", "ChannelWrite", "ChannelRead", "__")
_GENERIC_SUFFIXES = ("PromptTemplate", "OutputParser", "Parser")
_CONTROL_FLOW = "GraphBubbleUp"  # LangGraph's GraphInterrupt, ParentCommand, ... derive from it


class Run:
    """One open run: its span (None when it gets none) and the context its children start in."""

    __slots__ = ("call", "context", "name", "operation", "span")

    def __init__(self, span: Span | None, context: otel_context.Context, operation: str | None = None,
                 name: str | None = None, call: genai.FrameworkLLMCall | None = None) -> None:  # fmt: skip
        self.span = span
        self.context = context
        self.operation = operation
        self.name = name
        self.call = call


class OpenRuns:
    """Open runs by run id: bounded, locked, and emptied as runs end, fail or are cancelled."""

    def __init__(self, limit: int = MAX_OPEN_RUNS) -> None:
        self.limit = limit
        self.dropped = 0
        self._runs: dict[UUID, Run] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._runs)

    def get(self, run_id: Any) -> Run | None:
        return self._runs.get(run_id) if run_id is not None else None

    def add(self, run_id: UUID, run: Run) -> bool:
        with self._lock:
            if len(self._runs) >= self.limit:
                self.dropped += 1
                return False
            self._runs[run_id] = run
            return True

    def pop(self, run_id: UUID) -> Run | None:
        with self._lock:
            return self._runs.pop(run_id, None)

    def context_for(self, run_id: Any) -> otel_context.Context | None:
        """The context a run's work executes in (its span current); None for an unknown run."""
        run = self._runs.get(run_id) if run_id is not None else None
        return run.context if run is not None else None


def is_control_flow(error: BaseException) -> bool:
    """LangGraph's interrupts and commands, and a generator closed by its consumer, are no failures."""
    if isinstance(error, GeneratorExit):
        return True
    return any(cls.__name__ == _CONTROL_FLOW for cls in type(error).__mro__)


def _generic(name: str | None) -> bool:
    """A name LangChain gives a building block by default (not one a user chose)."""
    return not name or "<" in name or name.startswith(_GENERIC_PREFIXES) or name.endswith(_GENERIC_SUFFIXES)


def _chain_operation(name: str | None, parent: Run | None, tags: Any, metadata: Mapping[str, Any],
                     kwargs: Mapping[str, Any]) -> str | None:  # fmt: skip
    """``invoke_agent``, ``invoke_workflow`` or None (no span) for a chain run.

    Nested runs get a span only as composites with a name of their own: functions
    (LangChain passes ``run_type`` for runs of a single function: lambdas, prompts,
    parsers), runs inside a graph (nodes, edges) and default names get none.
    """
    if isinstance(tags, list) and _HIDDEN_TAG in tags:
        return None
    if name and name == metadata.get("lc_agent_name"):
        return _AGENT
    if parent is None:
        return _WORKFLOW
    if "run_type" in kwargs or "langgraph_node" in metadata or _generic(name):
        return None
    return _WORKFLOW


def _graph_step(tags: Any) -> bool:
    return isinstance(tags, list) and any(isinstance(tag, str) and tag.startswith(_GRAPH_STEP_TAG) for tag in tags)


def _conversation(attributes: dict[str, Any], metadata: Mapping[str, Any]) -> None:
    thread_id = metadata.get("thread_id")
    if isinstance(thread_id, (str, int, UUID)) and not isinstance(thread_id, bool) and thread_id != "":
        attributes[semconv.GEN_AI_CONVERSATION_ID] = str(thread_id)


def _name(serialized: Any, kwargs: Mapping[str, Any]) -> str | None:
    name = payloads.text(kwargs.get("name"))
    if name:
        return name
    serialized = payloads.mapping(serialized)
    ids = serialized.get("id")
    return payloads.text(serialized.get("name")) or (payloads.text(ids[-1]) if isinstance(ids, list) and ids else None)


class SpanmeterCallbackHandler(BaseCallbackHandler):
    """Registered on every callback manager (inheritable), so no app passes it; see the package doc."""

    run_inline = True  # called in the run's own thread/task, in order, never from an executor
    raise_error = False

    def __init__(self, telemetry: genai.GenAITelemetry, runs: OpenRuns) -> None:
        super().__init__()
        self.telemetry = telemetry
        self.runs = runs

    # --- starting and ending ----------------------------------------------------

    def _parent(self, parent_run_id: Any) -> tuple[Run | None, otel_context.Context]:
        parent = self.runs.get(parent_run_id)
        return parent, (parent.context if parent is not None else otel_context.get_current())

    def _open(self, run_id: UUID, parent_context: otel_context.Context, name: str, kind: SpanKind,
              attributes: dict[str, Any], operation: str, run_name: str | None = None) -> Run | None:  # fmt: skip
        if not self.telemetry.active:
            return None
        if len(self.runs) >= self.runs.limit:  # checked first, so no span is started only to be dropped
            self.runs.dropped += 1
            record_internal_error(COMPONENT, OverflowError(f"more than {self.runs.limit} open LangChain runs"))
            return None
        span = self.telemetry.tracer.start_span(name, parent_context, kind=kind, attributes=attributes)
        call = genai.FrameworkLLMCall(span) if kind is SpanKind.CLIENT else None
        context = call.into(parent_context) if call else trace.set_span_in_context(span, parent_context)
        run = Run(span, context, operation, run_name, call)
        if not self.runs.add(run_id, run):  # filled up meanwhile by another thread
            span.end()
            return None
        return run

    def _pass_through(self, run_id: UUID, parent_context: otel_context.Context) -> None:
        """A run without a span: its children start in its ancestor's context."""
        if self.telemetry.active:
            self.runs.add(run_id, Run(None, parent_context))

    def _close(self, run_id: UUID, attributes: Mapping[str, Any] | None = None,
               error: BaseException | None = None) -> Run | None:  # fmt: skip
        run = self.runs.pop(run_id)
        span = run.span if run is not None else None
        if span is None:
            return run
        with _GUARD:
            if attributes:
                span.set_attributes(attributes)
            if error is not None and not is_control_flow(error):
                span.set_attribute(semconv.ERROR_TYPE, rules.exception_error_type(error))
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
                span.record_exception(error)
        with _GUARD:
            span.end()
        return run

    def _promote_to_agent(self, run: Run | None) -> None:
        """A chain whose children are LangGraph steps is a graph: ``invoke_agent {name}``."""
        if run is None or run.span is None or run.operation != _WORKFLOW:
            return
        run.operation = _AGENT
        run.span.update_name(f"{_AGENT} {run.name}" if run.name else _AGENT)
        run.span.set_attribute(semconv.GEN_AI_OPERATION_NAME, _AGENT)
        if run.name:
            run.span.set_attribute(semconv.GEN_AI_AGENT_NAME, run.name)

    # --- chains, graphs, agents ---------------------------------------------------

    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, tags=None, metadata=None, **kwargs):
        with _GUARD:
            metadata = payloads.mapping(metadata)
            parent, parent_context = self._parent(parent_run_id)
            if _graph_step(tags):
                self._promote_to_agent(parent)
            name = _name(serialized, kwargs)
            operation = _chain_operation(name, parent, tags, metadata, kwargs)
            if operation is None:
                self._pass_through(run_id, parent_context)
                return
            attributes: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: operation}
            if operation == _AGENT and name:
                attributes[semconv.GEN_AI_AGENT_NAME] = name
            _conversation(attributes, metadata)
            span_name = f"{operation} {name}" if name else operation
            self._open(run_id, parent_context, span_name, SpanKind.INTERNAL, attributes, operation, name)

    def on_chain_end(self, outputs, *, run_id, **kwargs):
        with _GUARD:
            self._close(run_id)

    def on_chain_error(self, error, *, run_id, **kwargs):
        with _GUARD:
            self._close(run_id, error=error)

    # --- models -----------------------------------------------------------------

    def _start_model(self, operation: str, run_id, parent_run_id, metadata, kwargs, content: Any) -> None:
        metadata = payloads.mapping(metadata)
        _, parent_context = self._parent(parent_run_id)
        model, attributes = payloads.request_attributes(payloads.mapping(kwargs.get("invocation_params")), metadata)
        attributes[semconv.GEN_AI_OPERATION_NAME] = operation
        _conversation(attributes, metadata)
        if content is not None:
            self.telemetry.capture_into(attributes, semconv.GEN_AI_INPUT_MESSAGES, lambda: content)
        self._open(run_id, parent_context, f"{operation} {model}" if model else operation, SpanKind.CLIENT,
                   attributes, operation)  # fmt: skip

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, tags=None, metadata=None,
                            **kwargs):  # fmt: skip
        with _GUARD:
            content = payloads.input_messages(messages) if self.telemetry.capture_content else None
            self._start_model(_Op.CHAT.value, run_id, parent_run_id, metadata, kwargs, content)

    def on_llm_start(self, serialized, prompts, *, run_id, parent_run_id=None, tags=None, metadata=None, **kwargs):
        with _GUARD:
            self._start_model(_Op.TEXT_COMPLETION.value, run_id, parent_run_id, metadata, kwargs,
                              prompts if self.telemetry.capture_content else None)  # fmt: skip

    def on_llm_end(self, response, *, run_id, **kwargs):
        with _GUARD:
            run = self.runs.get(run_id)
            attributes: dict[str, Any] = {}
            if run is not None and run.span is not None:
                generation = None
                # Usage goes on one span per LLM call: a provider-SDK span beneath reports it.
                priced_below = run.call is not None and run.call.claimed
                with _GUARD:  # a fault costs the response attributes, never the span's end
                    generation = payloads.first_generation(response)
                    attributes = payloads.response_attributes(generation, with_usage=not priced_below)
                self.telemetry.capture_into(attributes, semconv.GEN_AI_OUTPUT_MESSAGES, payloads.output_messages,
                                            generation)  # fmt: skip
            self._close(run_id, attributes)

    def on_llm_error(self, error, *, run_id, **kwargs):
        with _GUARD:
            self._close(run_id, error=error)

    # --- tools and retrievers ------------------------------------------------------

    def on_tool_start(self, serialized, input_str, *, run_id, parent_run_id=None, tags=None, metadata=None,
                      **kwargs):  # fmt: skip
        with _GUARD:
            _, parent_context = self._parent(parent_run_id)
            serialized = payloads.mapping(serialized)
            name = payloads.text(serialized.get("name")) or payloads.text(kwargs.get("name"))
            attributes: dict[str, Any] = {
                semconv.GEN_AI_OPERATION_NAME: _Op.EXECUTE_TOOL.value,
                semconv.GEN_AI_TOOL_TYPE: "function",
            }
            if name:
                attributes[semconv.GEN_AI_TOOL_NAME] = name
            description = payloads.text(serialized.get("description"))
            if description:
                attributes[semconv.GEN_AI_TOOL_DESCRIPTION] = description
            call_id = payloads.text(kwargs.get("tool_call_id"))
            if call_id:
                attributes[semconv.GEN_AI_TOOL_CALL_ID] = call_id
            _conversation(attributes, payloads.mapping(metadata))
            self.telemetry.capture_into(attributes, semconv.GEN_AI_TOOL_CALL_ARGUMENTS, lambda: input_str)
            span_name = f"{_Op.EXECUTE_TOOL.value} {name}" if name else _Op.EXECUTE_TOOL.value
            self._open(run_id, parent_context, span_name, SpanKind.INTERNAL, attributes, _Op.EXECUTE_TOOL.value)

    def on_tool_end(self, output, *, run_id, **kwargs):
        with _GUARD:
            attributes: dict[str, Any] = {}
            self.telemetry.capture_into(attributes, semconv.GEN_AI_TOOL_CALL_RESULT, payloads.tool_result, output)
            self._close(run_id, attributes)

    def on_tool_error(self, error, *, run_id, **kwargs):
        with _GUARD:
            self._close(run_id, error=error)

    def on_retriever_start(self, serialized, query, *, run_id, parent_run_id=None, tags=None, metadata=None,
                           **kwargs):  # fmt: skip
        with _GUARD:
            _, parent_context = self._parent(parent_run_id)
            operation = _Op.RETRIEVAL.value
            attributes: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: operation}
            _conversation(attributes, payloads.mapping(metadata))
            self.telemetry.capture_into(attributes, semconv.GEN_AI_RETRIEVAL_QUERY_TEXT, lambda: query)
            self._open(run_id, parent_context, operation, SpanKind.INTERNAL, attributes, operation)

    def on_retriever_end(self, documents, *, run_id, **kwargs):
        with _GUARD:
            self._close(run_id)

    def on_retriever_error(self, error, *, run_id, **kwargs):
        with _GUARD:
            self._close(run_id, error=error)

    # --- LangGraph lifecycle (delivered to every handler of a graph's callback manager) ---

    def on_interrupt(self, event) -> None:
        with _GUARD:
            run = self.runs.get(getattr(event, "run_id", None))
            if run is not None and run.span is not None:
                run.span.add_event("langgraph.interrupt")

    def on_resume(self, event) -> None:
        with _GUARD:
            run = self.runs.get(getattr(event, "run_id", None))
            if run is not None and run.span is not None:
                run.span.add_event("langgraph.resume")
