"""A private SDK pipeline around one SpanmeterProcessor, read back in memory.

Each test gets its own TracerProvider, MeterProvider (InMemoryMetricReader) and
LoggerProvider (in-memory log exporter), so metric values and budget log records
are exactly this test's. Spans are built with explicit start/end times, so
durations (and compute cost) are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter.processing import SpanmeterProcessor
from spanmeter.settings import Settings
from support.metrics import points_by_metric

T0 = 1_772_000_000 * 10**9  # a fixed start time (ns), so durations are exact


class Pipeline:
    """TracerProvider -> SpanmeterProcessor -> in-memory exporter (+ ``extra_exporters``).

    A context manager: leaving it shuts every provider down."""

    def __init__(
        self,
        settings: Mapping[str, Any] | None = None,
        *,
        extra_exporters: Sequence[SpanExporter] = (),
        clock: Callable[[], float] | None = None,
        views: Sequence[Any] = (),
        **processor_options: Any,
    ):
        self.exporter = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader], views=views)
        self.log_exporter = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        processor_options.setdefault("schedule_delay_millis", 60_000)  # only flushes export
        self.processor = SpanmeterProcessor(
            [self.exporter, *extra_exporters],
            settings=Settings.load(settings, environ={}),
            meter_provider=self.meter_provider,
            logger_provider=self.logger_provider,
            clock=clock,
            **processor_options,
        )
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("test")

    def span(self, name: str, attributes: Mapping[str, Any], *, parent=None, seconds: float = 1.0, end=True):
        """Start (and by default end) a span lasting ``seconds`` from T0."""
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(name, context=context, attributes=dict(attributes), start_time=T0)
        if end:
            span.end(end_time=T0 + int(seconds * 1e9))
        return span

    def spans(self) -> dict[str, ReadableSpan]:
        """Flush, then the exported spans by name."""
        self.processor.force_flush()
        return {span.name: span for span in self.exporter.get_finished_spans()}

    def collect(self) -> dict[str, list[Any]]:
        """One reading: data points per metric name (cumulative; exemplars are per reading)."""
        return points_by_metric(self.reader)

    def points(self, name: str) -> list[Any]:
        """Data points of metric ``name`` as read now."""
        return self.collect().get(name, [])

    def value(self, name: str, **attributes: Any) -> float:
        """Sum (counters, gauges) or histogram sum of the points of ``name`` with these attributes."""
        total = 0.0
        for point in self.points(name):
            if all(point.attributes.get(key) == value for key, value in attributes.items()):
                total += point.sum if hasattr(point, "bucket_counts") else point.value
        return total

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()


def llm_attributes(model: str, input_tokens: Any, output_tokens: Any, provider: str = "openai", **extra: Any):
    """What an instrumented chat call puts on its span."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        **extra,
    }
