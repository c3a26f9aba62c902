"""Offline analysis of spanmeter's OTLP/JSON-lines files: read them back, summarize them."""

from spanmeter.report.reader import SpanRecord, read_metric_requests, read_spans, read_trace_requests
from spanmeter.report.summary import KindSummary, render_summary, summarize

__all__ = [
    "KindSummary",
    "SpanRecord",
    "read_metric_requests",
    "read_spans",
    "read_trace_requests",
    "render_summary",
    "summarize",
]
