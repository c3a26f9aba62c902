"""The metrics derived from finished spans: their definitions, once, and the in-process
sink that records them through the OpenTelemetry metrics API.

:data:`SPECS` fixes every metric's name, kind, unit, buckets and dimensions; both sinks
(this one, and :class:`spanmeter.processing.aggregator.MetricAggregator` in the pipeline)
build their instruments from it, so the two cannot drift apart. Dimensions are
low-cardinality (operation, provider, model, agent/tool name, data source, error.type,
team; never user.id or ids).

Operation dimension: each metric carries the operation under the attribute name the span
itself uses -- ``gen_ai.operation.name`` for GenAI work, ``spanmeter.operation.name``
(``run_stage``) for pipeline stages -- so a query written against a span's attributes
works against its metrics too. A metric point has one of the two, never both.

Why the shape of :class:`DerivedMetrics`: one SDK measurement costs 5-15 us (attribute
cleaning, hashing, dispatch), more than enriching the span. So counters are summed per
batch and added once per distinct attribute set when the batch ends (exact: sums
commute); attribute dicts are built once per distinct value tuple and reused;
histograms, which the API can only take value by value, are recorded per span -- only
into the metric that owns the value: LLM calls' durations go to the standard
``gen_ai.client.operation.duration``, other work (agents, tools, workflows, stages) to
``spanmeter.span.duration``. Duration records carry the span's context, so the SDK's
trace-based exemplar filter links buckets to traces. The SDK's cardinality limit caps
each metric and shows the rest as ``otel.metric.overflow``.

Bursts: three histogram measurements cost an LLM span's enrichment about twice what
the rest of it does, and a batch worker that falls behind the app's thread drops spans.
While :meth:`DerivedMetrics.defer` is on (the processor turns it on while a batch or
more waits behind the one being enriched), histogram values are only appended to a
compact per-series array (8 bytes each, at most :data:`MAX_DEFERRED`), and
:meth:`DerivedMetrics.record_deferred` records them once no batch waits, a chunk at a
time so a new burst finds the worker free: the same values, later, without exemplars (no
span context is kept for them).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from spanmeter import semconv
from spanmeter.internal_errors import guard
from spanmeter.processing.bounded import BoundedMap
from spanmeter.version import __version__

SPAN_DURATION_BUCKETS = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
)  # fmt: skip
COST_PER_GB_BUCKETS = (
    0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 50.0, 100.0,
)  # fmt: skip
SPAN_METRICS_DURATION_BUCKETS_MS = (
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0, 10000.0, 15000.0,
)  # fmt: skip
"""The Collector spanmetrics connector's default explicit buckets (milliseconds)."""

# Attribute names per measurement kind; values come in the same order.
LLM_DIMS = (
    semconv.GEN_AI_OPERATION_NAME, semconv.GEN_AI_PROVIDER_NAME,
    semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_RESPONSE_MODEL,
)  # fmt: skip
TOKEN_DIMS = (*LLM_DIMS, semconv.GEN_AI_TOKEN_TYPE)
LLM_DURATION_DIMS = (*LLM_DIMS, semconv.ERROR_TYPE)
OPERATION_DIMS = (semconv.GEN_AI_OPERATION_NAME, semconv.SPANMETER_OPERATION_NAME)
"""Where a span's operation goes in a metric: under the attribute name the span uses."""
COST_DIMS = (
    *LLM_DIMS, semconv.SPANMETER_OPERATION_NAME, semconv.GEN_AI_AGENT_NAME, semconv.TEAM,
    semconv.COST_SOURCE, semconv.COST_KIND,
)  # fmt: skip
UNPRICED_DIMS = (
    semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_RESPONSE_MODEL,
    semconv.METRIC_ATTR_REASON,
)  # fmt: skip
WORK_DIMS = (
    *OPERATION_DIMS, semconv.GEN_AI_AGENT_NAME, semconv.GEN_AI_TOOL_NAME,
    semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_REQUEST_MODEL, semconv.ERROR_TYPE,
)  # fmt: skip
DATA_DIMS = (*OPERATION_DIMS, semconv.DATA_SOURCE, semconv.GEN_AI_AGENT_NAME)
ANOMALY_DIMS = (semconv.METRIC_ATTR_REASON, *OPERATION_DIMS)
QUALITY_DIMS = (semconv.METRIC_ATTR_DIMENSION, semconv.DATA_SOURCE)
FRESHNESS_DIMS = (semconv.DATA_SOURCE,)
SPAN_METRICS_DIMS = ("service.name", "span.name", "span.kind", "status.code")

COUNTER, HISTOGRAM, GAUGE, OBSERVED_GAUGE, OBSERVED_COUNTER = "counter", "histogram", "gauge", "ogauge", "ocounter"
MAX_DEFERRED = 1 << 20
"""Histogram values held back while deferring (8 MB): about 350,000 LLM spans' worth; past it,
values are recorded at once again."""
_CHUNK = 512


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: str
    unit: str
    description: str
    dims: tuple[str, ...]
    buckets: tuple[float, ...] = ()


# fmt: off
SPECS: dict[str, MetricSpec] = {spec.name: spec for spec in (
    MetricSpec(semconv.GEN_AI_CLIENT_TOKEN_USAGE, HISTOGRAM, "{token}",
               "Tokens used by GenAI operations, by token type.", TOKEN_DIMS, semconv.GEN_AI_TOKEN_USAGE_BUCKETS),
    MetricSpec(semconv.GEN_AI_CLIENT_OPERATION_DURATION, HISTOGRAM, "s",
               "Duration of GenAI client operations (LLM calls).", LLM_DURATION_DIMS, semconv.GEN_AI_DURATION_BUCKETS),
    MetricSpec(semconv.METRIC_SPAN_DURATION, HISTOGRAM, "s",
               "Duration of agent, tool, workflow and pipeline-stage spans.", WORK_DIMS, SPAN_DURATION_BUCKETS),
    MetricSpec(semconv.METRIC_COST_PER_GB, HISTOGRAM, "USD/GBy",
               "Total cost per GB of data processed, per span carrying spanmeter.data.bytes and a known cost.",
               DATA_DIMS, COST_PER_GB_BUCKETS),
    MetricSpec(semconv.METRIC_COST, COUNTER, "USD", "Cost of LLM usage and priced compute time.", COST_DIMS),
    MetricSpec(semconv.METRIC_COST_UNPRICED, COUNTER, "{span}",
               "LLM spans without a cost (spanmeter.cost.source=unknown), by reason: no_price or no_usage.",
               UNPRICED_DIMS),
    MetricSpec(semconv.METRIC_COST_UPSTREAM_DRIFT, COUNTER, "{span}",
               "LLM spans whose upstream cost and spanmeter's price of the same usage differ by more than 1 %.",
               UNPRICED_DIMS[:3]),
    MetricSpec(semconv.METRIC_SPAN_ERRORS, COUNTER, "{span}", "Agent, tool, LLM and stage spans that failed.",
               WORK_DIMS),
    MetricSpec(semconv.METRIC_DATA_PROCESSED, COUNTER, "By", "Bytes processed by pipeline stages.", DATA_DIMS),
    MetricSpec(semconv.METRIC_DATA_COST, COUNTER, "USD", "Roll-up cost of spans carrying spanmeter.data.bytes and "
               "a known cost (cost per GB = this / spanmeter.data.priced in GB).", DATA_DIMS),
    MetricSpec(semconv.METRIC_DATA_PRICED, COUNTER, "By", "Bytes processed by spans whose cost is known "
               "(cost per GB's denominator).", DATA_DIMS),
    MetricSpec(semconv.METRIC_DATA_RECORDS, COUNTER, "{record}", "Records processed by pipeline stages.", DATA_DIMS),
    MetricSpec(semconv.METRIC_ANOMALIES, COUNTER, "{span}", "Spans flagged anomalous, by reason.", ANOMALY_DIMS),
    MetricSpec(semconv.METRIC_ANOMALY_INCIDENTS, COUNTER, "{incident}",
               "Traces with a span flagged anomalous, counted once per trace by its first flagged span's top reason.",
               ANOMALY_DIMS),
    MetricSpec(semconv.METRIC_DATA_QUALITY, GAUGE, "1", "Latest data-quality score (0..1) by dimension.",
               QUALITY_DIMS),
    MetricSpec(semconv.METRIC_DATA_FRESHNESS, GAUGE, "s", "Age of the newest input record.", FRESHNESS_DIMS),
    MetricSpec(semconv.METRIC_SPAN_METRICS_CALLS, COUNTER, "", "Spans, as the Collector's spanmetrics connector "
               "counts them.", SPAN_METRICS_DIMS),
    MetricSpec(semconv.METRIC_SPAN_METRICS_DURATION, HISTOGRAM, "ms", "Span durations, as the Collector's "
               "spanmetrics connector measures them.", SPAN_METRICS_DIMS, SPAN_METRICS_DURATION_BUCKETS_MS),
    # Observable metrics, read from the enricher's state when the reader collects (one attribute each).
    MetricSpec(semconv.METRIC_BUDGET_UTILIZATION, OBSERVED_GAUGE, "1",
               "LLM spend / budget per window (day, week, month; UTC).", (semconv.METRIC_ATTR_WINDOW,)),
    MetricSpec(semconv.METRIC_PROCESSING_OVERFLOW, OBSERVED_COUNTER, "{entry}",
               "Entries dropped or deferred because a bounded table of the span processor was full.",
               (semconv.METRIC_ATTR_TABLE,)),
    MetricSpec(semconv.METRIC_ROLLUP_LATE_CHILDREN, OBSERVED_COUNTER, "{span}",
               "Spans that ended after their parent was exported: cost attributed to an open ancestor, "
               "or lost to the roll-up.", (semconv.METRIC_ATTR_OUTCOME,)),
)}
# fmt: on

_CREATE = {
    COUNTER: "create_counter",
    HISTOGRAM: "create_histogram",
    GAUGE: "create_gauge",
    OBSERVED_GAUGE: "create_observable_gauge",
    OBSERVED_COUNTER: "create_observable_counter",
}


class DerivedMetrics:
    """The in-process :class:`~spanmeter.processing.sinks.MetricSink`: OpenTelemetry
    instruments, a bounded cache of attribute dicts, and per-batch counter sums.

    Worker thread only, except the observable callbacks (the reader's thread), which
    only read counters.
    """

    exemplars = True

    def __init__(self, meter_provider: metrics.MeterProvider | None = None, *, max_attribute_sets: int = 4096):
        provider = meter_provider or metrics.get_meter_provider()
        meter = provider.get_meter(semconv.INSTRUMENTATION_SCOPE, __version__)
        self._attr_cache = BoundedMap(max_attribute_sets)
        self._sums: dict[tuple[str, tuple], float] = {}
        self._sources: dict[str, Callable[[], dict[str, float]]] = {}
        self._deferred: dict[tuple[str, tuple], array] = {}
        self._deferred_count = 0
        self.deferring = False
        self._instruments: dict[str, Any] = {}
        for spec in SPECS.values():
            options: dict[str, Any] = {"unit": spec.unit, "description": spec.description}
            if spec.kind == HISTOGRAM:
                options["explicit_bucket_boundaries_advisory"] = spec.buckets
            elif spec.kind in (OBSERVED_GAUGE, OBSERVED_COUNTER):
                options["callbacks"] = [self._observer(spec.name, spec.dims[0])]
            self._instruments[spec.name] = getattr(meter, _CREATE[spec.kind])(spec.name, **options)

    def attributes(self, metric: str, values: tuple) -> dict[str, Any]:
        """The attribute dict for ``values`` of ``metric`` (None values left out), built once and reused."""
        key = (metric, values)
        found = self._attr_cache.get(key)
        if found is None:
            found = {name: value for name, value in zip(SPECS[metric].dims, values) if value is not None}
            self._attr_cache.put(key, found)
        return found

    def begin_batch(self) -> None:
        """Nothing to prepare: the SDK aggregates on its own."""

    def resource(self, service: str | None) -> None:
        """Nothing to do: the SDK's resource is the process's own."""

    def add(self, metric: str, values: tuple, amount: float) -> None:
        """Add to counter ``metric`` at the end of the batch (one SDK call per attribute set)."""
        key = (metric, values)
        self._sums[key] = self._sums.get(key, 0.0) + amount

    def defer(self, on: bool) -> None:
        """Hold histogram values back from now on (on), or record new ones at once again (off);
        :meth:`record_deferred` records what was held back."""
        self.deferring = on
        self.exemplars = not on  # the enricher builds no exemplar context for a deferred value

    def record_deferred(self, until: Callable[[], bool] = lambda: False) -> None:
        """Record the held-back values, :data:`_CHUNK` at a time, until ``until()`` says to stop
        (spans wait again: the rest stays held back for the next call)."""
        deferred = self._deferred
        while deferred and not until():
            key, amounts = next(iter(deferred.items()))
            chunk = amounts[-_CHUNK:]  # from the end: O(chunk); the order of measurements is immaterial
            del amounts[-_CHUNK:]
            if not amounts:
                del deferred[key]
            self._deferred_count -= len(chunk)
            record, attributes = self._instruments[key[0]].record, self.attributes(*key)
            for amount in chunk:
                record(amount, attributes)

    def record(self, metric: str, values: tuple, amount: float, context: Any = None) -> None:
        if self.deferring and self._deferred_count < MAX_DEFERRED:
            key = (metric, values)
            amounts = self._deferred.get(key)
            if amounts is None:
                amounts = self._deferred[key] = array("d")
            amounts.append(amount)
            self._deferred_count += 1
            return
        attributes = self._attr_cache.get((metric, values))  # attributes() inline: one call less per record
        if attributes is None:
            attributes = self.attributes(metric, values)
        self._instruments[metric].record(amount, attributes, context)

    def set(self, metric: str, values: tuple, value: float) -> None:
        self._instruments[metric].set(value, self.attributes(metric, values))

    def end_batch(self) -> None:
        """Hand the batch's counter sums to the SDK."""
        sums, self._sums = self._sums, {}
        instruments = self._instruments
        for (metric, values), amount in sums.items():
            instruments[metric].add(amount, self.attributes(metric, values))

    def observe(self, metric: str, source: Callable[[], dict[str, float]]) -> None:
        """Read observable ``metric`` from ``source()``: attribute value -> value."""
        self._sources[metric] = source

    def overflow_counts(self) -> dict[str, int]:
        return {"metric_attribute_sets": self._attr_cache.evicted}

    def _observer(self, name: str, attribute: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        fault = guard(f"processing.metrics.{name}")

        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            with fault:  # a reader callback must not fail the collection
                source = self._sources.get(name)
                values = source() if source is not None else {}
                return [Observation(value, {attribute: key}) for key, value in values.items()]
            return []

        return observe
