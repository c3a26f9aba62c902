"""SpanmeterProcessor: batch on the app's thread, enrich in the worker, fan out.

The app thread pays what the SDK's BatchSpanProcessor costs (a deque append),
because enrichment happens inside the batch worker: the exporter the batcher
calls is an :class:`EnrichingExporter` that computes derived attributes for the
whole batch, then hands the enriched copies to every downstream exporter. One
enrichment serves all exporters, so budgets and metrics are counted once.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from spanmeter.internal_errors import record_internal_error
from spanmeter.instrumentation.attribution import apply_attribution


class Enricher:
    """Turns a batch of finished spans into enriched copies. Runs on the worker thread only."""

    def enrich(self, spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
        return spans

    def shutdown(self) -> None:
        pass


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
        return all(exporter.force_flush(timeout_millis) for exporter in self.exporters)

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
    variables behave exactly as for BatchSpanProcessor.
    """

    def __init__(
        self,
        exporters: SpanExporter | Sequence[SpanExporter],
        *,
        enricher: Enricher | None = None,
        **batch_options,
    ):
        if isinstance(exporters, SpanExporter):
            exporters = [exporters]
        self.enricher = enricher or Enricher()
        self.exporters = tuple(exporters)
        super().__init__(EnrichingExporter(self.enricher, self.exporters), **batch_options)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        apply_attribution(span, parent_context)
