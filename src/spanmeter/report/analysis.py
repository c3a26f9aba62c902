"""The report's numbers, computed in one streaming pass with state per group, not per span.

Every span is read once into the per-span fact record
(:class:`~spanmeter.processing.outcome.SpanOutcome`, by
:class:`~spanmeter.processing.enriched.OutcomeReader`, with the rules the enricher applies);
the breakdowns are the shared group tables (:mod:`spanmeter.processing.groups`, which says
what each dimension counts), so the report, the Insights API and ``spanmeter demo`` agree.
An LLM call counts once its agent run is known (when the agent span is read, or at the end).

Latency percentiles come from :class:`~spanmeter.processing.sketch.LatencySketch` (exact up
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

from spanmeter import semconv
from spanmeter.processing.enriched import OutcomeReader
from spanmeter.processing.groups import (
    DIMENSIONS,
    MAX_KEYS,
    OVERFLOW_KEY,
    UNKNOWN_MODEL,
    Group,
    GroupTable,
    add_outcome,
    row_json,
)  # fmt: skip
from spanmeter.processing.outcome import SpanOutcome
from spanmeter.processing.sketch import RELATIVE_ERROR
from spanmeter.report.reader import SpanRecord

__all__ = ["DIMENSIONS", "MAX_KEYS", "OVERFLOW_KEY", "Analysis", "Group", "PromptRepeats"]

TOP_TRACES = 10
MAX_ANOMALY_EVENTS = 500
MAX_TIME_BUCKETS = 240
MAX_PROMPT_SIZES = 4096
MIN_CACHEABLE_TOKENS = 1024
UNPRICED_NO_USAGE = semconv.UNPRICED_NO_USAGE
UNPRICED_NO_PRICE = semconv.UNPRICED_NO_PRICE


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

    def add_span(self, span: SpanRecord) -> None:
        """What every span counts in: spans, traces, failures, the time range."""
        self.spans += 1
        self.errors += span.is_error
        if not span.parent_span_id:
            self.traces += 1
        start, end = span.start_unix_nano, span.end_unix_nano
        self.start_unix_nano = start if self.start_unix_nano is None else min(self.start_unix_nano, start)
        self.end_unix_nano = end if self.end_unix_nano is None else max(self.end_unix_nano, end)

    def add(self, outcome: SpanOutcome) -> None:
        """What a work span counts in: spend (its own cost), LLM calls, data volume, anomalies."""
        self.cost_usd += outcome.own_usd or 0.0
        self.anomalies += bool(outcome.anomaly_reasons)
        if outcome.kind == "llm":
            self.llm_calls += 1
            self.input_tokens += outcome.input_tokens or 0
            self.output_tokens += outcome.output_tokens or 0
            if outcome.unpriced_reason in self.unpriced:
                self.unpriced[outcome.unpriced_reason] += 1
        if outcome.kind == "stage":
            self.data_bytes += outcome.data_bytes or 0


class Analysis:
    """Feed spans with :meth:`add`, then :meth:`finish`; read the breakdowns, top traces,
    timeline and anomalies after."""

    def __init__(self, max_keys: int = MAX_KEYS):
        self.max_keys = max_keys
        self.reader = OutcomeReader()
        self.dimensions = {name: GroupTable(max_keys) for name in DIMENSIONS}
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
        self.totals.add_span(span)
        outcome, resolved = self.reader.read(span)
        if outcome.kind == "llm":
            self._offer_prompt(outcome, span.attributes.get(semconv.GEN_AI_INPUT_MESSAGES))
        if not span.parent_span_id:
            self._offer_trace(span, outcome)
        for each in resolved:
            self.add_outcome(each)

    def finish(self) -> None:
        """Count the calls whose agent run was not in the input (idempotent)."""
        for outcome in self.reader.flush():
            self.add_outcome(outcome)

    def add_outcome(self, outcome: SpanOutcome) -> None:
        """One work span's facts, its agent run known."""
        self.totals.add(outcome)
        add_outcome(self.dimensions, outcome)
        if outcome.kind == "llm" and outcome.cost_usd:
            model = outcome.model or UNKNOWN_MODEL
            if model not in self.dimensions["model"].groups:  # past MAX_KEYS: the timeline shares the overflow key
                model = OVERFLOW_KEY
            self.timeline.add(outcome.start_time_ns, model, outcome.cost_usd)
        if outcome.anomaly_reasons:
            self._offer_anomaly(outcome)

    def _offer_prompt(self, outcome: SpanOutcome, messages: Any) -> None:
        model = outcome.model or UNKNOWN_MODEL
        repeats = self.repeats.get(model)
        if repeats is None and len(self.repeats) < self.max_keys:
            repeats = self.repeats[model] = PromptRepeats()
        if repeats is not None:
            repeats.add(outcome.input_tokens, messages)

    def _offer_trace(self, span: SpanRecord, outcome: SpanOutcome) -> None:
        def payload() -> dict[str, Any]:
            return {
                "trace_id": span.trace_id,
                "root": span.name,
                "service": span.resource.get("service.name"),
                "start_unix_nano": span.start_unix_nano,
                "duration_s": span.duration_s,
                "cost_usd": cost,
            }

        cost = outcome.total_usd if outcome.total_usd is not None else outcome.own_usd
        self.slowest.offer(span.duration_s, payload)
        if cost:
            self.most_expensive.offer(cost, payload)

    def _offer_anomaly(self, outcome: SpanOutcome) -> None:
        self.anomaly_events.offer(outcome.anomaly_score, lambda: {
            "time_unix_nano": outcome.start_time_ns,
            "span": outcome.span_name,
            "trace_id": f"{outcome.trace_id:032x}",
            "score": outcome.anomaly_score,
            "reasons": list(outcome.anomaly_reasons),
        })  # fmt: skip

    @property
    def percentiles_exact(self) -> bool:
        return all(group.latency.is_exact for d in self.dimensions.values() for group in d.groups.values())

    def percentile_method(self) -> str:
        if self.percentiles_exact:
            return "exact (nearest rank over every span read)"
        return f"sketch: nearest rank within {RELATIVE_ERROR:.0%} relative error for groups over the exact limit"

    def groups_json(self) -> dict[str, list[dict[str, Any]]]:
        return {name: [row_json(key, group) for key, group in d.rows()] for name, d in self.dimensions.items()}

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
