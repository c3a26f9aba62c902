"""What the Insights API answers from: cost per time bucket, recent anomalies, live watchers.

An :class:`InsightsStore` is an ``OutcomeListener``: the enricher hands it one
:class:`~spanmeter.processing.outcome.SpanOutcome` per work span, in the batch worker.
Everything it keeps is bounded, because a pipeline runs for months:

* cost: a ring of fixed time buckets (default 360 x 60 s = the last 6 hours), each holding
  one bounded group table per dimension (model, agent, user, team, data source, service;
  rows of model, agent and service with a bucketed latency sketch, so p95 over a window merges exactly;
  :mod:`spanmeter.processing.groups`, the report's tables, which say what each dimension
  counts) and the bucket's total. One table per dimension keeps a breakdown by one dimension
  exact whatever the cardinality of the others (unique user ids overflow the user table
  only). A table holds at most ``max_groups_per_bucket`` keys; further ones share its
  overflow row (key ``otel.metric.overflow``), counted in ``overflowed``. Spans older than
  the horizon are counted in ``too_old`` and not kept.
* anomalies: a ring of the newest ``max_anomalies`` incidents, one per trace: the trace's
  first flagged span (its deepest: children end first), with the spans of the same trace
  that end later around it as its ancestors (at most ``MAX_ANCESTORS``) and a count of its
  flagged spans; older incidents are counted in ``evicted``.
* watchers: each ``WatchAnomalies`` stream gets a bounded queue; a slow client loses its
  oldest undelivered anomalies (counted in ``watch_dropped``), never the pipeline's time.

A query merges one dimension's tables over the buckets of a window, and says which span ends
it actually counted (a rate over a 40 s burst divides by 40 s, not by the window asked for).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from spanmeter.processing.groups import OVERFLOW_KEY, Group, GroupTable, add_outcome, data_keys, sorted_rows
from spanmeter.processing.outcome import SpanOutcome

__all__ = ["DIMENSIONS", "OVERFLOW_KEY", "AnomalyRecord", "CostSummary", "Group", "InsightsStore"]

DIMENSIONS = ("model", "agent", "user", "team", "source", "service")
"""Group-by choices."""
LATENCY_DIMENSIONS = ("model", "agent", "service")
"""Dimensions whose rows keep a latency sketch (few keys, where p95 is read); unique user ids
would make one sketch per user per bucket."""
MAX_ANCESTORS = 16
"""Ancestors kept per incident (its agent, workflow...): a deeper trace keeps the innermost."""
_NS = 1_000_000_000


@dataclass(slots=True)
class AnomalyContext:
    """A span around an incident's span, and what was flagged on it (nothing, often)."""

    span_name: str
    span_id: str
    reasons: tuple[str, ...]
    score: float


@dataclass(slots=True)
class AnomalyRecord:
    """One incident: a trace's first flagged span, and the trace's later spans around it."""

    span_name: str
    service: str
    trace_id: str
    span_id: str
    reasons: tuple[str, ...]
    score: float
    values: dict[str, tuple[float, float]]
    time_unix_nano: int
    model: str
    agent: str
    start_unix_nano: int = 0
    ancestors: list[AnomalyContext] = field(default_factory=list)
    flagged_spans: int = 1


def _summed() -> Group:
    return Group(exact_limit=0)


@dataclass(slots=True)
class _Bucket:
    max_keys: int
    start_ns: int = -1
    tables: dict[str, GroupTable] = field(default_factory=dict)
    total: Group = field(default_factory=_summed)
    first_ns: int = 0  # the earliest and latest span end counted in it
    last_ns: int = 0

    def reset(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.tables = {
            name: GroupTable(self.max_keys, latency=name in LATENCY_DIMENSIONS, exact_limit=0) for name in DIMENSIONS
        }
        self.total = _summed()
        self.first_ns = self.last_ns = 0

    def saw(self, when_ns: int) -> None:
        self.first_ns = min(self.first_ns, when_ns) if self.first_ns else when_ns
        self.last_ns = max(self.last_ns, when_ns)


@dataclass(slots=True)
class CostSummary:
    """A window's rows (most expensive first), their total, and the span ends actually counted."""

    rows: list[tuple[str, Group]]
    total: Group
    first_ns: int = 0  # 0: nothing counted
    last_ns: int = 0


class InsightsStore:
    """Bounded in-memory state for the Insights API; thread-safe (worker writes, RPCs read)."""

    def __init__(
        self,
        *,
        horizon_s: int = 6 * 3600,
        bucket_s: int = 60,
        max_groups_per_bucket: int = 1024,
        max_anomalies: int = 1000,
        watch_queue_size: int = 256,
        budget_status: Callable[[], Sequence[Any]] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ):
        if bucket_s < 1 or horizon_s < bucket_s:
            raise ValueError("need bucket_s >= 1 and horizon_s >= bucket_s")
        self.bucket_ns = bucket_s * _NS
        self._buckets = [_Bucket(max_groups_per_bucket) for _ in range(horizon_s // bucket_s)]
        self.max_groups_per_bucket = max_groups_per_bucket
        self._anomalies: deque[AnomalyRecord] = deque(maxlen=max_anomalies)
        self._incidents: dict[int, AnomalyRecord] = {}  # trace id -> its incident, while in the ring
        self._watchers: list[queue.Queue] = []
        self._watch_queue_size = watch_queue_size
        self._budget_status = budget_status
        self._clock = clock
        self._lock = threading.Lock()
        self.overflowed = self.too_old = self.evicted = self.watch_dropped = 0

    # -- writing (batch worker) -----------------------------------------------------
    def on_outcome(self, outcome: SpanOutcome) -> None:
        """Add one work span's facts; a flagged span opens its trace's incident, and a later
        span of that trace becomes its context."""
        counted = outcome.kind == "llm" or outcome.source is not None or outcome.per_gb_usd is not None
        with self._lock:
            if counted:
                self._add_cost(outcome)
            incident = self._incidents.get(outcome.trace_id) if self._incidents else None
            if incident is not None:
                _add_context(incident, outcome)
            elif outcome.anomaly_reasons:
                self._add_anomaly(outcome.trace_id, _anomaly_of(outcome))

    def _add_cost(self, outcome: SpanOutcome) -> None:
        now = self._clock()
        when = min(outcome.end_time_ns or now, now)
        bucket = self._bucket_for(when, now)
        if bucket is None:
            self.too_old += 1
            return
        bucket.saw(when)
        tables = bucket.tables
        before = sum(table.overflowed for table in tables.values())
        add_outcome(tables, outcome)
        self.overflowed += sum(table.overflowed for table in tables.values()) - before
        if outcome.kind == "llm":
            bucket.total.add(outcome, outcome.cost_usd)
        if next(data_keys(outcome), None) is not None:
            bucket.total.add_data(outcome)

    def _bucket_for(self, when_ns: int, now_ns: int) -> _Bucket | None:
        start = when_ns - when_ns % self.bucket_ns
        if start <= now_ns - len(self._buckets) * self.bucket_ns:
            return None
        bucket = self._buckets[(start // self.bucket_ns) % len(self._buckets)]
        if bucket.start_ns != start:  # the slot held an older period: recycle it
            bucket.reset(start)
        return bucket

    def _add_anomaly(self, trace_id: int, record: AnomalyRecord) -> None:
        if len(self._anomalies) == self._anomalies.maxlen:
            self.evicted += 1
            oldest = self._anomalies[0]
            if self._incidents.get(int(oldest.trace_id, 16)) is oldest:
                del self._incidents[int(oldest.trace_id, 16)]
        self._anomalies.append(record)
        self._incidents[trace_id] = record
        for watcher in self._watchers:
            self._offer(watcher, record)

    def _offer(self, watcher: queue.Queue, record: AnomalyRecord) -> None:
        try:
            watcher.put_nowait(record)
        except queue.Full:
            watcher.get_nowait()
            watcher.put_nowait(record)
            self.watch_dropped += 1

    # -- reading (RPC threads) --------------------------------------------------------
    @property
    def anomaly_capacity(self) -> int:
        return self._anomalies.maxlen or 0

    def horizon(self) -> tuple[int, int]:
        """[start, end) in epoch ns of what the cost buckets can still hold."""
        now = self._clock()
        end = now - now % self.bucket_ns + self.bucket_ns
        return end - len(self._buckets) * self.bucket_ns, end

    def cost_summary(self, group_by: str = "model", start_ns: int = 0, end_ns: int = 0) -> CostSummary:
        """Rows of ``group_by`` over buckets starting in [start, end), most expensive first, the total
        (LLM calls and data of every span), and the first and last span end counted. 0 leaves a side open."""
        if group_by not in DIMENSIONS:
            raise ValueError(f"group_by must be one of {DIMENSIONS}")
        if start_ns and end_ns and start_ns > end_ns:
            raise ValueError("the window starts after it ends")
        rows: dict[str, Group] = {}
        summary = CostSummary([], _summed())
        with self._lock:
            low, _ = self.horizon()
            for bucket in self._buckets:
                if bucket.start_ns < max(low, start_ns - start_ns % self.bucket_ns):
                    continue
                if end_ns and bucket.start_ns >= end_ns:
                    continue
                if bucket.tables:
                    bucket.tables[group_by].merge_into(rows)
                    summary.total.merge(bucket.total)
                    _observe(summary, bucket)
        summary.rows = sorted_rows(rows)
        return summary

    def anomalies(self, since_ns: int = 0, limit: int = 0) -> list[AnomalyRecord]:
        """Anomalies of spans that ended at or after ``since_ns``, newest first."""
        with self._lock:  # copies: a later span of the trace may still add to an incident
            found = [
                dataclasses.replace(a, ancestors=list(a.ancestors))
                for a in reversed(self._anomalies)
                if a.time_unix_nano >= since_ns
            ]
        return found[:limit] if limit else found

    def budget_status(self) -> Sequence[Any]:
        return self._budget_status() if self._budget_status is not None else ()

    def watch(self) -> queue.Queue:
        """A queue that receives every anomaly flagged from now on; :meth:`unwatch` it when done."""
        watcher: queue.Queue = queue.Queue(self._watch_queue_size)
        with self._lock:
            self._watchers.append(watcher)
        return watcher

    def unwatch(self, watcher: queue.Queue) -> None:
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)


def _observe(summary: CostSummary, bucket: _Bucket) -> None:
    if bucket.first_ns:
        summary.first_ns = min(summary.first_ns, bucket.first_ns) if summary.first_ns else bucket.first_ns
        summary.last_ns = max(summary.last_ns, bucket.last_ns)


def _add_context(incident: AnomalyRecord, outcome: SpanOutcome) -> None:
    """A later span of an incident's trace: an ancestor when it encloses the incident's span."""
    if outcome.anomaly_reasons:
        incident.flagged_spans += 1
    start = outcome.end_time_ns - round(outcome.duration_s * 1e9)
    encloses = start <= incident.start_unix_nano and outcome.end_time_ns >= incident.time_unix_nano
    if encloses and len(incident.ancestors) < MAX_ANCESTORS:
        incident.ancestors.append(
            AnomalyContext(outcome.span_name, f"{outcome.span_id:016x}", tuple(outcome.anomaly_reasons),
                           outcome.anomaly_score)
        )  # fmt: skip


def _anomaly_of(outcome: SpanOutcome) -> AnomalyRecord:
    return AnomalyRecord(
        span_name=outcome.span_name,
        service=outcome.service or "",
        trace_id=f"{outcome.trace_id:032x}",
        span_id=f"{outcome.span_id:016x}",
        reasons=tuple(outcome.anomaly_reasons),
        score=outcome.anomaly_score,
        values=dict(outcome.anomaly_values),
        time_unix_nano=outcome.end_time_ns,
        model=outcome.model or "",
        agent=outcome.agent or "",
        start_unix_nano=outcome.end_time_ns - round(outcome.duration_s * 1e9),
    )
