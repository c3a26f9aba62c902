"""SpanmeterProcessor: batch on the app's thread, enrich in the worker, fan out.

The app thread pays what the SDK's BatchSpanProcessor costs (a deque append),
because enrichment happens inside the batch worker: the exporter the batcher
calls is an :class:`EnrichingExporter` that computes derived attributes for the
whole batch, then hands the enriched copies to every downstream exporter. One
enrichment serves all exporters, so budgets and metrics are counted once. Under a
burst (batches waiting behind the one being enriched) the derived histograms' values
are recorded after the worker has caught up, so it keeps pace with the app's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import metrics
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from spanmeter import sdk_internals, semconv
from spanmeter.attribution import apply_attribution
from spanmeter.internal_errors import guard
from spanmeter.processing import child_processes
from spanmeter.processing.derived_metrics import DerivedMetrics
from spanmeter.processing.enricher import Enricher
from spanmeter.settings import Settings

_GUARD_ENRICH = guard("processing.enrich")
_GUARD_SHUTDOWN = guard("export.shutdown")
_GUARD_METRICS = guard("processing.metrics")
_logger = logging.getLogger("spanmeter")
_QUEUE_SETTING = "OTEL_BSP_MAX_QUEUE_SIZE"


class EnrichingExporter(SpanExporter):
    """Enrich a batch once, then export it to each downstream exporter.

    ``backlogged()`` (set by the processor) says whether a batch or more waits behind the
    one being exported: then the in-process metric sink defers its histogram values
    (:meth:`DerivedMetrics.defer`), so the worker takes spans off the queue faster under
    a burst; after a batch with no backlog, it records them until spans wait again."""

    def __init__(self, enricher: Enricher, exporters: Sequence[SpanExporter]):
        self.enricher = enricher
        self.exporters = tuple(exporters)
        self.backlogged: Callable[[], bool] = lambda: False
        metrics = enricher.metrics
        self._deferring = metrics if isinstance(metrics, DerivedMetrics) else None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        backlog = self.backlogged()
        deferring = self._deferring
        if deferring is not None:
            deferring.defer(backlog)
        with _GUARD_ENRICH:  # export the raw spans rather than lose them
            spans = self.enricher.enrich(spans)
        results = [self._export_one(exporter, spans) for exporter in self.exporters]
        if deferring is not None and not backlog:
            with _GUARD_METRICS:
                deferring.record_deferred(until=self.backlogged)
        return SpanExportResult.SUCCESS if all(results) else SpanExportResult.FAILURE

    @staticmethod
    @guard("export").wrap(False)  # one broken exporter must not starve the others
    def _export_one(exporter: SpanExporter, spans: Sequence[ReadableSpan]) -> bool:
        return exporter.export(spans) is SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush every downstream exporter, even after one fails."""
        results = [self._flush_one(exporter, timeout_millis) for exporter in self.exporters]
        return all(results)

    @staticmethod
    @guard("export.force_flush").wrap(False)
    def _flush_one(exporter: SpanExporter, timeout_millis: int) -> bool:
        return exporter.force_flush(timeout_millis) is not False

    def shutdown(self) -> None:
        for exporter in self.exporters:
            with _GUARD_SHUTDOWN:
                exporter.shutdown()
        self.enricher.shutdown()


class SpanmeterProcessor(BatchSpanProcessor):
    """Batches spans, enriches them off the app's thread, exports to one or more exporters.

    ``provider.add_span_processor(SpanmeterProcessor(exporter))``. Batch options
    (``max_queue_size``, ``schedule_delay_millis``, ...) and their ``OTEL_BSP_*``
    variables behave exactly as for BatchSpanProcessor; ``shutdown`` and
    ``force_flush`` enrich and export everything queued.

    ``settings`` defaults to ``Settings.load()`` (``SPANMETER_*`` variables);
    ``meter_provider`` and ``logger_provider`` (default: the global ones) receive
    the derived metrics and the budget log records; ``clock`` (epoch seconds)
    drives budget windows, for tests; ``enricher`` replaces the whole enrichment stage.

    A span the full batch queue cannot take is dropped (the new one; the SDK would
    evict the oldest) and counted exactly (``dropped``, the ``spanmeter.spans.dropped``
    metric), with one warning when dropping starts and one summary line at shutdown,
    both naming ``OTEL_BSP_MAX_QUEUE_SIZE``. In child
    processes it flushes before the child's work ends, and never exports a span the
    parent started (:mod:`spanmeter.processing.child_processes`).
    """

    def __init__(
        self,
        exporters: SpanExporter | Sequence[SpanExporter],
        *,
        settings: Settings | None = None,
        meter_provider: Any = None,
        logger_provider: Any = None,
        clock: Callable[[], float] | None = None,
        enricher: Enricher | None = None,
        **batch_options: Any,
    ):
        if isinstance(exporters, SpanExporter):
            exporters = [exporters]
        self.settings = settings if settings is not None else Settings.load()
        self.enricher = enricher or Enricher.from_settings(
            self.settings, meter_provider=meter_provider, logger_provider=logger_provider, clock=clock
        )
        self.exporters = tuple(exporters)
        if meter_provider is not None:
            batch_options.setdefault("meter_provider", meter_provider)
        self._fan_out = EnrichingExporter(self.enricher, self.exporters)
        super().__init__(self._fan_out, **batch_options)
        self._queue = sdk_internals.batch_queue(self)
        self._emit = sdk_internals.batch_emit(self)
        batch_size = sdk_internals.batch_size(self)
        self._fan_out.backlogged = lambda: len(self._queue) >= batch_size
        self._offer_lock = threading.Lock()
        self.dropped = self._dropped_reported = 0
        self._drop_lock = threading.Lock()
        (meter_provider or metrics.get_meter_provider()).get_meter(
            semconv.INSTRUMENTATION_SCOPE
        ).create_observable_counter(
            semconv.METRIC_SPANS_DROPPED,
            callbacks=[self._observe_dropped],
            unit="{span}",
            description=f"Spans dropped because the batch queue was full ({_QUEUE_SETTING}).",
        )
        child_processes.watch(self)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        apply_attribution(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the span as BatchSpanProcessor does, or count it when the queue is full.

        spanmeter decides the drop itself, under a lock only the app's threads take: the
        worker only ever takes spans out, so a queue found below its bound still has room
        when the span is offered, and every span is either queued or counted, exactly
        (the SDK checks before it offers, so it counts spans the worker made room for)."""
        if child_processes.forked_at_ns and child_processes.started_in_parent(span.start_time):
            return  # the parent exports it
        context = span.context
        if context is None or not context.trace_flags.sampled:
            return
        queue = self._queue
        with self._offer_lock:
            if len(queue) < queue.maxlen:
                self._emit(span)
                return
        self._count_drop(queue.maxlen)

    def reinit_after_fork(self) -> None:
        """In a fork child: a lock another thread of the parent held stays held in the child."""
        self._offer_lock = threading.Lock()

    def holds_spans(self) -> bool:
        """True while spans wait in the batch queue or are being exported."""
        return bool(self._queue) or sdk_internals.batch_export_in_progress(self)

    def _count_drop(self, queue_size: int) -> None:
        with self._drop_lock:
            self.dropped += 1
            first = self.dropped == 1
        if first:
            _logger.warning(
                "spanmeter: the span batch queue is full (%s=%d): spans are being dropped, counted in %s; "
                "raise %s if this recurs",
                _QUEUE_SETTING, queue_size, semconv.METRIC_SPANS_DROPPED, _QUEUE_SETTING,
            )  # fmt: skip

    def _observe_dropped(self, _options: CallbackOptions) -> list[Observation]:
        return [Observation(self.dropped)]

    def shutdown(self) -> None:
        """Export what is queued, then say how many spans were dropped, if any, and what to raise."""
        super().shutdown()
        if self.dropped > self._dropped_reported:  # shutdown may be called more than once
            self._dropped_reported = self.dropped
            _logger.warning(
                "spanmeter: %d span(s) were dropped in this process because the batch queue (%s=%d) was full; "
                "raise %s",
                self.dropped, _QUEUE_SETTING, self._queue.maxlen, _QUEUE_SETTING,
            )  # fmt: skip

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Enrich and export everything queued, then flush the downstream exporters
        (the SDK's batcher alone never calls its exporter's force_flush)."""
        return super().force_flush(timeout_millis) and self._fan_out.force_flush(timeout_millis)
