"""The manual API: spans for agents, tools, workflows and pipeline stages users write themselves.

``agent``, ``tool``, ``workflow`` and ``stage`` each return an :class:`Operation`, which
is both a decorator (sync and async functions, generators, async generators) and a
context manager (``with`` and ``async with``). One span lifecycle (:class:`_Scope`)
serves every shape, so all of them name spans, nest, and record errors the same way; the
decorators drive each shape with the framework instrumentations' drivers
(:mod:`spanmeter.instrumentation.execution`).

Names follow the GenAI semantic conventions: ``invoke_agent {name}``,
``execute_tool {name}``, ``invoke_workflow {name}`` with ``gen_ai.operation.name``.
No convention describes a data-processing step, so stages are ``run_stage {name}``
spans with spanmeter's own ``spanmeter.operation.name = run_stage`` (not
``gen_ai.operation.name``, whose values are reserved for GenAI operations) and
``spanmeter.data.source``. ``record_data`` / ``record_quality`` / ``record_freshness``
write onto the innermost stage in the current context, even when an LLM or tool span
started inside the stage is the current span.

The app comes first: a function's result and exceptions pass through unchanged
(the same exception object is re-raised), and any fault in spanmeter's own
bookkeeping is swallowed and counted by the fault :class:`~spanmeter.internal_errors.guard`.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode

from spanmeter import rules, semconv
from spanmeter.instrumentation import execution
from spanmeter.internal_errors import guard
from spanmeter.version import __version__

F = TypeVar("F", bound=Callable[..., Any])

_COMPONENT = "instrumentation.manual"
_STAGE_KEY = otel_context.create_key("spanmeter.stage")
_DIMENSION = re.compile(r"[a-z][a-z0-9_]*\Z")
_totals_lock = threading.Lock()
_tracer: trace.Tracer | None = None
_guard = guard(_COMPONENT)
_record_data_guard = guard(f"{_COMPONENT}.record_data")
_record_quality_guard = guard(f"{_COMPONENT}.record_quality")
_record_freshness_guard = guard(f"{_COMPONENT}.record_freshness")


def _get_tracer() -> trace.Tracer:
    """spanmeter's tracer from the global provider, looked up once.

    Before a provider is configured this is the API's proxy tracer, which forwards
    to whatever provider is set later, so caching it is safe.
    """
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer(semconv.INSTRUMENTATION_SCOPE, __version__)
    return _tracer


class _StageTotals:
    """Running data totals of one stage span, so repeated ``record_data`` calls add up."""

    __slots__ = ("bytes", "records", "span")

    def __init__(self, span: Span):
        self.span = span
        self.bytes = 0
        self.records = 0


def _mark_failed(span: Span, exc: BaseException) -> None:
    error_type = rules.exception_error_type(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    span.set_attribute(semconv.ERROR_TYPE, error_type)
    span.record_exception(exc, escaped=True)


class _Scope:
    """One run of an operation (an :class:`execution.Scope`): its span starts when the scope is
    made, which for a generator or coroutine is when it is first driven, not when it is
    created; ``finish`` ends it, as failed when an exception escaped the body (a
    generator's close is not a failure)."""

    __slots__ = ("context", "span")

    def __init__(self, operation: Operation):
        self.span: Span | None = None
        self.context: otel_context.Context | None = None
        with _guard:  # the user's function runs without a span
            parent = otel_context.get_current()
            span = _get_tracer().start_span(
                operation.span_name, parent, kind=SpanKind.INTERNAL, attributes=operation.attributes
            )
            context = trace.set_span_in_context(span, parent)
            if operation.is_stage:
                context = otel_context.set_value(_STAGE_KEY, _StageTotals(span), context)
            self.span, self.context = span, context

    def observe(self, item: Any) -> None:
        """What a traced generator yields is the app's, not the span's."""

    def finish(self, exc: BaseException | None, result: Any = None) -> None:
        span = self.span
        if span is None:
            return
        if exc is not None and not isinstance(exc, GeneratorExit):
            with _guard:
                _mark_failed(span, exc)
        with _guard:
            span.end()


class Operation:
    """A named unit of work to trace: use as ``@decorator`` or ``with ... as span``.

    The span name and attributes are fixed when the operation is made, so each call
    of a decorated function only starts a span and attaches a context.
    """

    __slots__ = ("_open", "attributes", "is_stage", "span_name")

    def __init__(
        self,
        span_name: str,
        fixed: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
        *,
        is_stage: bool = False,
    ):
        self.span_name = span_name
        self.attributes = {**(extra or {}), **fixed}  # the kind's own attributes win
        self.is_stage = is_stage
        # Runs entered through `with`, per thread / asyncio task (a context variable),
        # so one object kept at module level may be entered concurrently and nested.
        self._open: ContextVar[tuple[list[Any], ...]] = ContextVar("spanmeter.open", default=())

    def _start(self) -> _Scope | None:
        """A run's scope, or None when its span could not start (the body then runs untraced)."""
        scope = _Scope(self)
        return scope if scope.span is not None else None

    def __enter__(self) -> Span:
        scope = _Scope(self)
        run: list[Any] = [scope, execution.attach(scope.context), None]
        run[2] = self._open.set(self._open.get() + (run,))
        return scope.span or INVALID_SPAN

    def __exit__(self, exc_type, exc, tb) -> None:
        with _guard:  # a fault here: exited in another context than entered
            scope, context_token, token = self._open.get()[-1]
            self._open.reset(token)  # not set(): leaves no entry behind in long-lived contexts
            execution.detach(context_token)
            scope.finish(exc)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """``func`` traced, keeping its shape (``inspect`` tells the same) and its name."""
        return functools.wraps(func)(execution.traced(self._start, func))  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"<spanmeter operation {self.span_name!r}>"


def agent(name: str, *, attributes: Mapping[str, Any] | None = None) -> Operation:
    """Trace an agent run: span ``invoke_agent {name}`` with ``gen_ai.agent.name``."""
    operation = semconv.Operation.INVOKE_AGENT.value
    fixed = {semconv.GEN_AI_OPERATION_NAME: operation, semconv.GEN_AI_AGENT_NAME: str(name)}
    return Operation(f"{operation} {name}", fixed, attributes)


def tool(name: str, *, attributes: Mapping[str, Any] | None = None) -> Operation:
    """Trace a tool call: span ``execute_tool {name}`` with ``gen_ai.tool.name``."""
    operation = semconv.Operation.EXECUTE_TOOL.value
    fixed = {semconv.GEN_AI_OPERATION_NAME: operation, semconv.GEN_AI_TOOL_NAME: str(name)}
    return Operation(f"{operation} {name}", fixed, attributes)


def workflow(name: str, *, attributes: Mapping[str, Any] | None = None) -> Operation:
    """Trace a workflow (several agents, tools or stages): span ``invoke_workflow {name}``."""
    operation = semconv.Operation.INVOKE_WORKFLOW.value
    return Operation(f"{operation} {name}", {semconv.GEN_AI_OPERATION_NAME: operation}, attributes)


def stage(name: str, *, source: str | None = None, attributes: Mapping[str, Any] | None = None) -> Operation:
    """Trace a pipeline stage: span ``run_stage {name}``, ``spanmeter.data.source = source``.

    ``spanmeter.operation.name = run_stage`` marks it (GenAI has no operation for a
    data step); ``record_data`` and friends inside it write onto this span.
    """
    fixed = {semconv.SPANMETER_OPERATION_NAME: semconv.OPERATION_RUN_STAGE}
    if source is not None:
        fixed[semconv.DATA_SOURCE] = str(source)
    return Operation(f"{semconv.OPERATION_RUN_STAGE} {name}", fixed, attributes, is_stage=True)


# --- data volume, quality and freshness on the current stage -----------------


def _current_stage() -> _StageTotals | None:
    totals = otel_context.get_value(_STAGE_KEY)
    if totals is None or not totals.span.is_recording():
        return None
    return totals


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, got bool")
    count = operator.index(value)
    if count < 0:
        raise ValueError(f"{what} must be >= 0, got {count}")
    return count


def _real(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number, got bool")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {number}")
    return number


def record_data(*, bytes: int | None = None, records: int | None = None) -> None:  # `bytes`: the public keyword
    """Add processed volume to the current stage: ``spanmeter.data.bytes`` / ``.records``.

    Calls add up (a stage that reads in chunks reports each chunk). Outside a stage
    this does nothing; a bad value is counted as an internal error and ignored.
    """
    with _record_data_guard:  # never break the app over telemetry
        add_bytes = None if bytes is None else _count(bytes, "bytes")
        add_records = None if records is None else _count(records, "records")
        totals = _current_stage()
        if totals is None:
            return
        with _totals_lock:
            if add_bytes is not None:
                totals.bytes += add_bytes
                totals.span.set_attribute(semconv.DATA_BYTES, totals.bytes)
            if add_records is not None:
                totals.records += add_records
                totals.span.set_attribute(semconv.DATA_RECORDS, totals.records)


def record_quality(dimension: str, score: float) -> None:
    """Set ``spanmeter.data.quality.<dimension>`` (0..1) on the current stage.

    ``dimension`` is a lowercase name such as ``completeness`` or ``validity``. A bad
    name or a score outside 0..1 is counted as an internal error and ignored.
    """
    with _record_quality_guard:
        if not isinstance(dimension, str) or not _DIMENSION.match(dimension):
            raise ValueError(f"quality dimension must match [a-z][a-z0-9_]*, got {dimension!r}")
        value = _real(score, "quality score")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"quality score must be within 0..1, got {value}")
        totals = _current_stage()
        if totals is not None:
            totals.span.set_attribute(semconv.DATA_QUALITY_PREFIX + dimension, value)


def record_freshness(seconds: float | timedelta) -> None:
    """Set ``spanmeter.data.freshness_s``, the age of the newest input record, on the current stage."""
    with _record_freshness_guard:
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        value = _real(seconds, "freshness")
        if value < 0:
            raise ValueError(f"freshness must be >= 0 seconds, got {value}")
        totals = _current_stage()
        if totals is not None:
            totals.span.set_attribute(semconv.DATA_FRESHNESS_S, value)
