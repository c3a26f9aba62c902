"""The quantities alert rules compare with a threshold, each defined once: how spanmeter's own
engine computes it from SpanOutcomes and the PromQL that computes it in Prometheus.

Each quantity keeps a small mutable state per time bucket (``new``/``add``), turns the
buckets inside a rule's window into one value (``value``), and writes the same quantity as
PromQL over the metric families named from the metric specs (``promql(window, labels)``,
which the generated rule file uses): error rate = failed / all work spans; p95 by the same
buckets and interpolation as ``histogram_quantile``; cost per hour = cost in the window
scaled to an hour; anomalies = incidents (one per trace) in the window; data quality = the lowest
dimension's mean; freshness = the largest age seen; cost per GB = the data-carrying spans'
summed roll-up cost over their summed GB (a ratio of sums, as the report and the Insights
API compute it). ``example`` says whether a span illustrates a breach (its trace id is
then attached to the alert). ``budget_utilization`` is not fed by spans: the engine reads
it from the budget tracker when it evaluates.

One difference remains: p95 here covers every matching work span, LLM calls included,
while Prometheus' p95 reads ``spanmeter.span.duration`` (agents, tools, workflows, stages;
LLM calls go to ``gen_ai.client.operation.duration``, whose buckets differ). Where the
slowest spans are agents wrapping their LLM calls, as usual, the two agree.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from spanmeter import rules
from spanmeter.alerting import names as n
from spanmeter.alerting.promql import BUCKETS, by, error_ratio, service
from spanmeter.processing.derived_metrics import SPAN_DURATION_BUCKETS
from spanmeter.processing.outcome import SpanOutcome


class ErrorRate:
    def new(self) -> list:
        return [0, 0]

    def add(self, state: list, outcome: SpanOutcome) -> bool:
        state[0] += 1
        if outcome.error_type is not None:
            state[1] += 1
        return True

    def value(self, states: Iterable[list], window_s: float) -> float | None:
        calls = errors = 0
        for c, e in states:
            calls += c
            errors += e
        return errors / calls if calls else None

    def example(self, outcome: SpanOutcome, threshold: float) -> bool:
        return outcome.error_type is not None

    promql = staticmethod(error_ratio)


class P95Latency:
    BOUNDS = SPAN_DURATION_BUCKETS
    QUANTILE = 0.95

    def new(self) -> list:
        return [0] * (len(self.BOUNDS) + 1)

    def add(self, state: list, outcome: SpanOutcome) -> bool:
        state[bisect.bisect_left(self.BOUNDS, outcome.duration_s)] += 1
        return True

    def value(self, states: Iterable[list], window_s: float) -> float | None:
        counts = [0] * (len(self.BOUNDS) + 1)
        for state in states:
            for index, count in enumerate(state):
                counts[index] += count
        return histogram_quantile(self.QUANTILE, self.BOUNDS, counts)

    def example(self, outcome: SpanOutcome, threshold: float) -> bool:
        return outcome.duration_s > threshold

    def promql(self, window: str, labels: tuple[str, ...]) -> str:
        return f"histogram_quantile({self.QUANTILE}, sum by ({by((*labels, n.LE))}) ({BUCKETS.format(w=window)}))"


def histogram_quantile(q: float, bounds: tuple[float, ...], counts: list[int]) -> float | None:
    """Prometheus' histogram_quantile over per-bucket (not cumulative) counts; the last count is +Inf."""
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    cumulative = 0
    for index, count in enumerate(counts):
        if cumulative + count >= rank and count:
            if index == len(bounds):
                return bounds[-1]  # in the +Inf bucket: the highest finite bound, as Prometheus does
            lower = bounds[index - 1] if index else 0.0
            return lower + (bounds[index] - lower) * (rank - cumulative) / count
        cumulative += count
    return bounds[-1]


class _Sum:
    """Sum of one outcome field (skipping spans without it)."""

    field = ""

    def new(self) -> list:
        return [0.0, 0]

    def add(self, state: list, outcome: SpanOutcome) -> bool:
        value = getattr(outcome, self.field)
        if value is None:
            return False
        state[0] += value
        state[1] += 1
        return True

    def example(self, outcome: SpanOutcome, threshold: float) -> bool:
        return bool(getattr(outcome, self.field))


class CostPerHour(_Sum):
    field = "cost_usd"

    def value(self, states: Iterable[list], window_s: float) -> float | None:
        return sum(state[0] for state in states) * 3600.0 / window_s

    def promql(self, window: str, labels: tuple[str, ...]) -> str:
        return f"sum by ({by(labels)}) ({service(f'rate({n.COST}[{window}])')}) * 3600"


class CostPerGB:
    """Summed roll-up cost over summed GB of the spans carrying data volume and a known cost."""

    def new(self) -> list:
        return [0.0, 0]

    def add(self, state: list, outcome: SpanOutcome) -> bool:
        if outcome.per_gb_usd is None or not outcome.data_bytes:
            return False
        state[0] += outcome.total_usd or 0.0
        state[1] += outcome.data_bytes
        return True

    def value(self, states: Iterable[list], window_s: float) -> float | None:
        usd = data_bytes = 0
        for cost, size in states:
            usd += cost
            data_bytes += size
        return rules.per_gb_usd(usd, data_bytes)

    def example(self, outcome: SpanOutcome, threshold: float) -> bool:
        return outcome.per_gb_usd is not None and outcome.per_gb_usd > threshold

    def promql(self, window: str, labels: tuple[str, ...]) -> str:
        usd = service(f"rate({n.DATA_COST}[{window}])")
        data_bytes = service(f"rate({n.DATA_PRICED}[{window}])")
        return f"sum by ({by(labels)}) ({usd}) / (sum by ({by(labels)}) ({data_bytes}) / 1e9)"


class Anomalies:
    def new(self) -> list:
        return [0]

    def add(self, state: list, outcome: SpanOutcome) -> bool:
        if outcome.anomaly_incident:  # once per trace, as spanmeter.anomaly.incidents counts
            state[0] += 1
        return True

    def value(self, states: Iterable[list], window_s: float) -> float | None:
        return float(sum(state[0] for state in states))

    def example(self, outcome: SpanOutcome, threshold: float) -> bool:
        return outcome.anomaly_incident

    def promql(self, window: str, labels: tuple[str, ...]) -> str:
        return f"sum by ({by(labels)}) ({service(f'increase({n.ANOMALY_INCIDENTS}[{window}])')})"


class DataQuality:
    def new(self) -> dict:
        return {}

    def add(self, state: dict, outcome: SpanOutcome) -> bool:
        if not outcome.quality:
            return False
        for dimension, score in outcome.quality.items():
            entry = state.setdefault(dimension, [0.0, 0])
            entry[0] += score
            entry[1] += 1
        return True

    def value(self, states: Iterable[dict], window_s: float) -> float | None:
        merged: dict[str, list] = {}
        for state in states:
            for dimension, (total, count) in state.items():
                entry = merged.setdefault(dimension, [0.0, 0])
                entry[0] += total
                entry[1] += count
        return min((total / count for total, count in merged.values()), default=None)

    def example(self, outcome: SpanOutcome, threshold: float) -> bool:
        return any(score < threshold for score in outcome.quality.values())

    def promql(self, window: str, labels: tuple[str, ...]) -> str:
        return f"min by ({by(labels)}) ({service(f'avg_over_time({n.DATA_QUALITY}[{window}])')})"


class Freshness:
    def new(self) -> list:
        return [None]

    def add(self, state: list, outcome: SpanOutcome) -> bool:
        age = outcome.freshness_s
        if age is None:
            return False
        if state[0] is None or age > state[0]:
            state[0] = age
        return True

    def value(self, states: Iterable[list], window_s: float) -> float | None:
        return max((state[0] for state in states if state[0] is not None), default=None)

    def example(self, outcome: SpanOutcome, threshold: float) -> bool:
        return outcome.freshness_s is not None and outcome.freshness_s > threshold

    def promql(self, window: str, labels: tuple[str, ...]) -> str:
        return f"max by ({by(labels)}) ({service(f'max_over_time({n.DATA_FRESHNESS}[{window}])')})"


class BudgetUtilization:
    """Not fed by spans: the engine reads the budget tracker when it evaluates."""

    def promql(self, window: str, labels: tuple[str, ...]) -> str:
        return f"max by ({by(labels)}) ({service(f'max_over_time({n.BUDGET_UTILIZATION}[{window}])')})"


BUDGET_UTILIZATION = "budget_utilization"
METRICS: dict[str, Any] = {
    "error_rate": ErrorRate(),
    "p95_latency_s": P95Latency(),
    "cost_usd_per_hour": CostPerHour(),
    "anomalies": Anomalies(),
    "data_quality": DataQuality(),
    "freshness_s": Freshness(),
    "cost_per_gb_usd": CostPerGB(),
    BUDGET_UTILIZATION: None,
}
"""Threshold metric -> its accumulator for spanmeter's engine (None: read from the budget tracker)."""
PROMQL = {name: (metric or BudgetUtilization()).promql for name, metric in METRICS.items()}
"""Threshold metric -> its PromQL over (window, group labels): the same quantity in Prometheus."""
