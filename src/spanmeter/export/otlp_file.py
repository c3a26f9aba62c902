"""``spanmeter_file``: spans and metrics as OTLP/JSON lines in local files.

Needs no Collector or backend, so it is the zero-configuration default, and its
files are what ``spanmeter report`` and the Collector's ``otlpjsonfile`` receiver
read. Each export call appends one ``ExportTraceServiceRequest`` (or
``ExportMetricsServiceRequest``) as one line; a lock keeps lines whole when
several exporters or threads share a file. Write failures are counted in
``spanmeter.internal.errors`` and reported as a failed export, never raised.

Both classes take no required argument because the SDK's configurator builds
exporters named in ``OTEL_*_EXPORTER`` with ``cls()``; the path then comes from
``SPANMETER_TRACES_FILE`` / ``SPANMETER_METRICS_FILE`` (their default file when the
path cannot be written, as spanmeter's start-up check says).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanmeter.export.otlp_json import metrics_line, spans_line
from spanmeter.internal_errors import guard
from spanmeter.output_files import writable_or_default
from spanmeter.settings import SETTINGS, Settings

_guard = guard("export.file")


def _path_setting(name: str) -> str:
    """The file a setting names, as the start-up check resolved it (its one warning told any problem):
    leniently, since a bad value of another setting must not stop the exporter, and its default
    file when the path cannot be written."""
    return writable_or_default(getattr(Settings.resolve().settings, name), SETTINGS[name].default)


class _JsonLinesFile:
    """Appends export requests to one file, one JSON line each, one writer at a time."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._closed = False

    def append(self, encode: Callable[[Any], str], data: Any) -> bool:
        """Write ``encode(data)`` (one line); False (counted, not raised) when it could not be."""
        if self._closed:
            return False
        with _guard:  # a full disk must not crash the app
            line = encode(data)
            with self._lock, open(self.path, "a", encoding="utf-8") as file:
                file.write(line)
            return True
        return False

    def close(self) -> None:
        self._closed = True


class OTLPFileSpanExporter(SpanExporter):
    """Appends each batch of spans to ``path`` (default: ``SPANMETER_TRACES_FILE``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None):
        self.file = _JsonLinesFile(path if path is not None else _path_setting("traces_file"))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.file.append(spans_line, spans):
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.file.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export is written before it returns


class OTLPFileMetricExporter(MetricExporter):
    """Appends each metrics collection to ``path`` (default: ``SPANMETER_METRICS_FILE``).

    Temporality and aggregation preferences are MetricExporter's (cumulative by default).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, **preferences):
        super().__init__(**preferences)
        self.file = _JsonLinesFile(path if path is not None else _path_setting("metrics_file"))

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs) -> MetricExportResult:
        if self.file.append(metrics_line, metrics_data):
            return MetricExportResult.SUCCESS
        return MetricExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        self.file.close()

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True
