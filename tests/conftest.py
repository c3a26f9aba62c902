"""Shared fixtures: one global SDK pipeline per test session, read back in memory.

The global providers can be set only once per process, so the session sets the
TracerProvider with spanmeter's own processor in front of an in-memory exporter; each test
starts with an empty exporter and reads finished (enriched) spans through
``finished_spans()``, which flushes the batcher first.
"""

from __future__ import annotations

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter.processing import SpanmeterProcessor
from support.internal_errors import fresh_internal_errors, pytest_runtest_call

# A fixture and a hook defined in tests/support, applied here to every test.
__all__ = ["fresh_internal_errors", "pytest_runtest_call"]

_metric_reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[_metric_reader]))
_exporter = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SpanmeterProcessor(_exporter, schedule_delay_millis=50))
trace.set_tracer_provider(_provider)


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    """Reader of the global MeterProvider (cumulative: compare before/after values)."""
    return _metric_reader


@pytest.fixture
def tracer_provider() -> TracerProvider:
    return _provider


@pytest.fixture
def finished_spans():
    """Call it to flush and get the spans finished so far in this test."""
    _provider.force_flush()
    _exporter.clear()

    def read():
        _provider.force_flush()
        return list(_exporter.get_finished_spans())

    return read
