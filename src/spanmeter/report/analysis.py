"""The report's numbers, computed in one streaming pass with state per group, not per span.

Every span is read once into the per-span fact record
(:class:`~spanmeter.processing.outcome.SpanOutcome`, by
:class:`~spanmeter.processing.enriched.OutcomeReader`, with the rules the enricher applies);
the breakdowns are the shared group tables (:mod:`spanmeter.processing.groups`, which says
what each dimension counts), so the report, the Insights API and ``spanmeter demo`` agree.
An LLM call counts once its agent run is known (when the agent span is read, or at the end).

The timeline counts LLM calls, failures, p95 latency and cost per time bucket, its width the
narrowest that keeps the run within :data:`MAX_TIME_BUCKETS` (:class:`Timeline`). Spans are
remembered per trace (:data:`RECENT_TRACES` traces, :data:`MAX_TREE_SPANS` spans each) until the
trace's root is read, which in a file comes after its children: the root then counts the trace
for its conversation (``gen_ai.conversation.id`` on any of its spans) and, when it makes a top-k
list, carries the span tree (spans read after the root still join it).

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
from spanmeter.processing.bounded import BoundedMap
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
from spanmeter.processing.sketch import RELATIVE_ERROR, LatencySketch
from spanmeter.report.reader import SpanRecord

__all__ = ["DIMENSIONS", "MAX_KEYS", "OVERFLOW_KEY", "Analysis", "Group", "PromptRepeats"]

TOP_TRACES = 10
MAX_ANOMALY_EVENTS = 500
MAX_TIME_BUCKETS = 120
MAX_PROMPT_SIZES = 4096
MIN_CACHEABLE_TOKENS = 1024
UNPRICED_NO_USAGE = semconv.UNPRICED_NO_USAGE
UNPRICED_NO_PRICE = semconv.UNPRICED_NO_PRICE


TIME_WIDTHS_S = (1, 2, 10, 30, 60, 120, 600, 1800, 3600, 7200, 21600, 43200, 86400, 604800)
"""Bucket widths of the timeline, each a multiple of the one before, so buckets merge exactly when they widen."""


BUCKET_EXACT_LIMIT = 256
"""Latencies kept exactly per time bucket; past it a bucket's p95 is within the sketch's 1 %."""


class TimeBucket:
    """One time bucket's LLM calls: how many, how many failed, their latency, their cost by model."""

    __slots__ = ("calls", "cost", "errors", "latency")

    def __init__(self) -> None:
        self.calls = self.errors = 0
        self.latency = LatencySketch(BUCKET_EXACT_LIMIT)
        self.cost: dict[str, float] = {}

    def merge(self, other: TimeBucket) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.latency.merge(other.latency)
        for model, cost in other.cost.items():
            self.cost[model] = self.cost.get(model, 0.0) + cost


class Timeline:
    """LLM calls per time bucket, buckets sized to the data: the narrowest of TIME_WIDTHS_S that
    keeps the observed range within MAX_TIME_BUCKETS (a 40 s run gets 1 s buckets, a day 30 min
    ones). Buckets start at multiples of their width since the epoch."""

    def __init__(self) -> None:
        self.width_index = 0
        self.buckets: dict[int, TimeBucket] = {}
        self.first: int | None = None
        self.last: int | None = None
        """The first and last bucket index with data (the range the width is chosen for)."""

    @property
    def width_ns(self) -> int:
        return TIME_WIDTHS_S[self.width_index] * 10**9

    def add(self, outcome: SpanOutcome, model: str) -> None:
        index = outcome.start_time_ns // self.width_ns
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = TimeBucket()
        bucket.calls += 1
        bucket.errors += outcome.error_type is not None
        bucket.latency.add(outcome.duration_s)
        if outcome.cost_usd:
            bucket.cost[model] = bucket.cost.get(model, 0.0) + outcome.cost_usd
        self.first = index if self.first is None else min(self.first, index)
        self.last = index if self.last is None else max(self.last, index)
        while self.last - self.first >= MAX_TIME_BUCKETS and self.width_index < len(TIME_WIDTHS_S) - 1:
            self._widen()

    def _widen(self) -> None:
        ratio = TIME_WIDTHS_S[self.width_index + 1] // TIME_WIDTHS_S[self.width_index]
        merged: dict[int, TimeBucket] = {}
        for index, bucket in self.buckets.items():
            target = merged.get(index // ratio)
            if target is None:
                merged[index // ratio] = bucket
            else:
                target.merge(bucket)
        self.buckets, self.width_index = merged, self.width_index + 1
        self.first, self.last = min(merged), max(merged)

    def to_json(self, max_rows: int | None = None) -> dict[str, Any]:
        """The ``timeline`` of ``--json``: every bucket from the first to the last, empty ones included,
        so a chart's x axis is time; with ``max_rows``, consecutive buckets merged (sketches and all)
        into at most that many rows (the terminal's table)."""
        width_s = TIME_WIDTHS_S[self.width_index]
        if self.first is None or self.last is None:
            return {"bucket_s": width_s, "buckets": []}
        step = -(-(self.last - self.first + 1) // max_rows) if max_rows else 1
        rows = []
        for index in range(self.first, self.last + 1, step):
            bucket = TimeBucket()
            for part in range(index, min(index + step, self.last + 1)):
                if part in self.buckets:
                    bucket.merge(self.buckets[part])
            rows.append({
                "start_unix_nano": index * self.width_ns, "calls": bucket.calls, "errors": bucket.errors,
                "p95_s": bucket.latency.quantile(0.95), "cost_usd": sum(bucket.cost.values()),
                "cost_by_model": dict(sorted(bucket.cost.items())),
            })  # fmt: skip
        return {"bucket_s": width_s * step, "buckets": rows}


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


RECENT_TRACES = 1000
"""Traces whose spans are remembered until their root span is read (a file holds a trace's spans close together)."""
MAX_TREE_SPANS = 100
"""Spans remembered per trace for its drill-down; more are counted, not kept."""


class TraceSoFar:
    """What the report remembers of a trace until its root span is read: its conversation, its LLM
    calls, and its spans in a compact form (for the span tree of the top traces)."""

    __slots__ = ("conversation", "errors", "llm_calls", "nodes", "untracked")

    def __init__(self) -> None:
        self.conversation: str | None = None
        self.llm_calls = self.errors = self.untracked = 0
        self.nodes: list[tuple[str, str, str, str, int, float, float | None, float | None, bool]] = []

    def add(self, span: SpanRecord, outcome: SpanOutcome) -> None:
        conversation = span.attributes.get(semconv.GEN_AI_CONVERSATION_ID)
        if self.conversation is None and conversation is not None and conversation != "":
            self.conversation = str(conversation)
        self.llm_calls += outcome.kind == "llm"
        self.errors += outcome.error_type is not None
        if len(self.nodes) < MAX_TREE_SPANS:
            self.nodes.append((span.span_id, span.parent_span_id, span.name, outcome.kind, span.start_unix_nano,
                               span.duration_s, outcome.own_usd, outcome.total_usd, outcome.error_type is not None))  # fmt: skip
        else:
            self.untracked += 1

    def tree(self) -> dict[str, Any]:
        """The spans depth first from the root, each with its own cost and its roll-up (its own plus
        its descendants'; the enricher's ``spanmeter.cost.total_usd`` where the span carries one)."""
        children: dict[str, list[tuple]] = {}
        ids = {node[0] for node in self.nodes}
        for node in sorted(self.nodes, key=lambda node: node[4]):
            children.setdefault(node[1] if node[1] in ids else "", []).append(node)
        rows: list[dict[str, Any]] = []

        def visit(node: tuple, depth: int) -> float | None:
            span_id, _, name, kind, start, duration, own, total, failed = node
            row = {"span_id": span_id, "name": name, "kind": kind, "depth": depth, "start_unix_nano": start,
                   "duration_s": duration, "own_usd": own, "rolled_up_usd": None, "error": failed}  # fmt: skip
            rows.append(row)
            below = [visit(child, depth + 1) for child in children.get(span_id, ())]
            known = [value for value in (own, *below) if value is not None]
            row["rolled_up_usd"] = total if total is not None else (sum(known) if known else None)
            return row["rolled_up_usd"]

        for root in children.get("", ()):
            visit(root, 0)
        return {"spans": rows, "spans_not_shown": self.untracked}


@dataclasses.dataclass
class ConversationRow:
    """One ``gen_ai.conversation.id``: the traces (turns) that carried it and the LLM calls in them."""

    traces: int = 0
    llm_calls: int = 0
    errors: int = 0
    cost_usd: float | None = None
    duration_s: float = 0.0
    first_start_unix_nano: int = 0
    last_start_unix_nano: int = 0

    def add(self, trace: TraceSoFar, root: SpanRecord, cost: float | None) -> None:
        start = root.start_unix_nano
        self.first_start_unix_nano = min(self.first_start_unix_nano, start) if self.traces else start
        self.last_start_unix_nano = max(self.last_start_unix_nano, start)
        self.traces += 1
        self.llm_calls += trace.llm_calls
        self.errors += trace.errors
        self.duration_s += root.duration_s
        if cost is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost


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
        self.timeline = Timeline()
        self.slowest = TopK(TOP_TRACES)
        self.most_expensive = TopK(TOP_TRACES)
        self.anomaly_events = TopK(MAX_ANOMALY_EVENTS)
        self.repeats: dict[str, PromptRepeats] = {}
        self.traces: BoundedMap = BoundedMap(RECENT_TRACES)
        self.conversations: dict[str, ConversationRow] = {}
        self.conversations_overflowed = 0
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
        trace = self.traces.get(span.trace_id)
        if trace is None:
            trace = TraceSoFar()
            self.traces.put(span.trace_id, trace)
        trace.add(span, outcome)
        if not span.parent_span_id:
            self._offer_trace(span, outcome, trace)
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
        if outcome.kind == "llm":
            model = outcome.model or UNKNOWN_MODEL
            if model not in self.dimensions["model"].groups:  # past MAX_KEYS: the timeline shares the overflow key
                model = OVERFLOW_KEY
            self.timeline.add(outcome, model)
        if outcome.anomaly_reasons:
            self._offer_anomaly(outcome)

    def _offer_prompt(self, outcome: SpanOutcome, messages: Any) -> None:
        model = outcome.model or UNKNOWN_MODEL
        repeats = self.repeats.get(model)
        if repeats is None and len(self.repeats) < self.max_keys:
            repeats = self.repeats[model] = PromptRepeats()
        if repeats is not None:
            repeats.add(outcome.input_tokens, messages)

    def _offer_trace(self, span: SpanRecord, outcome: SpanOutcome, trace: TraceSoFar) -> None:
        def payload() -> dict[str, Any]:
            return {
                "trace_id": span.trace_id,
                "root": span.name,
                "service": span.resource.get("service.name"),
                "start_unix_nano": span.start_unix_nano,
                "duration_s": span.duration_s,
                "cost_usd": cost,
                "conversation": trace.conversation,
                "tree": trace,  # the trace's spans read after its root still join it; made JSON by traces_json
            }

        cost = outcome.total_usd if outcome.total_usd is not None else outcome.own_usd
        self.slowest.offer(span.duration_s, payload)
        if cost:
            self.most_expensive.offer(cost, payload)
        if trace.conversation is not None:
            self._conversation(trace.conversation).add(trace, span, cost)

    def _conversation(self, key: str) -> ConversationRow:
        row = self.conversations.get(key)
        if row is None:
            if len(self.conversations) >= self.max_keys:
                self.conversations_overflowed += 1
                key = OVERFLOW_KEY
            row = self.conversations.setdefault(key, ConversationRow())
        return row

    def traces_json(self, top: TopK) -> list[dict[str, Any]]:
        """The top traces, each with its span tree (the drill-down)."""
        return [payload | {"tree": payload["tree"].tree()} for payload in top.items()]

    def conversations_json(self) -> list[dict[str, Any]]:
        """Conversations, most expensive first, then the most recent."""
        rows = sorted(self.conversations.items(),
                      key=lambda item: (-(item[1].cost_usd or 0.0), -item[1].last_start_unix_nano, item[0]))  # fmt: skip
        return [{"conversation": key, **dataclasses.asdict(row)} for key, row in rows]

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
