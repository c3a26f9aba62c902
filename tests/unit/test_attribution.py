"""attribution(): user.id / spanmeter.team on every span started inside, across tasks and threads."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

import spanmeter
from spanmeter import internal_errors, semconv
from spanmeter.attribution import apply_attribution, current_attribution
from spanmeter.instrumentation import context_propagation

_tracer = trace.get_tracer("test")


def _who(span):
    return span.attributes.get(semconv.USER_ID), span.attributes.get(semconv.TEAM)


def _by_name(spans):
    return {span.name: span for span in spans}


def _start(name):
    """A span from a plain tracer, not spanmeter's API: attribution must reach it too."""
    with _tracer.start_as_current_span(name):
        pass


def test_nested_blocks_inherit_and_override(finished_spans):
    _start("before")
    with spanmeter.attribution(user="u1", team="t1"):
        _start("outer")
        with spanmeter.attribution(user="u2"):
            _start("inner")
            assert current_attribution() == {semconv.USER_ID: "u2", semconv.TEAM: "t1"}
            with spanmeter.tool("search"):
                pass
        _start("outer-again")
    _start("after")

    spans = _by_name(finished_spans())
    assert _who(spans["before"]) == (None, None)
    assert _who(spans["outer"]) == ("u1", "t1")
    assert _who(spans["inner"]) == ("u2", "t1")
    assert _who(spans["execute_tool search"]) == ("u2", "t1")
    assert _who(spans["outer-again"]) == ("u1", "t1")
    assert _who(spans["after"]) == (None, None)


def test_only_the_given_keys_are_set(finished_spans):
    with spanmeter.attribution(team="data"):
        _start("team-only")
    (span,) = finished_spans()
    assert _who(span) == (None, "data")


async def test_asyncio_tasks_keep_the_attribution_they_were_created_with(finished_spans):
    async def job(name):
        await asyncio.sleep(0)
        _start(name)

    with spanmeter.attribution(user="alice"):
        first = asyncio.create_task(job("alice-task"))
    with spanmeter.attribution(user="bob"):
        second = asyncio.create_task(job("bob-task"))
    await asyncio.gather(first, second)

    spans = _by_name(finished_spans())
    assert _who(spans["alice-task"])[0] == "alice"
    assert _who(spans["bob-task"])[0] == "bob"


def test_thread_pool_submit_carries_attribution_and_parent(finished_spans):
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_start, "warm-up").result()  # the worker thread exists before the block
        with (
            spanmeter.attribution(user="u1", team="t1"),
            _tracer.start_as_current_span("submitter") as parent,
        ):
            pool.submit(_start, "in-worker").result()
            pool.submit(lambda name: _start(name), name="by-keyword").result()
        pool.submit(_start, "after-block").result()  # nothing leaks into the next task

    spans = _by_name(finished_spans())
    worker = spans["in-worker"]
    assert _who(worker) == ("u1", "t1")
    assert _who(spans["by-keyword"]) == ("u1", "t1")
    assert worker.parent.span_id == parent.get_span_context().span_id
    assert _who(spans["warm-up"]) == (None, None)
    assert _who(spans["after-block"]) == (None, None)
    assert spans["after-block"].parent is None


async def test_run_in_executor_and_to_thread_carry_attribution(finished_spans):
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=2) as own_pool, spanmeter.attribution(user="u9", team="ops"):
        await loop.run_in_executor(None, _start, "default-executor")
        await loop.run_in_executor(own_pool, _start, "own-executor")
        await asyncio.to_thread(_start, "to-thread")

    spans = _by_name(finished_spans())
    for name in ("default-executor", "own-executor", "to-thread"):
        assert _who(spans[name]) == ("u9", "ops"), name


def test_enable_is_idempotent_and_disable_restores_plain_submit(finished_spans):
    context_propagation.enable()
    context_propagation.enable()
    submit = ThreadPoolExecutor.submit
    assert not hasattr(submit.__wrapped__, "__wrapped__")  # wrapped exactly once

    try:
        context_propagation.disable()
        assert not hasattr(ThreadPoolExecutor.submit, "__wrapped__")
        key = otel_context.create_key("probe")
        token = otel_context.attach(otel_context.set_value(key, "here"))
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                assert pool.submit(otel_context.get_value, key).result() is None
                context_propagation.enable()
                assert pool.submit(otel_context.get_value, key).result() == "here"
        finally:
            otel_context.detach(token)
    finally:
        context_propagation.enable()


def test_submit_errors_and_results_pass_through_unchanged():
    context_propagation.enable()
    boom = KeyError("missing")

    def fail():
        raise boom

    with ThreadPoolExecutor(max_workers=1) as pool, spanmeter.attribution(user="u"):
        assert pool.submit(pow, 2, 10).result() == 1024
        with pytest.raises(KeyError) as raised:
            pool.submit(fail).result()
    assert raised.value is boom
    pool = ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    with spanmeter.attribution(user="u"), pytest.raises(RuntimeError, match="shutdown"):
        pool.submit(pow, 2, 2)


def test_plain_threads_keep_pythons_fresh_context(finished_spans):
    with spanmeter.attribution(user="u1"):
        thread = threading.Thread(target=_start, args=("plain-thread",))
        thread.start()
        thread.join()
    (span,) = finished_spans()
    assert _who(span) == (None, None)


def test_a_broken_span_is_counted_not_raised():
    internal_errors.reset_for_tests()

    class BrokenSpan:
        def set_attribute(self, key, value):
            raise RuntimeError("span is broken")

    with spanmeter.attribution(user="u"):
        apply_attribution(BrokenSpan())
    assert internal_errors.counts == {("instrumentation.attribution", "RuntimeError"): 1}
    internal_errors.reset_for_tests()
