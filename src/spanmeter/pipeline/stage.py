"""The ``spanmeter`` processor: processing-core's enrichment on protobuf spans, and its derived metrics.

The enrichment itself lives in :mod:`spanmeter.processing` (one implementation for SDK
spans and OTLP spans); here it is bound to an aggregator that puts ``service.name`` on
every series, since one pipeline serves many services.
"""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanmeter.internal_errors import guard
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
        self.enricher = Enricher.from_settings(settings, metrics_sink=self.metrics)
        self.insights: InsightsStore | None = None
        if with_insights:
            budgets = self.enricher.budgets
            self.insights = InsightsStore(budget_status=budgets.status if budgets is not None else None)
            self.enricher.add_listener(self.insights)

    def process(self, request: ExportTraceServiceRequest) -> None:
        with _guard:
            self.enricher.enrich_request(request)
