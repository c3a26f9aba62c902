"""What happens to a finished span before it leaves: pricing, roll-up, cost per GB,
budgets, anomaly flags and derived metrics.

    processor.py        SpanmeterProcessor: BatchSpanProcessor whose worker enriches
    enricher.py         one pass per span over the stages below; builds the enriched copy
    pricing.py          price file + genai-prices -> USD per span
    rollup.py           cost of descendants, compute cost, cost per GB
    budgets.py          day/week/month spend, threshold crossings
    anomaly.py          baselines per (service, span name, model)
    derived_metrics.py  the OpenTelemetry instruments
    bounded.py          the bounded map every growing table uses
"""

from spanmeter.processing.enricher import EnrichedSpan, Enricher
from spanmeter.processing.processor import EnrichingExporter, SpanmeterProcessor

__all__ = ["EnrichedSpan", "Enricher", "EnrichingExporter", "SpanmeterProcessor"]
