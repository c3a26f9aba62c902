"""Offline analysis of spanmeter's OTLP/JSON-lines files and Jaeger's traces: read them back, report on them."""

from spanmeter.report.reader import (
    SpanRecord,
    read_metric_requests,
    read_span_batches,
    read_spans,
    read_trace_requests,
)
from spanmeter.report.summary import (
    AnomalySummary,
    KindSummary,
    ModelSummary,
    render_anomalies,
    render_models,
    render_report,
    render_summary,
    summarize,
    summarize_anomalies,
    summarize_models,
)

__all__ = [
    "AnomalySummary",
    "KindSummary",
    "ModelSummary",
    "SpanRecord",
    "read_metric_requests",
    "read_span_batches",
    "read_spans",
    "read_trace_requests",
    "render_anomalies",
    "render_models",
    "render_report",
    "render_summary",
    "summarize",
    "summarize_anomalies",
    "summarize_models",
]
