"""SpanmeterProcessor: an enriched copy per span, fan-out that survives a broken exporter
or enricher, and shutdown/force_flush that export everything queued."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from spanmeter import internal_errors
from spanmeter.processing import EnrichedSpan, Enricher
from support.metrics import internal_error_count
from support.processing import Pipeline, llm_attributes


class RaisingExporter(SpanExporter):
    def __init__(self) -> None:
        self.flushed = 0

    def export(self, spans):
        raise ConnectionError("collector down")

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.flushed += 1
        raise ConnectionError("collector down")


class FailingExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.FAILURE


class FlushCountingExporter(InMemorySpanExporter):
    def __init__(self) -> None:
        super().__init__()
        self.flushed = 0

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.flushed += 1
        return True


def test_enriched_copy_keeps_everything_the_span_had():
    with Pipeline() as p:
        span = p.span("chat", llm_attributes("gpt-4o-mini", 100, 10, custom="kept"), end=False)
        span.add_event("retry", {"attempt": 1})
        span.set_status(Status(StatusCode.ERROR, "upstream 500"))
        span.end()
        exported = p.spans()["chat"]
    assert exported is not span
    assert exported.context == span.context and exported.parent == span.parent
    assert (exported.start_time, exported.end_time) == (span.start_time, span.end_time)
    assert exported.status.status_code is StatusCode.ERROR and exported.status.description == "upstream 500"
    assert [event.name for event in exported.events] == ["retry"]
    assert exported.resource is span.resource
    assert exported.instrumentation_scope == span.instrumentation_scope
    assert exported.attributes["custom"] == "kept"
    assert exported.attributes["spanmeter.cost.source"] == "genai-prices"
    assert span.attributes.get("spanmeter.cost.source") is None  # the original is untouched


def test_spans_with_nothing_to_add_pass_through_as_they_are():
    with Pipeline() as p:
        p.span("plain", {"http.route": "/"})
        exported = p.spans()["plain"]
    assert not isinstance(exported, EnrichedSpan) and dict(exported.attributes) == {"http.route": "/"}


@pytest.mark.expect_internal_errors
def test_a_raising_exporter_does_not_starve_the_others(metric_reader):
    before = internal_error_count(metric_reader, "export")
    broken, good = RaisingExporter(), FlushCountingExporter()
    with Pipeline(extra_exporters=[broken, FailingExporter(), good]) as p:
        p.span("chat", llm_attributes("gpt-4o-mini", 100, 10))  # ending it raises nothing
        assert p.processor.force_flush() is False  # a downstream flush failed: reported, not raised
        assert set(p.spans()) == {"chat"}
        (copy,) = good.get_finished_spans()
        assert copy.attributes["spanmeter.cost.source"] == "genai-prices"
        assert broken.flushed == good.flushed == 2  # each flush reaches every exporter
    assert internal_error_count(metric_reader, "export") == before + 1


@pytest.mark.expect_internal_errors
def test_a_raising_enricher_still_exports_the_raw_spans(metric_reader):
    class BrokenEnricher(Enricher):
        def enrich(self, spans):
            raise MemoryError("enrichment broke")

    before = internal_error_count(metric_reader, "processing.enrich")
    with Pipeline(enricher=BrokenEnricher()) as p:
        p.span("chat", llm_attributes("gpt-4o-mini", 100, 10))
        exported = p.spans()["chat"]
    assert not isinstance(exported, EnrichedSpan) and exported.attributes["gen_ai.usage.input_tokens"] == 100
    assert internal_error_count(metric_reader, "processing.enrich") == before + 1


@pytest.mark.expect_internal_errors
def test_a_span_that_breaks_enrichment_is_exported_as_it_was(monkeypatch):
    internal_errors.reset_for_tests()
    original = Enricher._enrich

    def fragile(self, span):
        if span.name == "poison":
            raise KeyError("unexpected shape")
        return original(self, span)

    monkeypatch.setattr(Enricher, "_enrich", fragile)
    with Pipeline() as p:
        p.span("poison", llm_attributes("gpt-4o-mini", 100, 10))
        p.span("chat", llm_attributes("gpt-4o-mini", 100, 10))
        spans = p.spans()
    assert not isinstance(spans["poison"], EnrichedSpan)
    assert spans["chat"].attributes["spanmeter.cost.source"] == "genai-prices"
    assert internal_errors.counts[("processing.enrich", "KeyError")] == 1


@pytest.mark.parametrize("finish", ["shutdown", "force_flush"])
def test_shutdown_and_force_flush_export_everything_queued(finish):
    with Pipeline(max_queue_size=5000, max_export_batch_size=4000) as p:
        for i in range(3000):
            p.span(f"chat {i}", llm_attributes("gpt-4o-mini", 100 + i, 10))
        assert p.exporter.get_finished_spans() == ()  # all still queued (no timer export yet)
        getattr(p.processor, finish)()
        spans = p.exporter.get_finished_spans()
        assert len(spans) == 3000
        assert all(span.attributes["spanmeter.cost.source"] == "genai-prices" for span in spans)
        assert p.value("gen_ai.client.token.usage", **{"gen_ai.token.type": "input"}) == sum(
            100 + i for i in range(3000)
        )


class BlockingExporter(SpanExporter):
    """Holds the batch worker inside export() until released: the queue behind it fills up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported = 0

    def export(self, spans):
        self.entered.set()
        self.release.wait(30)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


def test_spans_dropped_by_a_full_queue_are_counted_warned_once_and_summarised(caplog):
    caplog.set_level("WARNING", logger="spanmeter")
    blocking = BlockingExporter()
    with Pipeline(extra_exporters=[blocking], max_queue_size=8, max_export_batch_size=8) as pipeline:
        for i in range(8):  # a full batch wakes the worker, which then blocks in export
            pipeline.span(f"first-{i}", {})
        assert blocking.entered.wait(10)
        for i in range(8 + 20):  # the queue takes 8 more, then drops 20
            pipeline.span(f"next-{i}", {})

        assert pipeline.processor.dropped == 20
        assert pipeline.value("spanmeter.spans.dropped") == 20
        blocking.release.set()
        pipeline.processor.shutdown()
    assert blocking.exported == 16
    warnings = [r.getMessage() for r in caplog.records if r.name == "spanmeter"]
    assert warnings == [
        (
            "spanmeter: the span batch queue is full (OTEL_BSP_MAX_QUEUE_SIZE=8): spans are being dropped, counted "
            "in spanmeter.spans.dropped; raise OTEL_BSP_MAX_QUEUE_SIZE if this recurs"
        ),
        (
            "spanmeter: 20 span(s) were dropped in this process because the batch queue (OTEL_BSP_MAX_QUEUE_SIZE=8) "
            "was full; raise OTEL_BSP_MAX_QUEUE_SIZE"
        ),
    ]


class CountingExporter(SpanExporter):
    """Counts what it exports; each export releases the GIL, so the batch worker and the app's
    thread interleave as they do under a burst."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans):
        self.exported += len(spans)
        time.sleep(0)
        return SpanExportResult.SUCCESS


def test_an_overfilled_queue_counts_every_span_exactly_once_as_exported_or_dropped():
    """A burst far larger than the queue while the worker drains it: a span the queue could not
    take is counted, and none is counted that the worker took after all."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads between any two steps of on_end
    counting = CountingExporter()
    created = 40_000
    try:
        with Pipeline(extra_exporters=[counting], max_queue_size=64, max_export_batch_size=16,
                      schedule_delay_millis=1) as pipeline:  # fmt: skip
            for _ in range(created):
                pipeline.tracer.start_span("s").end()
            pipeline.processor.shutdown()
            dropped = pipeline.processor.dropped
            counted = pipeline.value("spanmeter.spans.dropped")
    finally:
        sys.setswitchinterval(previous)
    assert dropped > 0
    assert counting.exported + dropped == created
    assert counted == dropped
