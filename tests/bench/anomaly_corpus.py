"""A labelled corpus of realistic agent traffic for judging anomaly detectors.

Each shape is one service whose agent runs (traces) arrive over time from a fixed seed:

- ``jitter``: millisecond tools under scheduler and GIL contention (a heavy right tail of
  5 ms switch-interval waits, not lognormal) beside a 40 ms lookup and an LLM call;
- ``bimodal``: a search tool answered from a cache (3 ms) or not (400 ms);
- ``llm_tokens``: LLM latency growing with output tokens (5 to 4,000 of them);
- ``cold_start``: slow first calls after start and after each deploy (connection set-up);
- ``rate_change``: traffic rising 15x for a while, with the contention it brings;
- ``error_burst``: every LLM call failing fast (HTTP 500), then timing out, then healthy again;
- ``level_shift``: a slower model version from the middle on (2.5x), and a tool 2x slower;
- ``low_volume``: forty rarely used tools, a handful of calls each.

Every shape also gets isolated incidents, about one trace in 40 after its keys have
warmed up: a call 5x slower (latency), a prompt blown up to 5x the tokens (tokens and
cost), or a runaway agent loop (the agent span, 5x its calls: latency and cost).

Spans are plain records (:class:`CorpusSpan`) in the order they end (children before
their parent), labelled:

- ``healthy``: nothing wrong; any flag on it is a false positive;
- ``spike``: the span an isolated incident was injected into (one per trace);
- ``shift``: a span of the shifted key from the shift on (``shift_index``: its position
  among the shifted key's spans from the shift);
- ``failed``: a span that failed (its error is reported as such, not as an anomaly);
- ``context``: an ancestor of a spike or shift span, or a span whose key has not yet
  had ``min_samples`` calls (neither counted as a hit nor as a false alarm).

:func:`sdk_spans` builds the same traces with the OpenTelemetry SDK (explicit start and
end times) through any span processor, so the in-process processor and the pipeline's
enrichment of OTLP spans can be run on exactly these spans.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanProcessor
from opentelemetry.trace import Status, StatusCode

from spanmeter.processing.pricing import PriceBook

T0 = 1_772_000_000 * 10**9
SPIKE_FACTOR = 5.0
SPIKE_EVERY = 40
"""About one trace in this many carries an isolated incident (after warm-up)."""
WARM_TRACES = 60
"""No incident is injected into a shape's first traces: its keys are still warming up."""
MIN_SAMPLES = 30
"""Spans of a key before its ``MIN_SAMPLES``-th are labelled context: no detector may judge them."""
SHAPES = ("jitter", "bimodal", "llm_tokens", "cold_start", "rate_change", "error_burst", "level_shift", "low_volume")


@dataclass(slots=True)
class CorpusSpan:
    index: int
    """Position in the corpus (end order); parents refer to it."""
    shape: str
    trace: int
    """Trace number, unique across the corpus."""
    parent: int | None
    name: str
    operation: str
    """chat, execute_tool or invoke_agent."""
    model: str | None
    start_ns: int
    end_ns: int
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    """The span's own LLM cost (priced as spanmeter prices it), or its roll-up on an agent."""
    label: str = "healthy"
    metric: str | None = None
    """For a spike: latency, tokens or loop."""
    shift_index: int | None = None
    time_to_first_chunk_s: float | None = None
    calls: int = 0
    """On an agent span: the calls made directly under it, and the seconds they took together."""
    calls_s: float = 0.0

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) * 1e-9  # as the enricher computes it, to the last bit

    @property
    def service(self) -> str:
        return f"corpus-{self.shape}"

    @property
    def key(self) -> tuple[str, str, str | None]:
        """The baseline key spanmeter uses: (service, span name, model)."""
        return (self.service, self.name, self.model)


@dataclass(slots=True)
class _Call:
    """One child call of an agent run, before it is laid out in time."""

    name: str
    operation: str
    seconds: float
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    label: str = "healthy"
    metric: str | None = None
    shift_index: int | None = None
    first_chunk_s: float | None = None


@dataclass(slots=True)
class _Run:
    agent: str
    calls: list[_Call]
    gap_s: float
    """Seconds since the previous run of this shape started."""
    label: str = "healthy"
    metric: str | None = None
    error: str | None = None
    calls_per_loop: int = 0


@dataclass
class _Shape:
    """State a shape's generator carries from one run to the next."""

    rng: random.Random
    traces: int
    i: int = 0
    extra: dict = field(default_factory=dict)


# -- building blocks: calls with realistic noise ---------------------------------------------------------------
def _lognormal(rng: random.Random, median: float, log_sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, log_sigma))


def _scheduler_wait(rng: random.Random, contention: float = 1.0) -> float:
    """What a busy 2-core box with a GIL adds to a millisecond call: often a fraction of a
    millisecond, sometimes whole 5 ms switch intervals (1, 2, 3... with halving odds)."""
    wait = 0.0
    if rng.random() < 0.3 * contention:
        wait += rng.expovariate(1 / 0.0004)
    if rng.random() < 0.015 * contention:
        intervals = 1
        while rng.random() < 0.5:
            intervals += 1
        wait += 0.005 * intervals * rng.uniform(0.6, 1.0)
    return wait


def _tool(rng: random.Random, name: str, median_s: float, contention: float = 1.0) -> _Call:
    seconds = _lognormal(rng, median_s, 0.08) + _scheduler_wait(rng, contention)
    return _Call(f"execute_tool {name}", "execute_tool", seconds)


def _chat(
    rng: random.Random,
    model: str,
    *,
    input_median: int = 1200,
    output_median: int = 80,
    output_sigma: float = 0.5,
    first_token_s: float = 0.3,
    per_token_s: float = 0.01,
    slow: float = 1.0,
    streamed: bool = False,
) -> _Call:
    """An LLM call: time to the first token (grows a little with the prompt) plus a time per
    output token, each with its own noise."""
    input_tokens = max(20, round(_lognormal(rng, input_median, 0.25)))
    output_tokens = min(4000, max(3, round(_lognormal(rng, output_median, output_sigma))))
    first = _lognormal(rng, first_token_s + input_tokens * 2e-5, 0.18) * slow
    seconds = first + output_tokens * _lognormal(rng, per_token_s, 0.08) * slow
    return _Call(
        f"chat {model}", "chat", seconds, model, input_tokens, output_tokens,
        first_chunk_s=first if streamed else None,
    )  # fmt: skip


def _spike(rng: random.Random, run: _Run, eligible: Callable[[_Call], bool]) -> None:
    """Turn one call of ``run`` (or the run itself) into an isolated 5x incident."""
    kind = rng.choice(("latency", "latency", "tokens", "loop"))
    calls = [call for call in run.calls if eligible(call)]
    llm = [call for call in calls if call.operation == "chat"]
    if kind == "loop":
        run.calls_per_loop = len(run.calls)
        run.calls = [_copy(call) for _ in range(int(SPIKE_FACTOR)) for call in run.calls]
        run.label, run.metric = "spike", "loop"
        return
    if kind == "tokens" and llm:
        call = rng.choice(llm)
        total = (call.input_tokens or 0) + (call.output_tokens or 0)
        call.input_tokens = round(SPIKE_FACTOR * total) - (call.output_tokens or 0)
        call.seconds += call.input_tokens * 2e-5 * 3  # a longer prompt also takes a little longer to read
        call.label, call.metric = "spike", "tokens"
        return
    if calls:
        call = rng.choice(calls)
        call.seconds *= SPIKE_FACTOR
        call.label, call.metric = "spike", "latency"


def _copy(call: _Call) -> _Call:
    return _Call(**{name: getattr(call, name) for name in _Call.__slots__})


def _maybe_spike(state: _Shape, run: _Run, eligible: Callable[[_Call], bool] = lambda call: True) -> _Run:
    if state.i >= WARM_TRACES and state.rng.random() < 1 / SPIKE_EVERY:
        _spike(state.rng, run, eligible)
    return run


# -- the shapes ---------------------------------------------------------------------------------------------------
def _jitter(state: _Shape) -> _Run:
    rng = state.rng
    calls = [
        _chat(rng, "gpt-4o-mini", output_median=40),
        _tool(rng, "calculator", 0.0003),
        _tool(rng, "get_weather", 0.005),
        _tool(rng, "lookup", 0.04),
    ]
    # 5x of a 0.3 ms or a 5 ms tool is below the minimum effect worth a flag: incidents go elsewhere
    return _maybe_spike(state, _Run("calc", calls, rng.expovariate(1.0)), lambda call: call.seconds > 0.02)


def _bimodal(state: _Shape) -> _Run:
    rng = state.rng
    hit = rng.random() < 0.65
    search = _tool(rng, "search", 0.003 if hit else 0.4)
    if not hit:
        search.seconds = _lognormal(rng, 0.4, 0.25)
    run = _Run("researcher", [search, _chat(rng, "gpt-4o", output_median=120)], rng.expovariate(1.0))
    # a 5x cache hit is still faster than a miss: only misses and LLM calls carry incidents
    return _maybe_spike(state, run, lambda call: call.operation == "chat" or call.seconds > 0.05)


def _llm_tokens(state: _Shape) -> _Run:
    rng = state.rng
    chat = _chat(
        rng, "claude-sonnet-4-5", output_median=250, output_sigma=1.0, first_token_s=0.5, per_token_s=0.012,
        streamed=state.i % 2 == 0,
    )  # fmt: skip
    return _maybe_spike(state, _Run("writer", [chat, _tool(rng, "save", 0.03)], rng.expovariate(0.5)))


def _cold_start(state: _Shape) -> _Run:
    rng = state.rng
    deploys = state.extra.setdefault("deploys", {0, state.traces // 3, 2 * state.traces // 3})
    since = state.extra["since"] = 0 if state.i in deploys else state.extra.get("since", 0) + 1
    # the first calls pay for connections and caches: 4x, 2x, 1.3x at start, 1.4x, 1.2x after a deploy
    slow = ({0: 4.0, 1: 2.0, 2: 1.3} if state.i < 3 else {0: 1.4, 1: 1.2}).get(since, 1.0)
    calls = [_chat(rng, "gpt-4o-mini", slow=slow), _tool(rng, "fetch", 0.12)]
    calls[1].seconds *= slow
    run = _Run("onboarding", calls, rng.expovariate(1.0))
    return run if since < 3 else _maybe_spike(state, run)


def _rate_change(state: _Shape) -> _Run:
    rng = state.rng
    busy = state.traces // 3 <= state.i < 2 * state.traces // 3
    contention = 2.0 if busy else 1.0
    calls = [
        _chat(rng, "gpt-4o-mini", slow=1.15 if busy else 1.0),
        _tool(rng, "parse", 0.02, contention),
        _tool(rng, "store", 0.06, contention),
    ]
    return _maybe_spike(state, _Run("ingest", calls, rng.expovariate(15.0 if busy else 1.0)))


def _error_burst(state: _Shape) -> _Run:
    rng = state.rng
    third = state.traces // 3
    chat = _chat(rng, "gpt-4o-mini")
    run = _Run("support", [chat, _tool(rng, "ticket", 0.05)], rng.expovariate(1.0))
    if third <= state.i < third + 120:  # the provider answers 500 at once
        chat.seconds, chat.error = _lognormal(rng, 0.04, 0.3), "500"
    elif third + 120 <= state.i < third + 160:  # then it stops answering: client timeouts
        chat.seconds, chat.error = 10.0 + rng.uniform(0, 0.05), "timeout"
    else:
        return _maybe_spike(state, run)
    chat.input_tokens = chat.output_tokens = None
    chat.label = "failed"
    run.calls = [chat]
    run.error, run.label = chat.error, "failed"
    return run


def _level_shift(state: _Shape) -> _Run:
    rng = state.rng
    shift_at = state.traces // 2
    shifted = state.i >= shift_at
    chat = _chat(rng, "claude-haiku-4-5", slow=2.5 if shifted else 1.0)
    tool = _tool(rng, "geocode", 0.08)
    if shifted:
        tool.seconds *= 2.0
        for call in (chat, tool):
            call.label, call.shift_index = "shift", state.i - shift_at
    run = _Run("router", [chat, tool], rng.expovariate(1.0))
    return run if shifted else _maybe_spike(state, run)


def _low_volume(state: _Shape) -> _Run:
    rng = state.rng
    medians = state.extra.setdefault("medians", [0.03 * 1.12**k for k in range(40)])
    k = min(39, int(rng.expovariate(0.08)))  # a few tools get most calls, most get a handful
    tool = _tool(rng, f"tool_{k:02d}", medians[k])
    tool.seconds = _lognormal(rng, medians[k], 0.25)
    return _maybe_spike(state, _Run("assistant", [tool], rng.expovariate(0.3)))


_GENERATORS: dict[str, Callable[[_Shape], _Run]] = {
    "jitter": _jitter, "bimodal": _bimodal, "llm_tokens": _llm_tokens, "cold_start": _cold_start,
    "rate_change": _rate_change, "error_burst": _error_burst, "level_shift": _level_shift, "low_volume": _low_volume,
}  # fmt: skip
_PROVIDERS = {"gpt-4o-mini": "openai", "gpt-4o": "openai", "claude-sonnet-4-5": "anthropic",
              "claude-haiku-4-5": "anthropic"}  # fmt: skip


# -- laying runs out as spans ------------------------------------------------------------------------------------
class _Layout:
    """Turns runs into end-ordered spans, pricing LLM calls as spanmeter does."""

    def __init__(self) -> None:
        self.spans: list[CorpusSpan] = []
        self.prices = PriceBook()
        self.seen: dict[tuple, int] = {}
        self.trace = 0

    def add(self, shape: str, run: _Run, start_ns: int) -> None:
        self.trace += 1
        children: list[CorpusSpan] = []
        t = start_ns + 200_000  # the agent's own set-up before its first call
        for call in run.calls:
            end = t + max(1_000, round(call.seconds * 1e9))
            children.append(self._call_span(shape, call, t, end))
            t = end + 100_000
        costs = [child.cost_usd for child in children if child.cost_usd is not None]
        total = sum(costs) if costs else None
        root = CorpusSpan(
            0, shape, self.trace, None, f"invoke_agent {run.agent}", "invoke_agent", None, start_ns, t,
            error=run.error, cost_usd=total, label=run.label, metric=run.metric,
        )  # fmt: skip
        for span in (*children, root):
            span.index = len(self.spans)
            self.spans.append(span)
        for child in children:
            child.parent = root.index
            if child.label in ("spike", "shift"):
                root.label = "context" if root.label == "healthy" else root.label

    def _call_span(self, shape: str, call: _Call, start: int, end: int) -> CorpusSpan:
        span = CorpusSpan(
            0, shape, self.trace, None, call.name, call.operation, call.model, start, end, call.error,
            call.input_tokens, call.output_tokens, label=call.label, metric=call.metric, shift_index=call.shift_index,
            time_to_first_chunk_s=call.first_chunk_s,
        )  # fmt: skip
        if call.model is not None and call.input_tokens is not None:
            priced = self.prices.price(_PROVIDERS[call.model], call.model, None, call.input_tokens, call.output_tokens)
            span.cost_usd = priced[0] + priced[1] if priced else None
        return span

    def warming(self, span: CorpusSpan) -> None:
        """Spans up to a key's ``MIN_SAMPLES``-th (in end order) are context: nothing may judge them."""
        n = self.seen[span.key] = self.seen.get(span.key, 0) + 1
        if n <= MIN_SAMPLES and span.label in ("healthy", "spike"):
            span.label = "context"


def build(traces: int = 3000, seed: int = 1, shapes: Iterable[str] = SHAPES) -> list[CorpusSpan]:
    """``traces`` agent runs per shape, shapes interleaved in time, from ``seed``."""
    layout = _Layout()
    pending = []
    for number, shape in enumerate(shapes):
        state = _Shape(random.Random(f"{seed}-{shape}"), traces)
        t = T0 + number * 1_000_000
        for i in range(traces):
            state.i = i
            run = _GENERATORS[shape](state)
            t += round(run.gap_s * 1e9)
            pending.append((t, shape, run))
    pending.sort(key=lambda item: item[0])
    for start, shape, run in pending:
        layout.add(shape, run, start)
    layout.spans.sort(key=lambda span: (span.end_ns, span.index))
    renumbered = {span.index: i for i, span in enumerate(layout.spans)}
    for span in layout.spans:
        span.index = renumbered[span.index]
        span.parent = renumbered[span.parent] if span.parent is not None else None
        layout.warming(span)
        if span.parent is not None:
            parent = layout.spans[span.parent]
            parent.calls += 1
            parent.calls_s += span.duration_s
    return layout.spans


# -- the same spans through the OpenTelemetry SDK ----------------------------------------------------------------
def span_attributes(span: CorpusSpan) -> dict:
    """The attributes an instrumentation would set on this span."""
    attributes: dict = {"gen_ai.operation.name": span.operation}
    if span.operation == "invoke_agent":
        attributes["gen_ai.agent.name"] = span.name.split(" ", 1)[1]
    elif span.operation == "execute_tool":
        attributes["gen_ai.tool.name"] = span.name.split(" ", 1)[1]
    else:
        attributes["gen_ai.provider.name"] = _PROVIDERS[span.model]
        attributes["gen_ai.request.model"] = span.model
        if span.input_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = span.input_tokens
            attributes["gen_ai.usage.output_tokens"] = span.output_tokens
        if span.time_to_first_chunk_s is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = span.time_to_first_chunk_s
    if span.error is not None:
        attributes["error.type"] = span.error
    return attributes


def sdk_spans(corpus: list[CorpusSpan], *processors: SpanProcessor) -> Iterator[tuple[CorpusSpan, int]]:
    """Start and end every span of ``corpus`` with the SDK (one TracerProvider per service,
    each feeding ``processors``), in corpus order; yields (corpus span, SDK span id)."""
    providers: dict[str, TracerProvider] = {}
    open_spans: dict[int, trace.Span] = {}
    children: dict[int, list[CorpusSpan]] = {}
    for span in corpus:
        if span.parent is not None:
            children.setdefault(span.parent, []).append(span)
    for span in corpus:
        if span.parent is not None and span.parent not in open_spans:
            parent = corpus[span.parent]
            tracer = _tracer(providers, parent.service, processors)
            open_spans[span.parent] = tracer.start_span(
                parent.name, attributes=span_attributes(parent), start_time=parent.start_ns
            )
        tracer = _tracer(providers, span.service, processors)
        sdk_span = open_spans.pop(span.index, None)
        if sdk_span is None:
            context = trace.set_span_in_context(open_spans[span.parent]) if span.parent is not None else None
            sdk_span = tracer.start_span(
                span.name, context=context, attributes=span_attributes(span), start_time=span.start_ns
            )
        if span.error is not None:
            sdk_span.set_status(Status(StatusCode.ERROR, span.error))
        sdk_span.end(end_time=span.end_ns)
        yield span, sdk_span.get_span_context().span_id
    for provider in providers.values():
        provider.force_flush()


def _tracer(providers: dict[str, TracerProvider], service: str, processors) -> trace.Tracer:
    provider = providers.get(service)
    if provider is None:
        provider = providers[service] = TracerProvider(resource=Resource.create({"service.name": service}))
        for processor in processors:
            provider.add_span_processor(processor)
    return provider.get_tracer("corpus")
