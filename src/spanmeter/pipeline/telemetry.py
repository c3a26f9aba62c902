"""The pipeline's own telemetry: self-metrics named as the Collector's, and structured log lines.

Counters and gauges are kept here (no OpenTelemetry SDK in the hot path) and rendered
as Prometheus text for ``service.telemetry.metrics``' pull reader. Log lines are one
JSON object each, on the ``spanmeter.pipeline`` logger: start, stop, and every change
of a downstream between up and down; :class:`EventFormatter` puts other loggers'
records (budget crossings) in the same shape.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

_logger = logging.getLogger("spanmeter.pipeline")

RECEIVER_ACCEPTED = "otelcol_receiver_accepted_spans"
RECEIVER_REFUSED = "otelcol_receiver_refused_spans"
EXPORTER_SENT = "otelcol_exporter_sent_spans"
EXPORTER_SEND_FAILED = "otelcol_exporter_send_failed_spans"
EXPORTER_ENQUEUE_FAILED = "otelcol_exporter_enqueue_failed_spans"
QUEUE_SIZE = "otelcol_exporter_queue_size"
QUEUE_CAPACITY = "otelcol_exporter_queue_capacity"
# Signal -> the Collector's item word in its metric names (spans, metric_points, log_records).
ITEM = {"traces": "spans", "metrics": "metric_points", "logs": "log_records"}

Labels = tuple[tuple[str, str], ...]


def log_event(event: str, level: int = logging.INFO, **fields: object) -> None:
    """One structured line: ``{"event": ..., **fields}``."""
    _logger.log(level, json.dumps({"event": event, **fields}, default=str, separators=(",", ":")))


class EventFormatter(logging.Formatter):
    """Every line on the pipeline's stderr is one JSON object: its own events as they are, and any
    other logger's record (a budget crossing, a library's warning) as ``{"event": "log", ...}`` with
    the record's ``spanmeter.*`` attributes, so a log shipper parses every line the same way."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == _logger.name:
            return record.getMessage()
        fields = {key: value for key, value in vars(record).items() if key.startswith("spanmeter.")}
        event = {"event": "log", "logger": record.name, "level": record.levelname, "message": record.getMessage()}
        if record.exc_info:
            event["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps({**event, **fields}, default=str, separators=(",", ":"))


def item_metric(name: str, signal: str) -> str:
    """``otelcol_receiver_accepted_spans`` -> ``..._metric_points`` / ``..._log_records`` by signal."""
    return name.replace("_spans", "_" + ITEM[signal])


class SelfMetrics:
    """Monotonic counters and read-on-scrape gauges, one lock, Prometheus text out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = {}
        self._gauges: dict[tuple[str, Labels], Callable[[], float]] = {}

    def add(self, name: str, amount: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + amount

    def value(self, name: str, **labels: str) -> float:
        """The counter's value summed over series whose labels include ``labels`` (tests, health)."""
        wanted = set(labels.items())
        with self._lock:
            return sum(v for (n, ls), v in self._counters.items() if n == name and wanted <= set(ls))

    def gauge(self, name: str, read: Callable[[], float], **labels: str) -> None:
        with self._lock:
            self._gauges[(name, tuple(sorted(labels.items())))] = read

    def prometheus_text(self) -> str:
        with self._lock:
            counters = sorted(self._counters.items())
            gauges = sorted(self._gauges.items(), key=lambda item: item[0])
        lines: list[str] = []
        typed: set[str] = set()
        for (name, labels), value in counters:
            _series(lines, typed, f"{name}_total", "counter", labels, value)
        for (name, labels), read in gauges:
            _series(lines, typed, name, "gauge", labels, read())
        return "\n".join(lines) + "\n"


def _series(lines: list[str], typed: set[str], name: str, kind: str, labels: Labels, value: float) -> None:
    if name not in typed:
        typed.add(name)
        lines.append(f"# TYPE {name} {kind}")
    rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    lines.append(f"{name}{{{rendered}}} {value:g}" if rendered else f"{name} {value:g}")


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
