"""The manual API: agent/tool/workflow/stage spans in every call shape, errors, data records."""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

import spanmeter
from spanmeter import internal_errors, semconv
from spanmeter.instrumentation import manual


def _by_name(spans):
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [span.name for span in spans]
    return named


def _is_child(child, parent):
    return (
        child.parent is not None
        and child.parent.span_id == parent.context.span_id
        and child.context.trace_id == parent.context.trace_id
    )


_tracer = trace.get_tracer("test")


def _current_span_id():
    return trace.get_current_span().get_span_context().span_id


class Boom(Exception):
    """Nested so that error.type must be the qualified name."""

    class Inner(Exception):
        pass


def _assert_failed(span, exc):
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[semconv.ERROR_TYPE] == type(exc).__qualname__
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"].endswith(type(exc).__name__)
    assert event.attributes["exception.message"] == str(exc)


# --- names, attributes, nesting -----------------------------------------------


def test_sync_decorators_nest_with_genai_names_and_attributes(finished_spans):
    @spanmeter.tool("sql")
    def run_sql(query):
        return f"rows for {query}"

    @spanmeter.agent("analyst", attributes={"app.custom": 7})
    def analyst(question):
        return run_sql(question)

    @spanmeter.workflow("nightly-report")
    def nightly():
        return analyst("revenue")

    assert nightly() == "rows for revenue"

    spans = _by_name(finished_spans())
    wf = spans["invoke_workflow nightly-report"]
    ag, tl = spans["invoke_agent analyst"], spans["execute_tool sql"]
    assert wf.attributes[semconv.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert ag.attributes[semconv.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert ag.attributes[semconv.GEN_AI_AGENT_NAME] == "analyst"
    assert ag.attributes["app.custom"] == 7
    assert tl.attributes[semconv.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert tl.attributes[semconv.GEN_AI_TOOL_NAME] == "sql"
    assert all(s.kind is SpanKind.INTERNAL for s in (wf, ag, tl))
    assert all(s.status.status_code is StatusCode.UNSET for s in (wf, ag, tl))
    assert wf.parent is None
    assert _is_child(ag, wf) and _is_child(tl, ag)
    assert wf.instrumentation_scope.name == semconv.INSTRUMENTATION_SCOPE
    assert wf.instrumentation_scope.version == spanmeter.__version__


def test_kind_attributes_win_over_user_attributes(finished_spans):
    with spanmeter.tool("search", attributes={semconv.GEN_AI_TOOL_NAME: "spoofed"}):
        pass
    (span,) = finished_spans()
    assert span.attributes[semconv.GEN_AI_TOOL_NAME] == "search"


def test_decorated_functions_keep_their_shape_and_metadata():
    @spanmeter.agent("a")
    def plain():
        """Doc."""

    @spanmeter.agent("a")
    async def coro():
        pass

    @spanmeter.agent("a")
    def gen():
        yield 1

    @spanmeter.agent("a")
    async def agen():
        yield 1

    assert plain.__name__ == "plain" and plain.__doc__ == "Doc."
    assert inspect.iscoroutinefunction(coro)
    assert inspect.isgeneratorfunction(gen)
    assert inspect.isasyncgenfunction(agen)
    assert agen.__wrapped__.__name__ == "agen"


def test_methods_can_be_decorated(finished_spans):
    class Agent:
        factor = 3

        @spanmeter.agent("method")
        def run(self, x):
            return x * self.factor

    assert Agent().run(2) == 6
    assert [s.name for s in finished_spans()] == ["invoke_agent method"]


# --- stages and data records ----------------------------------------------------


def test_stage_context_manager_records_data_quality_and_freshness(finished_spans):
    with spanmeter.stage("load", source="orders") as span:
        assert span.is_recording()
        assert _current_span_id() == span.get_span_context().span_id
        spanmeter.record_data(bytes=1_000, records=10)
        spanmeter.record_data(bytes=500)
        spanmeter.record_data(records=5)
        spanmeter.record_quality("completeness", 0.998)
        spanmeter.record_quality("validity", 1)
        spanmeter.record_freshness(seconds=42.0)

    (stage,) = finished_spans()
    assert stage.name == "run_stage load"
    assert stage.kind is SpanKind.INTERNAL
    attrs = stage.attributes
    assert attrs[semconv.SPANMETER_OPERATION_NAME] == semconv.OPERATION_RUN_STAGE
    assert semconv.GEN_AI_OPERATION_NAME not in attrs
    assert attrs[semconv.DATA_SOURCE] == "orders"
    assert attrs[semconv.DATA_BYTES] == 1_500
    assert attrs[semconv.DATA_RECORDS] == 15
    assert attrs[semconv.DATA_QUALITY_PREFIX + "completeness"] == pytest.approx(0.998)
    assert attrs[semconv.DATA_QUALITY_PREFIX + "validity"] == 1.0
    assert attrs[semconv.DATA_FRESHNESS_S] == 42.0
    assert not internal_errors.counts


def test_record_functions_reach_the_innermost_stage_through_other_spans(finished_spans):
    tracer = trace.get_tracer("test")

    @spanmeter.stage("transform")
    def transform(chunks):
        for chunk in chunks:
            with tracer.start_as_current_span("chat gpt-x"), spanmeter.tool("parse"):
                spanmeter.record_data(bytes=len(chunk), records=1)
        with spanmeter.stage("inner"):
            spanmeter.record_data(bytes=1)
        spanmeter.record_freshness(timedelta(minutes=2))

    transform([b"abc", b"defg"])

    spans = {span.name: span for span in finished_spans()}  # both "parse" and "chat" spans look alike
    outer, inner = spans["run_stage transform"], spans["run_stage inner"]
    assert outer.attributes[semconv.DATA_BYTES] == 7
    assert outer.attributes[semconv.DATA_RECORDS] == 2
    assert outer.attributes[semconv.DATA_FRESHNESS_S] == 120.0
    assert semconv.DATA_SOURCE not in outer.attributes
    assert inner.attributes[semconv.DATA_BYTES] == 1
    assert semconv.DATA_RECORDS not in inner.attributes
    assert semconv.DATA_BYTES not in spans["execute_tool parse"].attributes
    assert semconv.DATA_BYTES not in spans["chat gpt-x"].attributes


def test_record_functions_outside_a_stage_do_nothing(finished_spans):
    spanmeter.record_data(bytes=10, records=1)
    spanmeter.record_quality("completeness", 0.5)
    spanmeter.record_freshness(1.0)
    with spanmeter.agent("not-a-stage"):
        spanmeter.record_data(bytes=10)
        spanmeter.record_quality("completeness", 0.5)

    (span,) = finished_spans()
    assert semconv.DATA_BYTES not in span.attributes
    assert not any(key.startswith(semconv.DATA_QUALITY_PREFIX) for key in span.attributes)
    assert not internal_errors.counts


@pytest.mark.parametrize(
    ("call", "component", "error_type"),
    [
        (lambda: spanmeter.record_data(bytes=-1), "record_data", "ValueError"),
        (lambda: spanmeter.record_data(records=True), "record_data", "TypeError"),
        (lambda: spanmeter.record_data(bytes=1.5), "record_data", "TypeError"),
        (lambda: spanmeter.record_quality("completeness", 1.01), "record_quality", "ValueError"),
        (lambda: spanmeter.record_quality("completeness", float("nan")), "record_quality", "ValueError"),
        (lambda: spanmeter.record_quality("Bad Name!", 0.5), "record_quality", "ValueError"),
        (lambda: spanmeter.record_quality("completeness", "high"), "record_quality", "ValueError"),
        (lambda: spanmeter.record_freshness(-3), "record_freshness", "ValueError"),
    ],
)
@pytest.mark.expect_internal_errors
def test_bad_values_are_counted_and_ignored_never_raised(finished_spans, call, component, error_type):
    with spanmeter.stage("validate"):
        spanmeter.record_data(bytes=10)
        call()  # must not raise
    (span,) = finished_spans()
    assert span.attributes[semconv.DATA_BYTES] == 10
    assert semconv.DATA_FRESHNESS_S not in span.attributes
    assert not any(key.startswith(semconv.DATA_QUALITY_PREFIX) for key in span.attributes)
    assert internal_errors.counts == {(f"instrumentation.manual.{component}", error_type): 1}


def test_record_data_after_the_stage_ended_is_a_no_op(finished_spans):
    with spanmeter.stage("leaky"):
        captured = otel_context.get_current()  # e.g. kept by a callback that runs late
    token = otel_context.attach(captured)
    try:
        spanmeter.record_data(bytes=5)
    finally:
        otel_context.detach(token)
    (stage,) = finished_spans()
    assert semconv.DATA_BYTES not in stage.attributes
    assert not internal_errors.counts


# --- async functions -----------------------------------------------------------


async def test_async_functions_nest_per_task(finished_spans):
    @spanmeter.tool("lookup")
    async def lookup(key):
        await asyncio.sleep(0)
        return key.upper()

    @spanmeter.agent("researcher")
    async def research(topic):
        await asyncio.sleep(0)
        return await lookup(topic)

    async with spanmeter.workflow("fan-out") as root:
        results = await asyncio.gather(
            spanmeter.agent("a")(research.__wrapped__)("x"),  # same body, another agent name
            research("y"),
        )
    assert results == ["X", "Y"]

    spans = finished_spans()
    root_span = next(s for s in spans if s.name == "invoke_workflow fan-out")
    assert root_span.context.span_id == root.get_span_context().span_id
    agents = [s for s in spans if s.name.startswith("invoke_agent")]
    tools = [s for s in spans if s.name == "execute_tool lookup"]
    assert sorted(s.name for s in agents) == ["invoke_agent a", "invoke_agent researcher"]
    assert len(tools) == 2
    assert all(_is_child(agent, root_span) for agent in agents)
    # Each tool hangs under the agent that ran it, although both ran interleaved.
    assert {tool.parent.span_id for tool in tools} == {agent.context.span_id for agent in agents}


# --- generators ----------------------------------------------------------------


def test_generator_span_is_current_only_while_its_body_runs(finished_spans):
    seen_inside = []

    @spanmeter.stage("extract", source="api")
    def extract(n):
        for i in range(n):
            seen_inside.append(_current_span_id())
            with spanmeter.tool("fetch"):
                pass
            spanmeter.record_data(records=1)
            yield i
        return "done"

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        caller_id = caller.get_span_context().span_id
        between = []
        items = []
        gen = extract(3)
        for item in gen:
            between.append(_current_span_id())
            items.append(item)

    assert items == [0, 1, 2]
    assert between == [caller_id] * 3
    spans = finished_spans()
    stage = next(s for s in spans if s.name == "run_stage extract")
    fetches = [s for s in spans if s.name == "execute_tool fetch"]
    assert seen_inside == [stage.context.span_id] * 3
    assert stage.parent.span_id == caller_id
    assert len(fetches) == 3 and all(_is_child(f, stage) for f in fetches)
    assert stage.attributes[semconv.DATA_RECORDS] == 3
    assert stage.status.status_code is StatusCode.UNSET


def test_generator_return_value_send_and_throw_are_forwarded(finished_spans):
    @spanmeter.agent("echo")
    def echo():
        received = []
        while True:
            try:
                value = yield len(received)
            except KeyError:
                value = "recovered"
            if value is None:
                return received
            received.append(value)

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.throw(KeyError("x")) == 2
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert stop.value.value == ["a", "recovered"]
    (span,) = finished_spans()
    assert span.status.status_code is StatusCode.UNSET


def test_generator_closed_early_ends_its_span_without_error(finished_spans):
    cleanup = []

    @spanmeter.stage("stream")
    def stream():
        try:
            yield 1
            yield 2
        finally:
            cleanup.append(_current_span_id())

    gen = stream()
    assert next(gen) == 1
    gen.close()

    (span,) = finished_spans()
    assert span.end_time is not None
    assert span.status.status_code is StatusCode.UNSET
    assert cleanup == [span.context.span_id]  # the body's cleanup ran with its span current


def test_generator_that_raises_fails_its_span_and_reraises_the_same_exception(finished_spans):
    boom = Boom("bad row")

    @spanmeter.stage("parse")
    def parse():
        yield 1
        raise boom

    gen = parse()
    assert next(gen) == 1
    with pytest.raises(Boom) as raised:
        next(gen)
    assert raised.value is boom
    (span,) = finished_spans()
    _assert_failed(span, boom)


def test_generator_that_is_never_started_makes_no_span(finished_spans):
    @spanmeter.stage("idle")
    def idle():
        yield 1

    idle().close()
    assert finished_spans() == []


async def test_async_generator_span_is_current_only_while_its_body_runs(finished_spans):
    seen_inside = []

    @spanmeter.stage("pages")
    async def pages(n):
        for i in range(n):
            await asyncio.sleep(0)
            seen_inside.append(_current_span_id())
            spanmeter.record_data(bytes=100)
            yield i

    with spanmeter.agent("reader") as reader:
        between = []
        items = []
        async for item in pages(3):
            between.append(_current_span_id())
            items.append(item)

    assert items == [0, 1, 2]
    assert between == [reader.get_span_context().span_id] * 3
    spans = _by_name(finished_spans())
    stage = spans["run_stage pages"]
    assert seen_inside == [stage.context.span_id] * 3
    assert _is_child(stage, spans["invoke_agent reader"])
    assert stage.attributes[semconv.DATA_BYTES] == 300


async def test_async_generator_asend_athrow_aclose_and_error(finished_spans):
    closed = []

    @spanmeter.tool("chat-stream")
    async def chat():
        try:
            value = yield "ready"
            while True:
                try:
                    value = yield f"got {value}"
                except KeyError:
                    value = "recovered"
        finally:
            closed.append(_current_span_id())

    stream = chat()
    assert await stream.asend(None) == "ready"
    assert await stream.asend("hi") == "got hi"
    assert await stream.athrow(KeyError("k")) == "got recovered"
    await stream.aclose()

    boom = Boom.Inner("stream broke")

    @spanmeter.tool("broken-stream")
    async def broken():
        yield 1
        raise boom

    gen = broken()
    assert await gen.__anext__() == 1
    with pytest.raises(Boom.Inner) as raised:
        await gen.__anext__()
    assert raised.value is boom

    spans = _by_name(finished_spans())
    ok = spans["execute_tool chat-stream"]
    assert ok.status.status_code is StatusCode.UNSET
    assert closed == [ok.context.span_id]
    _assert_failed(spans["execute_tool broken-stream"], boom)
    assert spans["execute_tool broken-stream"].attributes[semconv.ERROR_TYPE] == "Boom.Inner"


# --- exceptions ----------------------------------------------------------------


def test_sync_function_exception_is_recorded_and_reraised_unchanged(finished_spans):
    boom = Boom.Inner("no such table")

    @spanmeter.tool("sql")
    def run_sql():
        raise boom

    with pytest.raises(Boom.Inner) as raised:
        run_sql()
    assert raised.value is boom
    (span,) = finished_spans()
    _assert_failed(span, boom)
    assert span.attributes[semconv.ERROR_TYPE] == "Boom.Inner"


def test_an_api_error_raised_in_a_tool_gets_the_http_status_as_error_type(finished_spans):
    """The same error.type rule as the LLM instrumentors (rules.exception_error_type)."""

    class RateLimited(Exception):
        status_code = 429

    @spanmeter.tool("search")
    def search():
        raise RateLimited("slow down")

    with pytest.raises(RateLimited):
        search()
    (span,) = finished_spans()
    assert span.attributes[semconv.ERROR_TYPE] == "429"


async def test_async_function_exception_is_recorded_and_reraised_unchanged(finished_spans):
    boom = Boom("timeout")

    @spanmeter.agent("flaky")
    async def flaky():
        await asyncio.sleep(0)
        raise boom

    with pytest.raises(Boom) as raised:
        await flaky()
    assert raised.value is boom
    (span,) = finished_spans()
    _assert_failed(span, boom)


def test_context_manager_exception_is_recorded_and_reraised_unchanged(finished_spans):
    boom = ValueError("bad input")
    with pytest.raises(ValueError) as raised, spanmeter.workflow("wf"), spanmeter.stage("load"):
        raise boom
    assert raised.value is boom
    spans = _by_name(finished_spans())
    _assert_failed(spans["run_stage load"], boom)
    _assert_failed(spans["invoke_workflow wf"], boom)


async def test_cancellation_ends_the_span_as_failed(finished_spans):
    started = asyncio.Event()

    @spanmeter.agent("slow")
    async def slow():
        started.set()
        await asyncio.sleep(10)

    task = asyncio.ensure_future(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (span,) = finished_spans()
    assert span.attributes[semconv.ERROR_TYPE] == "CancelledError"


# --- reuse and robustness ------------------------------------------------------


def test_one_operation_object_can_be_entered_nested(finished_spans):
    step = spanmeter.tool("step")
    with step as outer, step as inner:
        assert inner is not outer
    spans = finished_spans()
    assert len(spans) == 2
    inner_span, outer_span = spans  # inner ends first
    assert _is_child(inner_span, outer_span)


async def test_one_module_level_operation_used_by_interleaved_tasks(finished_spans):
    step = spanmeter.tool("shared")
    a_entered, b_entered, a_exited = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def a():
        with _tracer.start_as_current_span("a"), step as span:
            span.set_attribute("owner", "a")
            a_entered.set()
            await b_entered.wait()
        a_exited.set()

    async def b():
        await a_entered.wait()
        with _tracer.start_as_current_span("b"), step as span:
            span.set_attribute("owner", "b")
            b_entered.set()
            await a_exited.wait()  # entered after a, exits after a: not last-in-first-out

    await asyncio.wait_for(asyncio.gather(a(), b()), timeout=5)

    spans = finished_spans()
    parents = {s.name: s for s in spans if s.name in ("a", "b")}
    shared = {s.attributes["owner"]: s for s in spans if s.name == "execute_tool shared"}
    assert _is_child(shared["a"], parents["a"]) and _is_child(shared["b"], parents["b"])
    assert shared["a"].end_time < shared["b"].end_time
    assert parents["a"].end_time >= shared["a"].end_time
    assert not internal_errors.counts


@pytest.mark.expect_internal_errors
def test_a_broken_tracer_never_breaks_the_app(monkeypatch, finished_spans):
    class BrokenTracer:
        def start_span(self, *args, **kwargs):
            raise RuntimeError("tracer exploded")

    monkeypatch.setattr(manual, "_tracer", BrokenTracer())

    @spanmeter.agent("resilient")
    def work(x):
        spanmeter.record_data(bytes=1)
        return x + 1

    @spanmeter.stage("resilient-gen")
    def gen():
        yield 1

    assert work(1) == 2
    assert list(gen()) == [1]
    with spanmeter.stage("resilient-cm") as span:
        span.set_attribute("still", "works")  # a non-recording span, not None
    assert finished_spans() == []
    assert internal_errors.counts[("instrumentation.manual", "RuntimeError")] == 3
