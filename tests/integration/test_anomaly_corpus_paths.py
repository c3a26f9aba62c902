"""A slice of the anomaly corpus (tests/bench/anomaly_corpus.py) through the in-process
SpanmeterProcessor and through a running ``spanmeter pipeline`` (OTLP/gRPC in, OTLP/gRPC out
to a sink): both flag exactly the same spans, and the incidents the corpus injected."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter import semconv
from support.pipeline import attributes, basic_config, otlp_sink, running_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # the corpus lives with its benchmark
import anomaly_corpus
from anomaly_paths import through_processor

pytestmark = pytest.mark.integration
SHAPES = ("level_shift", "error_burst", "llm_tokens", "jitter")
BATCH = 100


def _through_running_pipeline(corpus, tmp_path: Path) -> list[tuple[str, ...]]:
    raw = InMemorySpanExporter()
    ids = [span_id for _, span_id in anomaly_corpus.sdk_spans(corpus, SimpleSpanProcessor(raw))]
    finished = raw.get_finished_spans()
    with otlp_sink() as sink, running_pipeline(tmp_path, basic_config(sink.endpoint)) as pipeline:
        exporter = OTLPSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True)
        for start in range(0, len(finished), BATCH):  # in end order, one request after the other
            assert exporter.export(finished[start : start + BATCH]) == SpanExportResult.SUCCESS
        exporter.shutdown()
        received = sink.wait_for_spans(len(finished), timeout=30)
    assert len(received) == len(finished)
    flagged = {int.from_bytes(span.span_id, "big"): attributes(span).get(semconv.ANOMALY_REASONS) for span in received}
    return [
        tuple(reason.string_value for reason in flagged[span_id].values) if flagged[span_id] else () for span_id in ids
    ]


def test_processor_and_pipeline_flag_the_same_corpus_spans(tmp_path):
    corpus = anomaly_corpus.build(traces=240, seed=2, shapes=SHAPES)
    in_process = through_processor(corpus)
    in_pipeline = _through_running_pipeline(corpus, tmp_path)
    assert in_process == in_pipeline
    flagged = {span.index for span, reasons in zip(corpus, in_process, strict=True) if reasons}
    spikes = {span.index for span in corpus if span.label == "spike"}
    assert spikes and spikes <= flagged  # every injected incident
    shifted = [span for span in corpus if span.label == "shift" and span.index in flagged]
    assert shifted and max(span.shift_index for span in shifted) < 5  # the shift, within 5 samples, then quiet
    assert not any(span.index in flagged for span in corpus if span.label in ("healthy", "failed"))
