"""MetricAggregator: the pipeline's metric sink, built the way the Collector's spanmetrics
connector aggregates -- without the OpenTelemetry SDK's per-measurement cost.

- A series key is the tuple of its low-cardinality dimension values (plus the service,
  when ``add_service_name`` is set: the pipeline serves many services); attribute maps
  are built only when exporting.
- Each metric holds at most ``max_series_per_metric`` series (1,000), a histogram a fifth
  of that (each of its series is ~18 lines of text): a full page stays near 30,000
  lines, so a scrape stays small whatever the cardinality. Later keys go to one overflow
  series with attribute ``otel.metric.overflow=true`` (as the SDK's cardinality limit
  does) and every measurement sent there is counted (:meth:`overflow_counts`).
- Counters are sums, histograms explicit-bucket (the buckets of
  ``derived_metrics.SPECS``), gauges the last value; all cumulative from the
  aggregator's start, timed by an injected clock (epoch ns).
- Output: :meth:`export_request` (an OTLP ``ExportMetricsServiceRequest``) and
  :meth:`prometheus_text` (text exposition named as the OpenTelemetry Prometheus exporter
  spanmeter uses in process names them, so one set of rules and dashboards reads both:
  ``.`` -> ``_``, unit suffixes, ``_total`` on counters, ``_bucket``/``_sum``/``_count`` with
  ``le``; unit-1 gauges get no ``_ratio``, which the Collector's exporter would add; and, as
  the Collector's exporter does, a series of a service carries ``job="<service.name>"``).

Thread-safe: a batch holds the lock from :meth:`begin_batch` to :meth:`end_batch`, so an
export (another thread: the exporter's timer, a Prometheus scrape) sees whole batches.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from spanmeter import semconv
from spanmeter.internal_errors import guard
from spanmeter.otlp.anyvalue import append_attributes
from spanmeter.processing import exposition
from spanmeter.processing.derived_metrics import (
    COUNTER,
    HISTOGRAM,
    OBSERVED_COUNTER,
    OBSERVED_GAUGE,
    SPECS,
    MetricSpec,
)

OVERFLOW_ATTRIBUTE = "otel.metric.overflow"
MAX_SERIES_PER_METRIC = 1000
HISTOGRAM_SHARE = 5  # a histogram metric holds max_series_per_metric / 5 series
_OVERFLOW = object()
_SERVICE_NAME = "service.name"
_CUMULATIVE = pb.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


class _Histogram:
    __slots__ = ("count", "counts", "max", "min", "sum")

    def __init__(self, buckets: int):
        self.counts = [0] * (buckets + 1)
        self.sum = 0.0
        self.count = 0
        self.min = math.inf
        self.max = -math.inf


class _Sum:
    """A counter series' running sum: mutable, so a cached reference adds without a table lookup."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class Point:
    """One exported series, in a form tests compare across sinks."""

    __slots__ = ("attributes", "metric", "value")

    def __init__(self, metric: str, attributes: dict[str, Any], value: Any):
        self.metric, self.attributes, self.value = metric, attributes, value

    def __repr__(self) -> str:
        return f"Point({self.metric!r}, {self.attributes!r}, {self.value!r})"


class MetricAggregator:
    """A :class:`~spanmeter.processing.sinks.MetricSink` with its own bounded, cumulative aggregation."""

    exemplars = False

    def __init__(
        self,
        *,
        clock: Callable[[], int] = time.time_ns,
        max_series_per_metric: int = MAX_SERIES_PER_METRIC,
        add_service_name: bool = False,
        resource_attributes: Mapping[str, Any] | None = None,
        scope_version: str | None = None,
    ):
        if max_series_per_metric < 1:
            raise ValueError("max_series_per_metric must be >= 1")
        self._clock = clock
        self._start_ns = clock()
        self._max = {
            name: max(1, max_series_per_metric // HISTOGRAM_SHARE) if spec.kind == HISTOGRAM else max_series_per_metric
            for name, spec in SPECS.items()
        }
        self._with_service = add_service_name
        self._resource_attributes = dict(resource_attributes or {})
        self._scope_version = scope_version
        self._service: str | None = None
        self._cache: dict[str, dict[tuple, Any]] = {name: {} for name in SPECS}
        self._tables: dict[str, dict[Any, Any]] = {name: {} for name in SPECS}
        self._bounds = {name: spec.buckets for name, spec in SPECS.items()}
        self._overflowed: dict[str, int] = dict.fromkeys(SPECS, 0)
        self._sources: dict[str, Callable[[], dict[str, float]]] = {}
        self._lock = threading.RLock()

    # -- the sink interface (enricher's thread) -------------------------------------------
    def begin_batch(self) -> None:
        self._lock.acquire()

    def end_batch(self) -> None:
        self._lock.release()

    def resource(self, service: str | None) -> None:
        if service != self._service:
            self._service = service
            self._cache = {name: {} for name in SPECS}

    def _slot(self, table: dict[Any, Any], metric: str, values: tuple) -> Any:
        """The key a measurement goes to: its own, or the overflow series when the metric is full."""
        key = (self._service, values) if self._with_service else values
        if key in table or len(table) < self._max[metric]:
            return key
        self._overflowed[metric] += 1
        return _OVERFLOW

    def _series(self, metric: str, values: tuple, new: Callable[[], Any]) -> Any:
        """The series object ``values`` of the current service go to, created by ``new()`` when
        absent. Own series are cached by the value tuple alone (no key tuple, one dict lookup
        per measurement); the overflow series is not, so every measurement into it is counted."""
        table = self._tables[metric]
        key = self._slot(table, metric, values)
        series = table.get(key)
        if series is None:
            series = table[key] = new()
        if key is not _OVERFLOW:
            self._cache[metric][values] = series
        return series

    def add(self, metric: str, values: tuple, amount: float) -> None:
        series = self._cache[metric].get(values)
        if series is None:
            series = self._series(metric, values, _Sum)
        series.value += amount

    def record(self, metric: str, values: tuple, amount: float, context: Any = None) -> None:
        histogram = self._cache[metric].get(values)
        if histogram is None:
            bucket_count = len(self._bounds[metric])
            histogram = self._series(metric, values, lambda: _Histogram(bucket_count))
        histogram.counts[bisect_left(self._bounds[metric], amount)] += 1
        histogram.sum += amount
        histogram.count += 1
        histogram.min = min(histogram.min, amount)
        histogram.max = max(histogram.max, amount)

    def set(self, metric: str, values: tuple, value: float) -> None:
        table = self._tables[metric]
        table[self._slot(table, metric, values)] = value

    def observe(self, metric: str, source: Callable[[], dict[str, float]]) -> None:
        self._sources[metric] = source

    def overflow_counts(self) -> dict[str, int]:
        """Measurements sent to a metric's overflow series, summed over metrics."""
        return {"metric_series": sum(self._overflowed.values())}

    def overflowed(self, metric: str) -> int:
        """Measurements of ``metric`` that went to its overflow series."""
        return self._overflowed[metric]

    # -- reading ---------------------------------------------------------------------------
    def _attributes(self, spec: MetricSpec, key: Any) -> dict[str, Any]:
        if key is _OVERFLOW:
            return {OVERFLOW_ATTRIBUTE: True}
        attributes: dict[str, Any] = {}
        if self._with_service:
            service, key = key
            if service is not None and _SERVICE_NAME not in spec.dims:
                attributes[_SERVICE_NAME] = service
        for name, value in zip(spec.dims, key):
            if value is not None:
                attributes[name] = value
        return attributes

    def _observed(self, spec: MetricSpec) -> dict[Any, float]:
        source = self._sources.get(spec.name)
        if source is None:
            return {}
        with guard(f"processing.metrics.{spec.name}"):
            return {(value,) if not self._with_service else (None, (value,)): v for value, v in source().items()}
        return {}

    def points(self) -> Iterator[Point]:
        """Every series now: counters and gauges as floats, histograms as
        (bucket counts, sum, count, min, max)."""
        with self._lock:
            for spec in SPECS.values():
                table = (
                    self._observed(spec) if spec.kind in (OBSERVED_GAUGE, OBSERVED_COUNTER) else self._tables[spec.name]
                )
                for key, value in list(table.items()):
                    if spec.kind == HISTOGRAM:
                        value = (tuple(value.counts), value.sum, value.count, value.min, value.max)
                    elif spec.kind == COUNTER:
                        value = value.value
                    yield Point(spec.name, self._attributes(spec, key), value)

    def export_request(self) -> ExportMetricsServiceRequest:
        """Every series as one cumulative OTLP request (one resource, scope ``spanmeter``)."""
        now = self._clock()
        request = ExportMetricsServiceRequest()
        resource_metrics = request.resource_metrics.add()
        resource_metrics.resource.CopyFrom(Resource())
        append_attributes(resource_metrics.resource.attributes, self._resource_attributes)
        scope_metrics = resource_metrics.scope_metrics.add()
        scope_metrics.scope.CopyFrom(
            InstrumentationScope(name=semconv.INSTRUMENTATION_SCOPE, version=self._scope_version or "")
        )
        by_metric: dict[str, Any] = {}
        for point in self.points():
            metric = by_metric.get(point.metric)
            if metric is None:
                metric = by_metric[point.metric] = self._new_metric(scope_metrics, SPECS[point.metric])
            self._add_point(metric, SPECS[point.metric], point, now)
        return request

    @staticmethod
    def _new_metric(scope_metrics: Any, spec: MetricSpec) -> Any:
        metric = scope_metrics.metrics.add(name=spec.name, unit=spec.unit, description=spec.description)
        if spec.kind == HISTOGRAM:
            metric.histogram.aggregation_temporality = _CUMULATIVE
            return metric.histogram
        if spec.kind in (COUNTER, OBSERVED_COUNTER):
            metric.sum.aggregation_temporality = _CUMULATIVE
            metric.sum.is_monotonic = True
            return metric.sum
        return metric.gauge

    def _add_point(self, data: Any, spec: MetricSpec, point: Point, now: int) -> None:
        out = data.data_points.add(start_time_unix_nano=self._start_ns, time_unix_nano=now)
        append_attributes(out.attributes, point.attributes)
        if spec.kind != HISTOGRAM:
            out.as_double = float(point.value)
            return
        counts, total, count, low, high = point.value
        out.bucket_counts.extend(counts)
        out.explicit_bounds.extend(spec.buckets)
        out.sum, out.count = total, count
        if count:
            out.min, out.max = low, high

    def families(self) -> list[exposition.Family]:
        """Every series as Prometheus metric families (see :func:`exposition.render`)."""
        families: dict[str, exposition.Family] = {}
        for point in self.points():
            spec = SPECS[point.metric]
            family = families.get(point.metric)
            if family is None:
                kind = {HISTOGRAM: "histogram", COUNTER: "counter", OBSERVED_COUNTER: "counter"}.get(spec.kind, "gauge")
                family = families[point.metric] = exposition.Family(prometheus_name(spec), spec.description, kind)
            labels = [(exposition.label_name(k), exposition.label_value(v)) for k, v in point.attributes.items()]
            service = point.attributes.get(_SERVICE_NAME)
            if service is not None:  # Prometheus keeps it with honor_labels: the rules' `service`
                labels.insert(0, ("job", exposition.label_value(service)))
            if spec.kind != HISTOGRAM:
                family.samples.append(f"{family.name}{exposition.labels_text(labels)} {exposition.number(point.value)}")
                continue
            counts, total, count, _low, _high = point.value
            family.samples += exposition.histogram_samples(family.name, labels, spec.buckets, counts, total, count)
        return list(families.values())

    def prometheus_text(self) -> str:
        """Text exposition format 0.0.4 of every series."""
        return exposition.render(self.families())


def prometheus_name(spec: MetricSpec) -> str:
    """The metric's name as the Collector's prometheus exporter writes it."""
    return exposition.metric_name(spec.name, spec.unit, spec.kind in (COUNTER, OBSERVED_COUNTER))
