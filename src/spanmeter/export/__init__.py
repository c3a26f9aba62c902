"""Where spans and metrics leave: OTLP/JSON-lines files and Jaeger (over OTLP/gRPC).

The standard ``otlp`` and ``console`` exporters come from the OpenTelemetry SDK;
spanmeter adds the ones it registers as ``OTEL_TRACES_EXPORTER`` /
``OTEL_METRICS_EXPORTER`` names: ``spanmeter_file`` and ``jaeger``.
"""

from spanmeter.export.jaeger import JaegerSpanExporter
from spanmeter.export.otlp_file import OTLPFileMetricExporter, OTLPFileSpanExporter

__all__ = ["JaegerSpanExporter", "OTLPFileMetricExporter", "OTLPFileSpanExporter"]
