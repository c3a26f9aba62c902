"""Run a wrapped framework call with its span's context current, whatever shape the call has.

Framework instrumentations (Agno, the OpenAI Agents SDK) and the manual API's decorators
(:func:`traced`) wrap functions that return a value, a generator, a coroutine or an async
generator. The body of each must run with
the span's context current, so that spans started inside it (provider SDK calls, tools,
member agents) nest under it, and the caller's context must be back between steps: a
generator is driven step by step and its context is attached and detached around each
step, inside the same thread or task, so no token is ever detached in another context.

A :class:`Scope` is what a wrapper opens: a context to make current, ``observe`` for each
yielded item and ``finish`` once at the end. ``open`` returns None when there is nothing
to trace (the call then runs untouched). Generators and coroutines open their scope when
first driven, not when created, so one that is never run leaves nothing open. A consumer
that stops early (``close()``, a ``break`` and garbage collection) ends the scope as not
failed; an exception that escapes the body ends it as failed and passes on unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self

from opentelemetry import context as otel_context

from spanmeter.internal_errors import guard

_guard = guard("instrumentation.execution")


class Scope(Protocol):
    """One traced execution: ``finish`` is called exactly once."""

    context: otel_context.Context | None

    def observe(self, item: Any) -> None: ...

    def finish(self, exc: BaseException | None, result: Any = None) -> None: ...


Open = Callable[[], Scope | None]


class _Forward:
    """Holds what the consumer threw into a suspended driver (``gen.throw``), to throw it into the body.

    A context manager rather than an ``except`` clause: nothing is swallowed, the exception
    goes on into the wrapped body. ``GeneratorExit`` (closing) is left to the driver.
    """

    __slots__ = ("exc",)

    def __init__(self) -> None:
        self.exc: BaseException | None = None

    def __enter__(self) -> Self:
        self.exc = None
        return self

    def __exit__(self, _type: type[BaseException] | None, exc: BaseException | None, _tb: TracebackType | None) -> bool:
        if exc is None or isinstance(exc, GeneratorExit):
            return False
        self.exc = exc
        return True


def attach(context: otel_context.Context | None) -> object | None:
    """Make ``context`` current; the token for :func:`detach`, or None (nothing attached)."""
    if context is None:
        return None
    with _guard:
        return otel_context.attach(context)
    return None


def detach(token: object | None) -> None:
    if token is not None:
        with _guard:
            otel_context.detach(token)


def _open(open_scope: Open) -> Scope | None:
    """The scope, or None (the call runs untraced) when opening it fails: counted, never raised."""
    with _guard:
        return open_scope()
    return None


def finish(scope: Scope, exc: BaseException | None, result: Any = None) -> None:
    """End the scope once; a fault in a framework's ``finish`` is counted, never raised into the app."""
    with _guard:
        scope.finish(exc, result)


def _observe(scope: Scope, item: Any) -> None:
    with _guard:
        scope.observe(item)


def call(open_scope: Open, wrapped: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Call a plain function inside its scope."""
    scope = _open(open_scope)
    if scope is None:
        return wrapped(*args, **kwargs)
    token = attach(scope.context)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        detach(token)
        finish(scope, exc)
        raise
    detach(token)
    finish(scope, None, result)
    return result


async def coroutine(open_scope: Open, inner: Any) -> Any:
    """Await ``inner`` inside its scope (one task runs the whole body, so one attach suffices)."""
    scope = _open(open_scope)
    if scope is None:
        return await inner
    token = attach(scope.context)
    try:
        result = await inner
    except BaseException as exc:
        detach(token)
        finish(scope, exc)
        raise
    detach(token)
    finish(scope, None, result)
    return result


def generator(open_scope: Open, inner: Any) -> Any:
    """Drive the generator ``inner`` step by step inside its scope; ``send``/``throw``/``close`` are forwarded."""
    scope = _open(open_scope)
    if scope is None:
        return (yield from inner)
    sent = thrown = None
    forward = _Forward()
    while True:
        token = attach(scope.context)
        try:
            item = inner.send(sent) if thrown is None else inner.throw(thrown)
        except StopIteration as stop:
            detach(token)
            finish(scope, None, stop.value)
            return stop.value
        except BaseException as exc:
            detach(token)
            finish(scope, exc)
            raise
        detach(token)
        _observe(scope, item)
        try:
            with forward:
                sent = yield item
        except GeneratorExit:  # the consumer let go: close the body in the scope, not a failure
            token = attach(scope.context)
            try:
                inner.close()
            finally:
                detach(token)
                finish(scope, None)
            raise
        thrown = forward.exc


def _async_generator_function(open_scope_of: Callable[[tuple], Open], start: Callable[[tuple, dict], Any]):
    """The one async-generator driver, as a function of its own: async generators have no
    ``yield from``, so a decorator that must stay an async generator function (``inspect``
    says so) gets this loop as its body. ``open_scope_of(args)`` gives the opener,
    ``start(args, kwargs)`` the async generator to drive (after the scope is open)."""

    async def driven(*args: Any, **kwargs: Any) -> Any:
        scope = _open(open_scope_of(args))
        inner = start(args, kwargs)
        sent = thrown = None
        forward = _Forward()
        while True:
            token = attach(scope.context) if scope is not None else None
            try:
                item = await (inner.asend(sent) if thrown is None else inner.athrow(thrown))
            except StopAsyncIteration:
                detach(token)
                if scope is not None:
                    finish(scope, None)
                return
            except BaseException as exc:
                detach(token)
                if scope is not None:
                    finish(scope, exc)
                raise
            detach(token)
            if scope is not None:
                _observe(scope, item)
            try:
                with forward:
                    sent = yield item
            except GeneratorExit:
                token = attach(scope.context) if scope is not None else None
                try:
                    await inner.aclose()
                finally:
                    detach(token)
                    if scope is not None:
                        finish(scope, None)
                raise
            thrown = forward.exc

    return driven


_drive_async_generator = _async_generator_function(lambda args: args[0], lambda args, _kwargs: args[1])


def async_generator(open_scope: Open, inner: Any) -> Any:
    """The async twin of :func:`generator`."""
    return _drive_async_generator(open_scope, inner)


def traced(open_scope: Open, func: Callable[..., Any]) -> Callable[..., Any]:
    """A function of ``func``'s own shape (plain, coroutine, generator or async generator
    function, as ``inspect`` tells) whose every call runs ``func`` inside the scope
    ``open_scope()`` opens, through the drivers above. For decorators."""
    if inspect.isasyncgenfunction(func):
        return _async_generator_function(lambda _args: open_scope, lambda args, kwargs: func(*args, **kwargs))
    if inspect.isgeneratorfunction(func):

        def driven_generator(*args: Any, **kwargs: Any) -> Any:
            return (yield from generator(open_scope, func(*args, **kwargs)))

        return driven_generator
    if inspect.iscoroutinefunction(func):

        async def driven_coroutine(*args: Any, **kwargs: Any) -> Any:
            return await coroutine(open_scope, func(*args, **kwargs))

        return driven_coroutine

    def driven(*args: Any, **kwargs: Any) -> Any:
        return call(open_scope, func, args, kwargs)

    return driven
