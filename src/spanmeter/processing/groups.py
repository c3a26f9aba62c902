"""The one bounded group table the views aggregate span facts with: ``spanmeter report``
(per dimension, over a file) and the Insights store (per dimension and time bucket).

Each dimension counts its own unit of work (:func:`units`), so a row means the same in
every view:

* ``model``: LLM calls, by the model that answered (else the one requested; ``?``);
* ``agent``: the LLM calls of the agent's runs (each call belongs to its innermost
  enclosing agent run), with their own cost: an agent's cost is what its calls cost;
* ``tool``: tool calls, with their own cost;
* ``user``, ``team``, ``service``: the LLM calls attributed to them, with their own cost;
  calls outside any agent run share the agent row ``""``;
* ``source``: spans naming a ``spanmeter.data.source`` (stages), with their roll-up cost.

Spans carrying data volume with a known cost (``spanmeter.cost.per_gb_usd`` set) also add
their bytes and roll-up cost to the row of each key they have, so a row's cost per GB is the
ratio of sums (:func:`spanmeter.rules.per_gb_usd` of summed cost and bytes), as everywhere.

A table holds at most ``max_keys`` rows; later keys share the row :data:`OVERFLOW_KEY`
(the OpenTelemetry SDK's overflow attribute) and are counted in ``overflowed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from spanmeter import rules, semconv
from spanmeter.processing.outcome import SpanOutcome
from spanmeter.processing.sketch import EXACT_LIMIT, LatencySketch

DIMENSIONS = ("model", "agent", "tool", "user", "team", "source", "service")
OVERFLOW_KEY = "otel.metric.overflow"
UNPRICED_REASONS = (semconv.UNPRICED_NO_USAGE, semconv.UNPRICED_NO_PRICE)
UNKNOWN_MODEL = "?"
UNKNOWN_SERVICE = "unknown_service"
NONE_KEY = ""
"""The agent key of calls outside any agent run."""
MAX_KEYS = 1000
PERCENTILES = (0.50, 0.90, 0.95, 0.99)
"""The latency percentiles of a row (p50, p90, p95, p99)."""


def _add(total: float | None, value: float | None) -> float | None:
    if value is None:
        return total
    return value if total is None else total + value


class Group:
    """Running sums of one row (one key of one dimension)."""

    __slots__ = (
        "anomalies", "cache_read_tokens", "calls", "cost_usd", "data_bytes", "data_cost_usd", "error_cost_usd",
        "errors", "input_tokens", "latency", "output_tokens", "provider", "unpriced",
    )  # fmt: skip

    def __init__(self, latency: bool = True, *, exact_limit: int = EXACT_LIMIT) -> None:
        self.calls = self.errors = self.anomalies = 0
        self.input_tokens = self.output_tokens = self.cache_read_tokens = self.data_bytes = 0
        self.latency = LatencySketch(exact_limit) if latency else None
        self.cost_usd: float | None = None
        """None until a unit with a known cost is added (unknown is not free)."""
        self.error_cost_usd = 0.0
        self.data_cost_usd: float | None = None
        self.unpriced = dict.fromkeys(UNPRICED_REASONS, 0)
        self.provider: str | None = None

    def add(self, outcome: SpanOutcome, cost: float | None) -> None:
        """One unit of work of this row, costing ``cost``."""
        self.calls += 1
        if self.latency is not None:
            self.latency.add(outcome.duration_s)
        self.input_tokens += outcome.input_tokens or 0
        self.output_tokens += outcome.output_tokens or 0
        self.cache_read_tokens += outcome.cache_read_tokens or 0
        self.cost_usd = _add(self.cost_usd, cost)
        if outcome.error_type is not None:
            self.errors += 1
            self.error_cost_usd += cost or 0.0
        if outcome.anomaly_reasons:
            self.anomalies += 1
        if outcome.unpriced_reason in self.unpriced:
            self.unpriced[outcome.unpriced_reason] += 1
        if self.provider is None:
            self.provider = outcome.provider

    def add_data(self, outcome: SpanOutcome) -> None:
        """A span's data volume and the roll-up cost of processing it (for cost per GB)."""
        self.data_bytes += outcome.data_bytes or 0
        self.data_cost_usd = _add(self.data_cost_usd, outcome.total_usd)

    def merge(self, other: Group) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.anomalies += other.anomalies
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.data_bytes += other.data_bytes
        self.cost_usd = _add(self.cost_usd, other.cost_usd)
        self.error_cost_usd += other.error_cost_usd
        self.data_cost_usd = _add(self.data_cost_usd, other.data_cost_usd)
        for reason, count in other.unpriced.items():
            self.unpriced[reason] += count
        if self.latency is not None and other.latency is not None:
            self.latency.merge(other.latency)
        self.provider = self.provider or other.provider

    @property
    def unpriced_calls(self) -> int:
        return sum(self.unpriced.values())

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def cost_per_gb_usd(self) -> float | None:
        """Roll-up cost of the data-carrying spans per GB of their data (ratio of sums)."""
        return rules.per_gb_usd(self.data_cost_usd, self.data_bytes)


class GroupTable:
    """The rows of one dimension: at most ``max_keys`` plus the overflow row."""

    def __init__(self, max_keys: int = MAX_KEYS, *, latency: bool = True, exact_limit: int = EXACT_LIMIT):
        self.max_keys = max_keys
        self.latency = latency
        self.exact_limit = exact_limit
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
                found = self.groups[key] = Group(self.latency, exact_limit=self.exact_limit)
        return found

    def merge_into(self, rows: dict[str, Group]) -> None:
        """Add this table's rows to ``rows`` (a window's rows across time buckets)."""
        for key, group in self.groups.items():
            target = rows.get(key)
            if target is None:
                target = rows[key] = Group(self.latency, exact_limit=self.exact_limit)
            target.merge(group)

    def rows(self) -> list[tuple[str, Group]]:
        return sorted_rows(self.groups)


def sorted_rows(groups: dict[str, Group]) -> list[tuple[str, Group]]:
    """Most expensive first, then most called, then by key."""
    return sorted(groups.items(), key=lambda item: (-(item[1].cost_usd or 0.0), -item[1].calls, item[0]))


def _attributed(outcome: SpanOutcome) -> Iterator[tuple[str, str]]:
    """The (dimension, key) pairs an LLM call or a data span is attributed to: calls outside any
    agent run share the agent row ``""`` (:data:`NONE_KEY`), so cost by agent adds up to the total."""
    yield "agent", outcome.agent or NONE_KEY
    if outcome.user is not None:
        yield "user", outcome.user
    if outcome.team is not None:
        yield "team", outcome.team
    yield "service", outcome.service or UNKNOWN_SERVICE


def units(outcome: SpanOutcome) -> Iterator[tuple[str, str, float | None]]:
    """(dimension, key, cost) for each dimension this span is a unit of work of."""
    kind = outcome.kind
    if kind == "llm":
        yield "model", outcome.model or UNKNOWN_MODEL, outcome.cost_usd
        for name, key in _attributed(outcome):
            yield name, key, outcome.cost_usd
    elif kind == "tool":
        yield "tool", outcome.tool or outcome.span_name, outcome.own_usd
    if outcome.source is not None:
        yield "source", outcome.source, outcome.total_usd if outcome.total_usd is not None else outcome.own_usd


def data_keys(outcome: SpanOutcome) -> Iterator[tuple[str, str]]:
    """(dimension, key) whose cost per GB this span's data counts in; none without a known cost."""
    if outcome.per_gb_usd is None or not outcome.data_bytes:
        return
    if outcome.source is not None:
        yield "source", outcome.source
    yield from _attributed(outcome)


def add_outcome(tables: dict[str, GroupTable], outcome: SpanOutcome) -> None:
    """Add one span's facts to the tables of the dimensions present in ``tables``."""
    for name, key, cost in units(outcome):
        table = tables.get(name)
        if table is not None:
            table.group(key).add(outcome, cost)
    if outcome.per_gb_usd is None:  # the common case, without a generator
        return
    for name, key in data_keys(outcome):
        table = tables.get(name)
        if table is not None:
            table.group(key).add_data(outcome)


def row_json(key: str, group: Group) -> dict[str, Any]:
    """The ``--json`` row of a group."""
    latency = group.latency
    p50, p90, p95, p99 = latency.quantiles(PERCENTILES) if latency is not None else [None] * len(PERCENTILES)
    return {
        "key": key,
        "calls": group.calls,
        "errors": group.errors,
        "error_rate": group.error_rate,
        "p50_s": p50,
        "p90_s": p90,
        "p95_s": p95,
        "p99_s": p99,
        "input_tokens": group.input_tokens,
        "output_tokens": group.output_tokens,
        "cost_usd": group.cost_usd,
        "unpriced_calls": group.unpriced_calls,
        "data_bytes": group.data_bytes,
        "cost_per_gb_usd": group.cost_per_gb_usd,
        "anomalies": group.anomalies,
    }
