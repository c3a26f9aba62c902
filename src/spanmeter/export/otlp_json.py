"""OTLP/JSON lines from SDK data: the shape the Collector's file exporter writes, one export request per line.

Writing SDK spans and metrics goes through the OpenTelemetry project's own encoder
(``opentelemetry-exporter-otlp-json-common``), which produces the specification's JSON
mapping (hex ids) directly. Requests that are protobuf already are written, and every
OTLP/JSON line is read back, by the wire package: :mod:`spanmeter.otlp.json_codec`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from opentelemetry.exporter.otlp.json.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.trace import ReadableSpan

_COMPACT = {"separators": (",", ":")}


def spans_line(spans: Sequence[ReadableSpan]) -> str:
    """One OTLP/JSON line (with the trailing newline): an ExportTraceServiceRequest of ``spans``."""
    return json.dumps(encode_spans(spans).to_dict(), **_COMPACT) + "\n"


def metrics_line(data: MetricsData) -> str:
    """One OTLP/JSON line (with the trailing newline): an ExportMetricsServiceRequest of ``data``."""
    return json.dumps(encode_metrics(data).to_dict(), **_COMPACT) + "\n"
