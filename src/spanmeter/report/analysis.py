"""The report's numbers, computed in one streaming pass with state per group, not per span.

Each dimension groups its own unit of work:

* ``model``: LLM calls, by the model that answered (else the one requested);
* ``agent``: agent runs; cost is the run's roll-up (``spanmeter.cost.total_usd``), so
  an agent's row includes what the agents and tools it called spent;
* ``tool``: tool calls; ``source``: spans naming a ``spanmeter.data.source`` (stages),
  with roll-up cost, so cost per GB is what processing that source cost;
* ``user``, ``team``, ``service``: every span attributed to them, with its own cost, so
  their rows add up to the total spend.

Latency percentiles come from :class:`~spanmeter.report.sketch.LatencySketch` (exact up
to a few thousand calls per group, 1 % relative error beyond). Keys per dimension are
bounded (:data:`MAX_KEYS`); later keys share the row :data:`OVERFLOW_KEY`. The slowest and
most expensive traces are kept in top-k heaps of root spans (a root's cost is its roll-up
when it carries one, else its own), anomalies in a heap of the highest scores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
from collections.abc import Callable
from typing import Any

from spanmeter import rules, semconv
from spanmeter.report.reader import SpanRecord
from spanmeter.report.sketch import RELATIVE_ERROR, LatencySketch

DIMENSIONS = ("model", "agent", "tool", "user", "team", "source", "service")
PERCENTILES = (0.50, 0.90, 0.95, 0.99)
MAX_KEYS = 1000
OVERFLOW_KEY = "(other)"
TOP_TRACES = 10
MAX_ANOMALY_EVENTS = 500
MAX_TIME_BUCKETS = 240
MAX_PROMPT_SIZES = 4096
MIN_CACHEABLE_TOKENS = 1024
UNPRICED_NO_USAGE = "no_usage"
UNPRICED_NO_PRICE = "no_price"
_ROLLUP_DIMENSIONS = frozenset({"agent", "source"})


def _count(value: Any) -> int | None:
    """A token or byte count: a non-negative int, else None."""
    return value if type(value) is int and value >= 0 else None


def _reasons(value: Any) -> list[str]:
    """``spanmeter.anomaly.reasons`` as a list of strings (a producer may write one string)."""
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


@dataclasses.dataclass(slots=True)
class SpanFacts:
    """What the report reads from one span, read once."""

    span: SpanRecord
    kind: str
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int
    own_cost: float | None
    rollup_cost: float | None
    data_bytes: int | None
    unpriced: str | None = None  # for an LLM call without a price: no_usage or no_price

    @classmethod
    def of(cls, span: SpanRecord) -> SpanFacts:
        get = span.attributes.get
        cost, compute = _number(get(semconv.COST_USD)), _number(get(semconv.COST_COMPUTE_USD))
        own = None if cost is None and compute is None else (cost or 0.0) + (compute or 0.0)
        facts = cls(
            span=span,
            kind=rules.kind_of(rules.operation(get)),
            input_tokens=_count(rules.input_tokens_raw(get)),
            output_tokens=_count(rules.output_tokens_raw(get)),
            cache_read_tokens=_count(get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)) or 0,
            own_cost=own,
            rollup_cost=_number(get(semconv.COST_TOTAL_USD)),
            data_bytes=_count(get(semconv.DATA_BYTES)),
        )
        if facts.kind == "llm":
            facts.unpriced = facts._unpriced_reason()
        return facts

    def _unpriced_reason(self) -> str | None:
        source = self.span.attributes.get(semconv.COST_SOURCE)
        if self.own_cost is not None and source != semconv.COST_SOURCE_UNKNOWN:
            return None
        if self.input_tokens is None and self.output_tokens is None:
            return UNPRICED_NO_USAGE
        return UNPRICED_NO_PRICE


def _add(total: float | None, value: float | None) -> float | None:
    if value is None:
        return total
    return value if total is None else total + value


class Group:
    """Running totals of one row (one key of one dimension)."""

    __slots__ = (
        "anomalies",
        "cache_read_tokens",
        "calls",
        "cost_usd",
        "data_bytes",
        "error_cost_usd",
        "errors",
        "gb_cost_usd",
        "input_tokens",
        "latency",
        "output_tokens",
        "provider",
        "unpriced",
    )  # fmt: skip

    def __init__(self) -> None:
        self.calls = self.errors = self.anomalies = 0
        self.input_tokens = self.output_tokens = self.cache_read_tokens = self.data_bytes = 0
        self.latency = LatencySketch()
        self.cost_usd: float | None = None
        self.error_cost_usd = 0.0
        self.gb_cost_usd: float | None = None
        self.unpriced = {UNPRICED_NO_USAGE: 0, UNPRICED_NO_PRICE: 0}
        self.provider: str | None = None

    def add(self, facts: SpanFacts, cost: float | None) -> None:
        span = facts.span
        self.calls += 1
        self.latency.add(span.duration_s)
        self.input_tokens += facts.input_tokens or 0
        self.output_tokens += facts.output_tokens or 0
        self.cache_read_tokens += facts.cache_read_tokens
        self.cost_usd = _add(self.cost_usd, cost)
        if span.is_error:
            self.errors += 1
            self.error_cost_usd += cost or 0.0
        if facts.data_bytes and cost is not None:
            self.gb_cost_usd = _add(self.gb_cost_usd, cost)
            self.data_bytes += facts.data_bytes
        if span.attributes.get(semconv.ANOMALY) is True:
            self.anomalies += 1
        if facts.unpriced:
            self.unpriced[facts.unpriced] += 1
        if self.provider is None:
            self.provider = rules.provider(span.attributes.get)

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def cost_per_gb_usd(self) -> float | None:
        return rules.per_gb_usd(self.gb_cost_usd, self.data_bytes)

    def row(self, key: str) -> dict[str, Any]:
        """The ``--json`` row of this group."""
        p50, p90, p95, p99 = self.latency.quantiles(PERCENTILES)
        return {
            "key": key,
            "calls": self.calls,
            "error_rate": self.error_rate,
            "p50_s": p50,
            "p90_s": p90,
            "p95_s": p95,
            "p99_s": p99,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "cost_per_gb_usd": self.cost_per_gb_usd,
            "anomalies": self.anomalies,
        }


def _of_kind(kind: str, key: Callable[[SpanFacts], str | None]) -> Callable[[SpanFacts], str | None]:
    return lambda facts: key(facts) if facts.kind == kind else None


def _attribute(name: str) -> Callable[[SpanFacts], str | None]:
    return lambda facts: rules.text(facts.span.attributes.get(name))


KEYS: dict[str, Callable[[SpanFacts], str | None]] = {
    "model": _of_kind("llm", lambda facts: rules.model(facts.span.attributes.get) or "?"),
    "agent": _of_kind("agent", lambda facts: _attribute(semconv.GEN_AI_AGENT_NAME)(facts) or facts.span.name),
    "tool": _of_kind("tool", lambda facts: _attribute(semconv.GEN_AI_TOOL_NAME)(facts) or facts.span.name),
    "user": _attribute(semconv.USER_ID),
    "team": _attribute(semconv.TEAM),
    "source": _attribute(semconv.DATA_SOURCE),
    "service": lambda facts: rules.text(facts.span.resource.get("service.name")) or "unknown_service",
}
"""Each dimension's key of a span, or None when the span is not that dimension's unit of work."""


class Dimension:
    """The groups of one dimension, at most MAX_KEYS of them plus the overflow row."""

    def __init__(self, name: str, max_keys: int = MAX_KEYS):
        self.name, self.max_keys = name, max_keys
        self.groups: dict[str, Group] = {}
        self.overflowed = 0

    def group(self, key: str) -> Group:
        found = self.groups.get(key)
        if found is None:
            if len(self.groups) >= self.max_keys:
                self.overflowed += 1
                key = OVERFLOW_KEY
                found = self.groups.get(key)
            if found is None:
                found = self.groups[key] = Group()
        return found

    def rows(self) -> list[tuple[str, Group]]:
        """Most expensive first, then most called."""
        return sorted(self.groups.items(), key=lambda item: (-(item[1].cost_usd or 0.0), -item[1].calls, item[0]))


class CostTimeline:
    """Cost per (time bucket, model); buckets widen (doubling) to stay under MAX_TIME_BUCKETS."""

    def __init__(self, width_ns: int = 60 * 10**9):
        self.width_ns = width_ns
        self.cost: dict[tuple[int, str], float] = {}
        self._buckets: set[int] = set()

    def add(self, time_ns: int, model: str, cost: float) -> None:
        bucket = time_ns // self.width_ns
        self.cost[(bucket, model)] = self.cost.get((bucket, model), 0.0) + cost
        self._buckets.add(bucket)
        while len(self._buckets) > MAX_TIME_BUCKETS:
            self._widen()

    def _widen(self) -> None:
        merged: dict[tuple[int, str], float] = {}
        for (bucket, model), cost in self.cost.items():
            merged[(bucket // 2, model)] = merged.get((bucket // 2, model), 0.0) + cost
        self.cost, self.width_ns = merged, self.width_ns * 2
        self._buckets = {bucket for bucket, _ in merged}

    def series(self) -> dict[str, list[tuple[int, float]]]:
        """model -> [(bucket start, unix ns; cost)] in time order."""
        out: dict[str, list[tuple[int, float]]] = {}
        for (bucket, model), cost in sorted(self.cost.items()):
            out.setdefault(model, []).append((bucket * self.width_ns, cost))
        return out


class TopK:
    """The k largest (value, payload) pairs seen."""

    def __init__(self, k: int):
        self.k = k
        self._heap: list[tuple[float, int, dict[str, Any]]] = []
        self._seq = 0

    def offer(self, value: float, payload: Callable[[], dict[str, Any]]) -> None:
        """``payload`` is built only when the value makes it into the top k."""
        if len(self._heap) < self.k:
            self._seq += 1
            heapq.heappush(self._heap, (value, self._seq, payload()))
        elif value > self._heap[0][0]:
            self._seq += 1
            heapq.heapreplace(self._heap, (value, self._seq, payload()))

    def items(self) -> list[dict[str, Any]]:
        return [payload for _, _, payload in sorted(self._heap, key=lambda item: (-item[0], item[1]))]


class PromptRepeats:
    """Per model: how many cacheable calls repeat a prompt already seen.

    A prompt is its captured input messages (``gen_ai.input.messages``, when content capture is
    on), else its exact size in tokens: a proxy, since prompt text is not captured by default.
    Only prompts of at least MIN_CACHEABLE_TOKENS count, the size from which OpenAI and Anthropic
    cache prompt prefixes; larger sizes also collide by chance far less often. At most
    MAX_PROMPT_SIZES prompts are remembered per model.
    """

    def __init__(self) -> None:
        self.seen: set[int | str] = set()
        self.repeated_calls = 0
        self.repeated_input_tokens = 0

    def add(self, input_tokens: int | None, messages: Any) -> None:
        if not input_tokens or input_tokens < MIN_CACHEABLE_TOKENS:
            return
        prompt = hashlib.blake2b(str(messages).encode(), digest_size=16).hexdigest() if messages else input_tokens
        if prompt in self.seen:
            self.repeated_calls += 1
            self.repeated_input_tokens += input_tokens
        elif len(self.seen) < MAX_PROMPT_SIZES:
            self.seen.add(prompt)


@dataclasses.dataclass
class Totals:
    spans: int = 0
    traces: int = 0
    llm_calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    data_bytes: int = 0
    anomalies: int = 0
    unpriced: dict[str, int] = dataclasses.field(default_factory=lambda: {UNPRICED_NO_USAGE: 0, UNPRICED_NO_PRICE: 0})
    start_unix_nano: int | None = None
    end_unix_nano: int | None = None

    def add(self, facts: SpanFacts) -> None:
        span = facts.span
        self.spans += 1
        self.errors += span.is_error
        self.cost_usd += facts.own_cost or 0.0
        self.anomalies += span.attributes.get(semconv.ANOMALY) is True
        if not span.parent_span_id:
            self.traces += 1
        if facts.kind == "llm":
            self.llm_calls += 1
            self.input_tokens += facts.input_tokens or 0
            self.output_tokens += facts.output_tokens or 0
            if facts.unpriced:
                self.unpriced[facts.unpriced] += 1
        if facts.kind == "stage":
            self.data_bytes += facts.data_bytes or 0
        start, end = span.start_unix_nano, span.end_unix_nano
        self.start_unix_nano = start if self.start_unix_nano is None else min(self.start_unix_nano, start)
        self.end_unix_nano = end if self.end_unix_nano is None else max(self.end_unix_nano, end)


class Analysis:
    """Feed spans with :meth:`add`; read the breakdowns, top traces, timeline and anomalies after."""

    def __init__(self, max_keys: int = MAX_KEYS):
        self.dimensions = {name: Dimension(name, max_keys) for name in DIMENSIONS}
        self.totals = Totals()
        self.timeline = CostTimeline()
        self.slowest = TopK(TOP_TRACES)
        self.most_expensive = TopK(TOP_TRACES)
        self.anomaly_events = TopK(MAX_ANOMALY_EVENTS)
        self.repeats: dict[str, PromptRepeats] = {}
        self.problems: list[str] = []
        self.problem_count = 0

    def problem(self, message: str) -> None:
        """A skipped line or document; the first 100 messages are kept, all are counted."""
        self.problem_count += 1
        if len(self.problems) < 100:
            self.problems.append(message)

    def add(self, span: SpanRecord) -> None:
        facts = SpanFacts.of(span)
        self.totals.add(facts)
        for name, dimension in self.dimensions.items():
            key = KEYS[name](facts)
            if key is not None:
                cost = (
                    facts.rollup_cost
                    if name in _ROLLUP_DIMENSIONS and facts.rollup_cost is not None
                    else facts.own_cost
                )
                dimension.group(key).add(facts, cost)
        if facts.kind == "llm":
            model = rules.model(span.attributes.get) or "?"
            if model in self.dimensions["model"].groups:
                self.repeats.setdefault(model, PromptRepeats()).add(
                    facts.input_tokens, span.attributes.get(semconv.GEN_AI_INPUT_MESSAGES)
                )
            else:  # past MAX_KEYS: the timeline shares the overflow row's key too
                model = OVERFLOW_KEY
            if facts.own_cost:
                self.timeline.add(span.start_unix_nano, model, facts.own_cost)
        if not span.parent_span_id:
            self._offer_trace(facts)
        if span.attributes.get(semconv.ANOMALY) is True:
            self._offer_anomaly(span)

    def _offer_trace(self, facts: SpanFacts) -> None:
        span = facts.span

        def payload() -> dict[str, Any]:
            return {
                "trace_id": span.trace_id,
                "root": span.name,
                "service": span.resource.get("service.name"),
                "start_unix_nano": span.start_unix_nano,
                "duration_s": span.duration_s,
                "cost_usd": cost,
            }

        cost = facts.rollup_cost if facts.rollup_cost is not None else facts.own_cost
        self.slowest.offer(span.duration_s, payload)
        if cost:
            self.most_expensive.offer(cost, payload)

    def _offer_anomaly(self, span: SpanRecord) -> None:
        score = _number(span.attributes.get(semconv.ANOMALY_SCORE)) or 0.0
        self.anomaly_events.offer(score, lambda: {
            "time_unix_nano": span.start_unix_nano,
            "span": span.name,
            "trace_id": span.trace_id,
            "score": score,
            "reasons": _reasons(span.attributes.get(semconv.ANOMALY_REASONS)),
        })  # fmt: skip

    @property
    def percentiles_exact(self) -> bool:
        return all(group.latency.is_exact for d in self.dimensions.values() for group in d.groups.values())

    def percentile_method(self) -> str:
        if self.percentiles_exact:
            return "exact (nearest rank over every span read)"
        return f"sketch: nearest rank within {RELATIVE_ERROR:.0%} relative error for groups over the exact limit"

    def groups_json(self) -> dict[str, list[dict[str, Any]]]:
        return {name: [group.row(key) for key, group in d.rows()] for name, d in self.dimensions.items()}

    def totals_json(self) -> dict[str, Any]:
        totals = self.totals
        return {
            **dataclasses.asdict(totals),
            "error_rate": totals.errors / totals.spans if totals.spans else 0.0,
            "unpriced_calls": sum(totals.unpriced.values()),
            "percentiles": self.percentile_method(),
            "skipped": self.problem_count,
            "overflowed_keys": {n: d.overflowed for n, d in self.dimensions.items() if d.overflowed},
        }
