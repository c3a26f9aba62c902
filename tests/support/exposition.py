"""An instrumented process in miniature: spans go through spanmeter's SpanmeterProcessor, metrics
leave through the real OpenTelemetry Prometheus exporter (a private registry), served on 127.0.0.1."""

from __future__ import annotations

from typing import Self

from opentelemetry import trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from prometheus_client import CollectorRegistry, generate_latest, start_http_server

from spanmeter.processing import SpanmeterProcessor
from spanmeter.settings import Settings

_START_NS = 1_700_000_000 * 10**9


class InstrumentedApp:
    """``span(...)`` records a finished span with a chosen duration; ``url`` serves /metrics once ``serve()`` ran."""

    def __init__(self, **settings):
        resource = Resource.create({"service.name": "spanmeter-app"})
        self.registry = CollectorRegistry()
        self.meter_provider = MeterProvider([PrometheusMetricReader(registry=self.registry)], resource=resource)
        self.tracer_provider = TracerProvider(resource=resource)
        self.processor = SpanmeterProcessor(
            InMemorySpanExporter(), settings=Settings.load(settings, environ={}), meter_provider=self.meter_provider
        )
        self.tracer_provider.add_span_processor(self.processor)
        self.tracer = self.tracer_provider.get_tracer("spanmeter-tests")
        self._clock_ns = _START_NS
        self._server = None
        self.url = ""

    def span(self, name: str, attributes: dict, *, duration_s: float = 0.01, error: str | None = None, parent=None):
        """A finished span; its start/end times are a private clock's, so durations are exact."""
        start = self._clock_ns
        self._clock_ns += int(duration_s * 1e9) + 1000
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(name, context=context, attributes=attributes, start_time=start)
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR))
        return span, start + int(duration_s * 1e9)

    def record(self, name: str, attributes: dict, **kwargs) -> None:
        span, end = self.span(name, attributes, **kwargs)
        span.end(end_time=end)

    def flush(self) -> None:
        self.tracer_provider.force_flush()

    def exposition(self) -> str:
        self.flush()
        return generate_latest(self.registry).decode()

    def serve(self) -> str:
        self._server, _ = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        return self.url

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
