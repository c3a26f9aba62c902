"""Shared fixtures: one global SDK pipeline per test session, read back in memory.

The global TracerProvider can be set only once per process, so the session sets
it with spanmeter's own processor in front of an in-memory exporter; each test
starts with an empty exporter and reads finished (enriched) spans through
``finished_spans()``, which flushes the batcher first.
"""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter.processing import SpanmeterProcessor

_exporter = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SpanmeterProcessor(_exporter, schedule_delay_millis=50))
trace.set_tracer_provider(_provider)


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
