"""Where the enrichment's metric measurements go: one small interface, two implementations.

- :class:`spanmeter.processing.derived_metrics.DerivedMetrics` (in process): the
  OpenTelemetry metrics API, so views, exemplars and the SDK's readers keep working;
- :class:`spanmeter.processing.aggregator.MetricAggregator` (pipeline): spanmeter's own
  aggregation, exported as OTLP and as Prometheus text.

Measurements name a metric of ``derived_metrics.SPECS`` and give its dimension values as
a tuple in the spec's order (None = attribute absent), so both sinks build the same
series from the same call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class MetricSink(Protocol):
    exemplars: bool
    """Whether :meth:`record` uses the ``context`` argument (callers skip building it otherwise)."""

    def begin_batch(self) -> None:
        """A batch of spans starts; measurements until :meth:`end_batch` belong to it."""

    def resource(self, service: str | None) -> None:
        """The spans measured next belong to ``service`` (the pipeline serves many)."""

    def add(self, metric: str, values: tuple, amount: float) -> None:
        """Add ``amount`` to counter ``metric``."""

    def record(self, metric: str, values: tuple, amount: float, context: Any = None) -> None:
        """Record ``amount`` into histogram ``metric``; ``context`` links an exemplar to the span."""

    def set(self, metric: str, values: tuple, value: float) -> None:
        """Set gauge ``metric``."""

    def end_batch(self) -> None:
        """The batch ended (counter sums may be handed on now)."""

    def observe(self, metric: str, source: Callable[[], dict[str, float]]) -> None:
        """Read observable ``metric`` from ``source()`` (its one attribute's value -> value) when collected."""

    def overflow_counts(self) -> dict[str, int]:
        """Entries the sink's own bounded tables dropped, by table name."""
