"""Walking metric data: the SDK's ``MetricsData`` and OTLP ``ExportMetricsServiceRequest`` nest alike."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def metrics_in(*collections: Any) -> Iterator[Any]:
    """Every metric in ``collections`` (MetricsData or export requests; None is skipped), in order."""
    for data in collections:
        for resource_metrics in data.resource_metrics if data is not None else ():
            for scope_metrics in resource_metrics.scope_metrics:
                yield from scope_metrics.metrics


def metric_names(collections: Iterable[Any]) -> set[str]:
    """Names of the metrics in ``collections`` (e.g. every request of a metrics file)."""
    return {metric.name for metric in metrics_in(*collections)}


def points_by_metric(reader: Any) -> dict[str, list[Any]]:
    """One reading of an SDK metric reader: data points per metric name."""
    found: dict[str, list[Any]] = {}
    for metric in metrics_in(reader.get_metrics_data()):
        found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def internal_error_points(reader: Any) -> dict[tuple[str, str], float]:
    """``spanmeter.internal.errors`` as read now: value per (component, error.type)."""
    return {
        (point.attributes["component"], point.attributes["error.type"]): point.value
        for point in points_by_metric(reader).get("spanmeter.internal.errors", [])
    }


def internal_error_count(reader: Any, component: str) -> float:
    """``spanmeter.internal.errors`` of ``component`` as read now, over every error type."""
    return sum(value for (name, _), value in internal_error_points(reader).items() if name == component)
