"""The ``spanmeter`` processor: processing-core's enrichment on protobuf spans, and its derived metrics.

The enrichment itself lives in :mod:`spanmeter.processing` (one implementation for SDK
spans and OTLP spans); here it is bound to an aggregator that puts ``service.name`` on
every series, since one pipeline serves many services.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanmeter.internal_errors import guard
from spanmeter.otlp.anyvalue import append_attributes
from spanmeter.pipeline.insights_store import InsightsStore
from spanmeter.processing import Enricher
from spanmeter.processing.aggregator import MetricAggregator
from spanmeter.settings import Settings

_guard = guard("pipeline.processor")


class SpanmeterStage:
    """``process(request)`` enriches in place; ``metrics`` is the derived-metrics source;
    ``insights`` (when the processor serves the Insights API) keeps what that API answers from."""

    def __init__(self, settings: Settings, *, with_insights: bool = False):
        self.metrics = MetricAggregator(add_service_name=True)
        self._from_metadata = settings.metadata_attributes or ()
        self.enricher = Enricher.from_settings(settings, metrics_sink=self.metrics)
        self.insights: InsightsStore | None = None
        if with_insights:
            budgets = self.enricher.budgets
            self.insights = InsightsStore(budget_status=budgets.status if budgets is not None else None)
            self.enricher.add_listener(self.insights)

    def process(
        self, request: ExportTraceServiceRequest, metadata: Mapping[str, str] | None = None, raw: bytes | None = None
    ) -> bool:
        """Enrich in place; ``metadata`` (request headers, when the receiver has ``include_metadata``)
        first fills the attributes ``metadata_attributes`` maps headers to, on spans that lack them.
        ``raw``: the request's protobuf bytes, if it came so. Returns whether the request changed
        (if not, those bytes can be sent on as they are); True when unsure."""
        changed = True
        with _guard:
            if metadata and self._from_metadata:
                _stamp(request, {attr: metadata[header] for header, attr in self._from_metadata if header in metadata})
                raw = None
            changed = self.enricher.enrich_request(request, raw) or raw is None
        return changed


def _stamp(request: ExportTraceServiceRequest, values: dict[str, str]) -> None:
    """Add ``values`` to every span that has none of its own for that key (a span's own value wins)."""
    if not values:
        return
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                present = {kv.key for kv in span.attributes}
                append_attributes(span.attributes, {k: v for k, v in values.items() if k not in present})
