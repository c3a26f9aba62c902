"""Metrics derived from finished spans, through the OpenTelemetry metrics API.

They leave through whatever reader the MeterProvider has (OTLP, or Prometheus'
/metrics with ``OTEL_METRICS_EXPORTER=prometheus``). Dimensions are low-cardinality
(operation, provider, model, agent/tool name, data source, error.type, team; never
user.id or ids); the SDK's cardinality limit caps each metric and shows the rest as
``otel.metric.overflow``.

Why the shape: one SDK measurement costs 5-15 us (attribute cleaning, hashing,
dispatch), more than enriching the span. So counters are summed per batch and
added once per distinct attribute set when the batch ends (exact: sums commute);
attribute dicts are built once per distinct value tuple and reused; histograms,
which the API can only take value by value, are recorded per span -- only into
the metric that owns the value: LLM calls' durations go to the standard
``gen_ai.client.operation.duration``, other work (agents, tools, workflows,
stages) to ``spanmeter.span.duration``. Duration records carry the span's context,
so the SDK's trace-based exemplar filter links buckets to traces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from spanmeter import semconv
from spanmeter.internal_errors import record_internal_error
from spanmeter.processing.bounded import BoundedMap
from spanmeter.version import __version__

SPAN_DURATION_BUCKETS = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
)  # fmt: skip
COST_PER_GB_BUCKETS = (
    0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 50.0, 100.0,
)  # fmt: skip

# Attribute names per measurement kind; values come in the same order.
LLM_DIMS = (
    semconv.GEN_AI_OPERATION_NAME, semconv.GEN_AI_PROVIDER_NAME,
    semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_RESPONSE_MODEL,
)  # fmt: skip
TOKEN_DIMS = (*LLM_DIMS, semconv.GEN_AI_TOKEN_TYPE)
LLM_DURATION_DIMS = (*LLM_DIMS, semconv.ERROR_TYPE)
COST_DIMS = (
    *LLM_DIMS, semconv.GEN_AI_AGENT_NAME, semconv.TEAM, semconv.COST_SOURCE, semconv.COST_KIND,
)  # fmt: skip
UNPRICED_DIMS = (semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_RESPONSE_MODEL)
WORK_DIMS = (
    semconv.GEN_AI_OPERATION_NAME, semconv.GEN_AI_AGENT_NAME, semconv.GEN_AI_TOOL_NAME,
    semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_REQUEST_MODEL, semconv.ERROR_TYPE,
)  # fmt: skip
DATA_DIMS = (semconv.GEN_AI_OPERATION_NAME, semconv.DATA_SOURCE, semconv.GEN_AI_AGENT_NAME)
ANOMALY_DIMS = (semconv.METRIC_ATTR_REASON, semconv.GEN_AI_OPERATION_NAME)
QUALITY_DIMS = (semconv.METRIC_ATTR_DIMENSION, semconv.DATA_SOURCE)
FRESHNESS_DIMS = (semconv.DATA_SOURCE,)

BUDGETS = semconv.METRIC_BUDGET_UTILIZATION
OVERFLOW = semconv.METRIC_PROCESSING_OVERFLOW
LATE_CHILDREN = semconv.METRIC_ROLLUP_LATE_CHILDREN
# Observable metrics, read from the enricher's state when the reader collects:
# name -> (meter method, unit, the one attribute, description).
_OBSERVED = {
    BUDGETS: (
        "create_observable_gauge", "1", semconv.METRIC_ATTR_WINDOW,
        "LLM spend / budget per window (day, week, month; UTC).",
    ),
    OVERFLOW: (
        "create_observable_counter", "{entry}", semconv.METRIC_ATTR_TABLE,
        "Entries dropped or deferred because a bounded table of the span processor was full.",
    ),
    LATE_CHILDREN: (
        "create_observable_counter", "{span}", semconv.METRIC_ATTR_OUTCOME,
        "Spans that ended after their parent was exported: cost attributed to an open ancestor, "
        "or lost to the roll-up.",
    ),
}  # fmt: skip


class DerivedMetrics:
    """The instruments, a bounded cache of attribute dicts, and per-batch counter sums.

    Worker thread only, except the observable callbacks (the reader's thread), which
    only read counters.
    """

    def __init__(self, meter_provider: metrics.MeterProvider | None = None, *, max_attribute_sets: int = 4096):
        provider = meter_provider or metrics.get_meter_provider()
        meter = provider.get_meter(semconv.INSTRUMENTATION_SCOPE, __version__)
        self._attr_cache = BoundedMap(max_attribute_sets)
        self._sums: dict[tuple[Any, tuple, tuple], float] = {}
        self._observers: list[tuple[str, Callable[[], Iterable[tuple[float, dict]]]]] = []

        self.token_usage = meter.create_histogram(
            semconv.GEN_AI_CLIENT_TOKEN_USAGE, unit="{token}",
            description="Tokens used by GenAI operations, by token type.",
            explicit_bucket_boundaries_advisory=semconv.GEN_AI_TOKEN_USAGE_BUCKETS,
        )  # fmt: skip
        self.operation_duration = meter.create_histogram(
            semconv.GEN_AI_CLIENT_OPERATION_DURATION, unit="s",
            description="Duration of GenAI client operations (LLM calls).",
            explicit_bucket_boundaries_advisory=semconv.GEN_AI_DURATION_BUCKETS,
        )  # fmt: skip
        self.span_duration = meter.create_histogram(
            semconv.METRIC_SPAN_DURATION, unit="s",
            description="Duration of agent, tool, workflow and pipeline-stage spans.",
            explicit_bucket_boundaries_advisory=SPAN_DURATION_BUCKETS,
        )  # fmt: skip
        self.cost_per_gb = meter.create_histogram(
            semconv.METRIC_COST_PER_GB, unit="USD/GBy",
            description="Total cost per GB of data processed, per span carrying spanmeter.data.bytes.",
            explicit_bucket_boundaries_advisory=COST_PER_GB_BUCKETS,
        )  # fmt: skip
        self.cost = meter.create_counter(
            semconv.METRIC_COST, unit="USD", description="Cost of LLM usage and priced compute time."
        )
        self.unpriced = meter.create_counter(
            semconv.METRIC_COST_UNPRICED, unit="{span}",
            description="LLM spans with token usage but no known price (spanmeter.cost.source=unknown).",
        )  # fmt: skip
        self.errors = meter.create_counter(
            semconv.METRIC_SPAN_ERRORS, unit="{span}", description="Agent, tool, LLM and stage spans that failed."
        )
        self.data_processed = meter.create_counter(
            semconv.METRIC_DATA_PROCESSED, unit="By", description="Bytes processed by pipeline stages."
        )
        self.data_records = meter.create_counter(
            semconv.METRIC_DATA_RECORDS, unit="{record}", description="Records processed by pipeline stages."
        )
        self.anomalies = meter.create_counter(
            semconv.METRIC_ANOMALIES, unit="{span}", description="Spans flagged anomalous, by reason."
        )
        self.data_quality = meter.create_gauge(
            semconv.METRIC_DATA_QUALITY, unit="1", description="Latest data-quality score (0..1) by dimension."
        )
        self.data_freshness = meter.create_gauge(
            semconv.METRIC_DATA_FRESHNESS, unit="s", description="Age of the newest input record."
        )
        self._sources: dict[str, Callable[[], dict[str, float]]] = {}
        for name, (create, unit, attribute, description) in _OBSERVED.items():
            getattr(meter, create)(
                name, callbacks=[self._observer(name, attribute)], unit=unit, description=description
            )

    # -- attribute sets -------------------------------------------------------
    def attributes(self, names: tuple[str, ...], values: tuple) -> dict[str, Any]:
        """The attribute dict for ``values`` (None values left out), built once and reused."""
        key = (names, values)
        found = self._attr_cache.get(key)
        if found is None:
            found = {name: value for name, value in zip(names, values) if value is not None}
            self._attr_cache.put(key, found)
        return found

    # -- counters, summed per batch ---------------------------------------------
    def add(self, counter: Any, names: tuple[str, ...], values: tuple, amount: float) -> None:
        """Add to ``counter`` at the end of the batch (one SDK call per attribute set)."""
        key = (counter, names, values)
        self._sums[key] = self._sums.get(key, 0.0) + amount

    def flush(self) -> None:
        """Hand the batch's counter sums to the SDK."""
        sums, self._sums = self._sums, {}
        for (counter, names, values), amount in sums.items():
            counter.add(amount, self.attributes(names, values))

    # -- observables -------------------------------------------------------------
    def observe(self, name: str, source: Callable[[], dict[str, float]]) -> None:
        """Read observable metric ``name`` (a key of ``_OBSERVED``) from ``source()``: attribute value -> value."""
        self._sources[name] = source

    def attribute_cache_evictions(self) -> int:
        return self._attr_cache.evicted

    def _observer(self, name: str, attribute: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            try:
                source = self._sources.get(name)
                values = source() if source is not None else {}
                return [Observation(value, {attribute: key}) for key, value in values.items()]
            except Exception as exc:  # noqa: BLE001 - a reader callback must not fail the collection
                record_internal_error(f"processing.metrics.{name}", exc)
                return []

        return observe
