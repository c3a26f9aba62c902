"""What any LLM instrumentation test needs, whatever the SDK: fixtures, span helpers, the ways an app ends a stream.

``instrumented`` reaches unit tests through tests/unit/conftest.py and needs the test
module's ``instrument = instrument_fixture(SomeInstrumentor)``. Each stream consumer
takes an SDK stream (or spanmeter's proxy of one) and ends it one way; the tests then
check that the call's span ended exactly once. ``SYNC_ENDINGS`` pairs each with the
``error.type`` its span should carry.
"""

from __future__ import annotations

import asyncio
import gc

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanProcessor

from spanmeter import internal_errors
from spanmeter.instrumentation import genai
from spanmeter.settings import Settings


def instrumenting(instrumentor_class: type, tracer_provider: TracerProvider, monkeypatch: pytest.MonkeyPatch):
    """Body of an ``instrument`` fixture: yields ``instrument(capture=..., provider=..., **settings)``,
    then uninstruments."""
    instrumentor = instrumentor_class()
    monkeypatch.delenv(genai.CAPTURE_CONTENT_ENV, raising=False)

    def do(capture: str | None = None, provider: TracerProvider | None = None, **settings):
        if capture is not None:
            monkeypatch.setenv(genai.CAPTURE_CONTENT_ENV, capture)
        settings_object = Settings.load(settings) if settings else None
        instrumentor.instrument(tracer_provider=provider or tracer_provider, settings=settings_object)
        return instrumentor

    yield do
    instrumentor.uninstrument()


def instrument_fixture(instrumentor_class: type):
    """A fixture ``instrument(capture=..., provider=..., **settings)`` for ``instrumentor_class``, undone after the test."""

    @pytest.fixture
    def instrument(tracer_provider, monkeypatch):
        yield from instrumenting(instrumentor_class, tracer_provider, monkeypatch)

    return instrument


@pytest.fixture
def instrumented(instrument):
    return instrument()


def only_span(finished_spans):
    spans = finished_spans()
    assert len(spans) == 1, [(span.name, span.instrumentation_scope.name) for span in spans]
    return spans[0]


def assert_no_internal_errors():
    assert not internal_errors.counts


def exhaust(stream):
    assert list(stream)


def close_early(stream):
    next(stream)
    stream.close()
    assert stream.response.is_closed


def break_and_abandon(stream):
    for _ in stream:
        break
    del stream
    gc.collect()


def context_manager(stream):
    with stream as entered:
        assert entered is stream
        next(entered)


def context_manager_raising(stream):
    with pytest.raises(KeyError), stream:
        next(stream)
        raise KeyError("app code failed while reading")


SYNC_ENDINGS = [(exhaust, None), (close_early, None), (break_and_abandon, None), (context_manager, None),
                (context_manager_raising, "KeyError")]  # fmt: skip


async def async_exhaust(stream):
    assert [item async for item in stream]


async def async_close_early(stream):
    await stream.__anext__()
    await stream.close()


async def async_context_manager(stream):
    async with stream as entered:
        assert entered is stream
        async for _ in entered:
            break


async def async_break_and_abandon(stream):
    async for _ in stream:
        break


ASYNC_ENDINGS = [async_exhaust, async_close_early, async_context_manager, async_break_and_abandon]


async def let_the_loop_run():
    """An abandoned async generator is closed by a task of the event loop, once the app awaits again."""
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0)


def assert_peer_on_top_stays_single(ours, peer, call, new_spans, tracer_provider) -> None:
    """spanmeter instrumented first, a peer wrapping on top of it: neither order of uninstrument
    may drop the peer's span or double spanmeter's. ``call()`` makes one LLM call.
    """
    separate = Settings.load({"genai_span_mode": "separate"})  # a span of each, to count them

    def scopes():
        call()
        return sorted(span.instrumentation_scope.name.split(".")[0] for span in new_spans())

    try:
        ours.instrument(tracer_provider=tracer_provider, settings=separate)
        peer.instrument(tracer_provider=tracer_provider)
        assert scopes() == ["opentelemetry", "spanmeter"]
        ours.uninstrument()  # ours sits under the peer's wrapper: it stays there, inactive
        assert scopes() == ["opentelemetry"]
        ours.instrument(tracer_provider=tracer_provider, settings=separate)
        assert scopes() == ["opentelemetry", "spanmeter"]  # reactivated, not stacked twice
        peer.uninstrument()
        assert scopes() == ["spanmeter"]
    finally:
        peer.uninstrument()
        ours.uninstrument()
    assert scopes() == []


def new_spans(finished_spans):
    """Spans finished since the previous call (``finished_spans()`` accumulates over a test)."""
    seen = 0

    def read():
        nonlocal seen
        spans = finished_spans()
        fresh, seen = spans[seen:], len(spans)
        return fresh

    return read


class RaisingProcessor(SpanProcessor):
    """A span processor that raises in ``on_start`` or ``on_end``: it must never reach the app."""

    def __init__(self, hook: str) -> None:
        self.hook = hook

    def on_start(self, span, parent_context=None):
        if self.hook == "on_start":
            raise RuntimeError("processor on_start failed")

    def on_end(self, span):
        if self.hook == "on_end":
            raise RuntimeError("processor on_end failed")


class SteppingClock:
    """Stands in for ``time`` in spanmeter.instrumentation.genai: each ``monotonic_ns()`` reading
    comes ``step_s`` after the previous, so a stream's time to first chunk is exactly ``step_s``
    (the call's start, then its first chunk)."""

    def __init__(self, step_s: float) -> None:
        self.step_ns = int(step_s * 1e9)
        self.now_ns = 0

    def monotonic_ns(self) -> int:
        self.now_ns += self.step_ns
        return self.now_ns


@pytest.fixture
def stepping_clock(monkeypatch) -> SteppingClock:
    """genai's clock replaced by a :class:`SteppingClock` of 0.25 s steps."""
    clock = SteppingClock(0.25)
    monkeypatch.setattr(genai, "time", clock)
    return clock
