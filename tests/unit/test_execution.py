"""The execution drivers: every way a function, generator, coroutine or async generator ends
finishes its scope exactly once, with the scope's context current only inside the body."""

from __future__ import annotations

import asyncio
import gc

import pytest
from opentelemetry import context as otel_context

from spanmeter.instrumentation import execution

_KEY = otel_context.create_key("test.scope")


class Scope:
    def __init__(self) -> None:
        self.context = otel_context.set_value(_KEY, "inside")
        self.items, self.finished = [], []

    def observe(self, item) -> None:
        self.items.append(item)

    def finish(self, exc, result=None) -> None:
        self.finished.append((type(exc).__name__ if exc else None, result))


def _inside() -> str | None:
    return otel_context.get_value(_KEY)


def _numbers():
    for number in range(3):
        assert _inside() == "inside"
        yield number
    return "done"


def test_generator_runs_in_its_context_and_returns_its_value():
    scope = Scope()
    driven = execution.generator(lambda: scope, _numbers())
    assert scope.finished == []  # opened when driven, not when made
    assert next(driven) == 0 and _inside() is None
    assert list(driven) == [1, 2]
    assert scope.items == [0, 1, 2] and scope.finished == [(None, "done")]


def test_generator_closed_early_is_not_a_failure_and_closes_the_body():
    closed = []

    def body():
        try:
            yield 1
            yield 2
        finally:
            closed.append(_inside())

    scope = Scope()
    driven = execution.generator(lambda: scope, body())
    next(driven)
    del driven
    gc.collect()
    assert closed == ["inside"] and scope.finished == [(None, None)]


def test_exception_thrown_in_reaches_the_body_and_fails_the_scope():
    def body():
        with pytest.raises(KeyError):
            yield 1
        yield 2
        raise ValueError("body failed")

    scope = Scope()
    driven = execution.generator(lambda: scope, body())
    next(driven)
    assert driven.throw(KeyError("sent in")) == 2
    with pytest.raises(ValueError, match="body failed"):
        next(driven)
    assert scope.finished == [("ValueError", None)]


async def test_cancelled_coroutine_fails_its_scope_and_restores_the_context():
    scope = Scope()

    async def body():
        assert _inside() == "inside"
        await asyncio.sleep(10)

    task = asyncio.ensure_future(execution.coroutine(lambda: scope, body()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert scope.finished == [("CancelledError", None)] and _inside() is None


async def test_async_generator_abandoned_by_its_consumer_finishes_once():
    async def body():
        for number in range(5):
            assert _inside() == "inside"
            yield number

    scope = Scope()
    async for _ in execution.async_generator(lambda: scope, body()):
        break
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0)
    assert scope.finished == [(None, None)] and _inside() is None


def test_nothing_to_trace_runs_the_body_untouched():
    assert execution.call(lambda: None, lambda x: x + 1, (1,), {}) == 2
    assert list(execution.generator(lambda: None, _numbers_outside())) == [0, 1]


def _numbers_outside():
    yield 0
    yield 1


class BrokenScope(Scope):
    """A framework scope whose own code fails at every step."""

    def observe(self, item) -> None:
        raise ValueError("observe")

    def finish(self, exc, result=None) -> None:
        raise ValueError("finish")


def _broken_opening():
    raise ValueError("open")


@pytest.mark.expect_internal_errors
def test_faults_in_a_scope_never_reach_the_app_and_are_counted():
    from spanmeter import internal_errors

    assert execution.call(lambda: BrokenScope(), lambda x: x + 1, (1,), {}) == 2
    assert list(execution.generator(lambda: BrokenScope(), _numbers())) == [0, 1, 2]
    assert execution.call(_broken_opening, lambda: "untraced", (), {}) == "untraced"
    with pytest.raises(KeyError):  # the app's own exception still comes through unchanged
        execution.call(lambda: BrokenScope(), {}.__getitem__, ("missing",), {})
    assert internal_errors.counts == {("instrumentation.execution", "ValueError"): 1 + 4 + 1 + 1}


async def test_traced_keeps_each_shape_and_opens_one_scope_per_call_when_driven():
    import inspect

    scopes: list[Scope] = []

    def open_scope() -> Scope:
        scopes.append(Scope())
        return scopes[-1]

    class Owner:
        async def stream(self, count):
            for number in range(count):
                assert _inside() == "inside"
                yield number

        def numbers(self):
            return (yield from _numbers())

        async def answer(self):
            return _inside()

    stream = execution.traced(open_scope, Owner.stream)
    numbers = execution.traced(open_scope, Owner.numbers)
    answer = execution.traced(open_scope, Owner.answer)
    assert inspect.isasyncgenfunction(stream) and inspect.isgeneratorfunction(numbers)
    assert inspect.iscoroutinefunction(answer)
    owner = Owner()
    pending = stream(owner, 2)
    assert scopes == []  # made, not driven
    assert [number async for number in pending] == [0, 1] and _inside() is None
    assert list(numbers(owner)) == [0, 1, 2] and await answer(owner) == "inside"
    assert [scope.finished for scope in scopes] == [[(None, None)], [(None, "done")], [(None, "inside")]]
