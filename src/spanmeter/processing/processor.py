"""SpanmeterProcessor: batch on the app's thread, enrich in the worker, fan out.

The app thread pays what the SDK's BatchSpanProcessor costs (a deque append),
because enrichment happens inside the batch worker: the exporter the batcher
calls is an :class:`EnrichingExporter` that computes derived attributes for the
whole batch, then hands the enriched copies to every downstream exporter. One
enrichment serves all exporters, so budgets and metrics are counted once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from spanmeter.attribution import apply_attribution
from spanmeter.internal_errors import record_internal_error
from spanmeter.processing.enricher import Enricher
from spanmeter.settings import Settings


class EnrichingExporter(SpanExporter):
    """Enrich a batch once, then export it to each downstream exporter."""

    def __init__(self, enricher: Enricher, exporters: Sequence[SpanExporter]):
        self.enricher = enricher
        self.exporters = tuple(exporters)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            spans = self.enricher.enrich(spans)
        except Exception as exc:  # noqa: BLE001 - export the raw spans rather than lose them
            record_internal_error("processing.enrich", exc)
        result = SpanExportResult.SUCCESS
        for exporter in self.exporters:
            try:
                if exporter.export(spans) is not SpanExportResult.SUCCESS:
                    result = SpanExportResult.FAILURE
            except Exception as exc:  # noqa: BLE001 - one broken exporter must not starve the others
                record_internal_error("export", exc)
                result = SpanExportResult.FAILURE
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush every downstream exporter, even after one fails."""
        flushed = True
        for exporter in self.exporters:
            try:
                flushed = exporter.force_flush(timeout_millis) is not False and flushed
            except Exception as exc:  # noqa: BLE001
                record_internal_error("export.force_flush", exc)
                flushed = False
        return flushed

    def shutdown(self) -> None:
        for exporter in self.exporters:
            try:
                exporter.shutdown()
            except Exception as exc:  # noqa: BLE001
                record_internal_error("export.shutdown", exc)
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

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        apply_attribution(span, parent_context)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Enrich and export everything queued, then flush the downstream exporters
        (the SDK's batcher alone never calls its exporter's force_flush)."""
        return super().force_flush(timeout_millis) and self._fan_out.force_flush(timeout_millis)
