"""What happens to a finished span before it leaves: pricing, roll-up, cost per GB,
budgets, anomaly flags and derived metrics.

    processor.py        SpanmeterProcessor: BatchSpanProcessor whose worker enriches
    enricher.py         the stages, run per span over a neutral span view
    span_view.py        the view: SDK spans (enriched copy) and OTLP protobuf spans (in place)
    pricing.py          price file + genai-prices -> USD per span
    rollup.py           cost of descendants, compute cost
    budgets.py          day/week/month spend, threshold crossings, status
    anomaly.py          baselines per (service, span name, model)
    derived_metrics.py  every derived metric's definition; the OpenTelemetry metrics API sink
    aggregator.py       the pipeline's sink: bounded cumulative series -> OTLP / Prometheus text
    sinks.py            the interface both sinks implement
    outcome.py          what the enrichment concluded per work span, for listeners
    bounded.py          the bounded map every growing table uses
"""

from spanmeter.processing.enricher import EnrichedSpan, Enricher
from spanmeter.processing.processor import EnrichingExporter, SpanmeterProcessor

__all__ = ["EnrichedSpan", "Enricher", "EnrichingExporter", "SpanmeterProcessor"]
