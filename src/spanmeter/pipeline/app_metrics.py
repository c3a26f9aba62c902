"""The ``prometheus`` exporter's store of the apps' own OTLP metrics, served on its ``/metrics``
beside the derived metrics, as the Collector's prometheus exporter serves what its metrics
pipeline receives.

- Sums, gauges, histograms and summaries; cumulative points replace a series' value, delta
  sums and histograms are added up (the exporter's accumulation). Exponential histograms
  have no Prometheus text form here: they are counted as failed, not silently accepted.
- Names and labels by the Collector's rules (:mod:`spanmeter.processing.exposition`):
  point attributes, ``job`` from ``service.namespace/service.name`` and ``instance`` from
  ``service.instance.id`` of the resource, ``otel_scope_name`` of the scope.
- Bounded: at most ``max_series_per_metric`` series per metric (later ones are dropped and
  counted) and series not updated for ``metric_expiration`` seconds are forgotten (the
  Collector's default: 5 minutes), so a scrape stays small.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

from spanmeter.otlp.anyvalue import to_python
from spanmeter.pipeline import telemetry as tm
from spanmeter.pipeline.queue import Batch
from spanmeter.pipeline.sending import Delivery
from spanmeter.pipeline.telemetry import SelfMetrics, item_metric
from spanmeter.processing import exposition

MAX_SERIES_PER_METRIC = 2000
METRIC_EXPIRATION_S = 300.0
_DELTA = pb.AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_TYPES = {"sum": "counter", "gauge": "gauge", "histogram": "histogram", "summary": "summary"}

Labels = tuple[tuple[str, str], ...]


@dataclasses.dataclass
class _Series:
    value: Any  # float; (bounds, counts, sum, count) for a histogram; (quantiles, sum, count) for a summary
    updated: float


@dataclasses.dataclass
class _Metric:
    family: exposition.Family  # name, help, type; samples are rendered at scrape
    series: dict[Labels, _Series] = dataclasses.field(default_factory=dict)


def _resource_labels(attributes: dict[str, Any]) -> list[tuple[str, str]]:
    service = attributes.get("service.name")
    namespace = attributes.get("service.namespace")
    labels = []
    if service is not None:
        job = f"{namespace}/{service}" if namespace else str(service)
        labels.append(("job", exposition.label_value(job)))
    if attributes.get("service.instance.id") is not None:
        labels.append(("instance", exposition.label_value(attributes["service.instance.id"])))
    return labels


class AppMetricStore:
    """Thread-safe: receivers' threads :meth:`add`, a scrape reads :meth:`families`."""

    def __init__(self, *, max_series_per_metric: int = MAX_SERIES_PER_METRIC,
                 metric_expiration: float = METRIC_EXPIRATION_S, clock: Callable[[], float] = time.monotonic):  # fmt: skip
        self._max, self._expiration, self._clock = max_series_per_metric, metric_expiration, clock
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()
        self.dropped = 0  # points over a metric's series limit
        self.unsupported = 0  # exponential-histogram points

    def add(self, request: ExportMetricsServiceRequest) -> int:
        """Take every point of ``request``; returns how many could not be kept (see ``dropped``,
        ``unsupported``)."""
        before = self.dropped + self.unsupported
        now = self._clock()
        with self._lock:
            for resource in request.resource_metrics:
                attributes = {kv.key: to_python(kv.value) for kv in resource.resource.attributes}
                base = _resource_labels(attributes)
                for scope in resource.scope_metrics:
                    scoped = [*base, ("otel_scope_name", exposition.label_value(scope.scope.name))] if (
                        scope.scope.name) else base  # fmt: skip
                    for metric in scope.metrics:
                        self._add_metric(metric, scoped, now)
        return self.dropped + self.unsupported - before

    def _add_metric(self, metric: pb.Metric, base: list[tuple[str, str]], now: float) -> None:
        kind = metric.WhichOneof("data")
        if kind not in _TYPES:
            self.unsupported += len(getattr(metric, kind).data_points) if kind else 0
            return
        data = getattr(metric, kind)
        counter = kind == "sum" and data.is_monotonic
        name = exposition.metric_name(metric.name, metric.unit, counter)
        held = self._metrics.get(name)
        if held is None:
            family_type = "counter" if counter else ("gauge" if kind == "sum" else _TYPES[kind])
            held = self._metrics[name] = _Metric(exposition.Family(name, metric.description, family_type))
        delta = kind in ("sum", "histogram") and data.aggregation_temporality == _DELTA
        for point in data.data_points:
            labels = tuple(base) + tuple(
                (exposition.label_name(kv.key), exposition.label_value(to_python(kv.value))) for kv in point.attributes
            )
            self._put(held, labels, _value(kind, point), delta, now)

    def _put(self, held: _Metric, labels: Labels, value: Any, delta: bool, now: float) -> None:
        series = held.series.get(labels)
        if series is None:
            if len(held.series) >= self._max:
                self.dropped += 1
                return
            held.series[labels] = _Series(value, now)
            return
        series.value = _accumulate(series.value, value) if delta else value
        series.updated = now

    def families(self) -> list[exposition.Family]:
        """Every series not expired, as metric families (expired ones are forgotten here)."""
        oldest = self._clock() - self._expiration
        families = []
        with self._lock:
            for held in self._metrics.values():
                for labels in [labels for labels, s in held.series.items() if s.updated < oldest]:
                    del held.series[labels]
                family = exposition.Family(held.family.name, held.family.help, held.family.type)
                for labels, series in held.series.items():
                    family.samples += _samples(family, list(labels), series.value)
                if family.samples:
                    families.append(family)
        return families


def _value(kind: str, point: Any) -> Any:
    if kind in ("sum", "gauge"):
        return point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
    if kind == "histogram":
        return tuple(point.explicit_bounds), tuple(point.bucket_counts), point.sum, point.count
    return tuple((q.quantile, q.value) for q in point.quantile_values), point.sum, point.count


def _accumulate(held: Any, value: Any) -> Any:
    """A delta point added to what the series holds (histograms only with the same bounds)."""
    if isinstance(held, float):
        return held + value
    bounds, counts, total, count = held
    if bounds != value[0]:
        return value  # the app changed its buckets: start over from this point
    return bounds, tuple(a + b for a, b in zip(counts, value[1])), total + value[2], count + value[3]


def _samples(family: exposition.Family, labels: list[tuple[str, str]], value: Any) -> list[str]:
    name = family.name
    if family.type == "histogram":
        bounds, counts, total, count = value
        return exposition.histogram_samples(name, labels, bounds, counts, total, count)
    if family.type == "summary":
        quantiles, total, count = value
        lines = [f"{name}{exposition.labels_text([*labels, ('quantile', exposition.number(q))])} "
                 f"{exposition.number(v)}" for q, v in quantiles]  # fmt: skip
        return [*lines, f"{name}_sum{exposition.labels_text(labels)} {exposition.number(total)}",
                f"{name}_count{exposition.labels_text(labels)} {count}"]  # fmt: skip
    return [f"{name}{exposition.labels_text(labels)} {exposition.number(value)}"]


class PrometheusExporter:
    """The ``prometheus`` exporter as a pipeline's target: it keeps the metrics it is offered in an
    :class:`AppMetricStore` for scrapes (the derived metrics it renders live from the processors at
    each scrape, so they are not offered to it)."""

    takes_derived_metrics = False
    lost = 0  # nothing is queued: nothing can be left at stop

    def __init__(self, name: str, metrics: SelfMetrics, store: AppMetricStore | None = None):
        self.name, self.metrics = name, metrics
        self.store = store or AppMetricStore()

    def start(self) -> None:
        """Nothing runs in the background: the service serves the store at scrapes."""

    def has_room(self) -> bool:
        return True

    def offer(self, batch: Batch) -> tuple[Delivery, str]:
        failed = self.store.add(ExportMetricsServiceRequest.FromString(batch.payload))
        self.metrics.add(item_metric(tm.EXPORTER_SENT, batch.signal), batch.items - failed, exporter=self.name)
        if failed:
            self.metrics.add(item_metric(tm.EXPORTER_SEND_FAILED, batch.signal), failed, exporter=self.name,
                             reason="unsupported_or_series_limit")  # fmt: skip
        return Delivery.TAKEN, ""

    def drain(self, deadline: float) -> int:
        return 0
