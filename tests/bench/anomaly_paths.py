"""The corpus through spanmeter's real paths: the in-process SpanmeterProcessor (spans built
with the SDK) and the pipeline's enrichment of the same spans as OTLP protobuf. Each returns
the reasons flagged on every corpus span, in corpus order."""

from __future__ import annotations

from collections.abc import Sequence

from anomaly_corpus import MIN_SAMPLES, CorpusSpan, sdk_spans
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter import semconv
from spanmeter.otlp.anyvalue import to_python
from spanmeter.processing import SpanmeterProcessor
from spanmeter.processing.aggregator import MetricAggregator
from spanmeter.processing.enricher import Enricher
from spanmeter.settings import Settings

BATCH = 512


def settings() -> Settings:
    return Settings.load({"anomaly_min_samples": MIN_SAMPLES}, environ={})


def through_processor(corpus: Sequence[CorpusSpan]) -> list[tuple[str, ...]]:
    """Reasons per span as SpanmeterProcessor flags them (enriched copies, read back in memory)."""
    exporter = InMemorySpanExporter()
    processor = SpanmeterProcessor(
        exporter, settings=settings(), meter_provider=MeterProvider(), max_queue_size=len(corpus) + 1,
        schedule_delay_millis=60_000, max_export_batch_size=BATCH,
    )  # fmt: skip
    ids = [span_id for _, span_id in sdk_spans(list(corpus), processor)]
    processor.shutdown()
    flagged = {
        span.context.span_id: span.attributes.get(semconv.ANOMALY_REASONS) for span in exporter.get_finished_spans()
    }
    return [tuple(flagged.get(span_id) or ()) for span_id in ids]


def through_pipeline(corpus: Sequence[CorpusSpan]) -> list[tuple[str, ...]]:
    """Reasons per span as the pipeline's enrichment flags them: the SDK's spans encoded as
    OTLP requests of BATCH spans, enriched in place by the pipeline's Enricher and aggregator."""
    exporter = InMemorySpanExporter()
    ids = [span_id for _, span_id in sdk_spans(list(corpus), SimpleSpanProcessor(exporter))]
    enricher = Enricher.from_settings(settings(), metrics_sink=MetricAggregator(add_service_name=True))
    finished = exporter.get_finished_spans()
    flagged: dict[int, tuple[str, ...]] = {}
    for start in range(0, len(finished), BATCH):
        request = encode_spans(finished[start : start + BATCH])
        enricher.enrich_request(request)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    reasons = next((kv.value for kv in span.attributes if kv.key == semconv.ANOMALY_REASONS), None)
                    if reasons is not None:
                        flagged[int.from_bytes(span.span_id, "big")] = tuple(to_python(reasons))
    enricher.shutdown()
    return [flagged.get(span_id, ()) for span_id in ids]


PATHS = {"processor": through_processor, "pipeline": through_pipeline}


def flags_through(path: str, corpus: Sequence[CorpusSpan]) -> list[tuple[str, ...]]:
    return PATHS[path](corpus)
