"""Tail sampling on root-span facts, in the pipeline: the spans of a generated mix sent over
OTLP/gRPC (children before their root, in several requests) leave `spanmeter pipeline` with
each root carrying what the shipped sampling policies read; a child that arrives after its
root leaves the root without its fact, and carries its own status for the status_code policy."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from spanmeter import semconv
from support.pipeline import attributes, basic_config, otlp_sink, running_pipeline
from support.sampling import kept_by
from support.span_trees import SAMPLING_PRICES, SAMPLING_ROOT_COSTS, TreeBuilder, sampling_mix

pytestmark = pytest.mark.integration

TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
EXPECTED_KEPT = {
    "POST /report": {"expensive"},
    "POST /refund": {"failed-trace"},
    "GET /slow-search": {"anomalous-trace"},
    "POST /hello": set(),
    "GET /search": set(),
}
STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _config(sink: str, directory) -> str:
    prices = directory / "prices.yaml"
    prices.write_text(SAMPLING_PRICES)
    spanmeter = f"spanmeter: {{prices_file: {prices}, anomaly_min_samples: 8}}"
    return basic_config(sink).replace("spanmeter: {}", spanmeter)


def _send(endpoint: str, spans: list, per_request: int) -> None:
    with grpc.insecure_channel(endpoint) as channel:
        export = channel.unary_unary(TRACES_METHOD)
        for first in range(0, len(spans), per_request):
            export(encode_spans(spans[first : first + per_request]).SerializeToString(), timeout=5)


def test_each_root_in_the_pipeline_carries_the_facts_its_trace_is_kept_on(tmp_path):
    builder = TreeBuilder()
    sampling_mix(builder.tracer)
    spans = builder.spans()  # in end order: children before their root, as an app's SDK sends them
    with otlp_sink() as sink, running_pipeline(tmp_path, _config(sink.endpoint, tmp_path)) as pipeline:
        _send(pipeline.endpoints["otlp/grpc"], spans, per_request=5)  # a trace's spans span requests
        received = sink.wait_for_spans(len(spans))
    roots = [span for span in received if not span.parent_span_id]
    assert len(roots) == 14
    for root in roots:
        values = attributes(root)
        assert kept_by(values, STATUS[root.status.code]) == EXPECTED_KEPT[root.name], (root.name, values)
        if root.name in SAMPLING_ROOT_COSTS:
            assert values[semconv.COST_TOTAL_USD] == pytest.approx(SAMPLING_ROOT_COSTS[root.name])


def test_a_failed_child_arriving_after_its_root_is_kept_on_its_own_status(tmp_path):
    builder = TreeBuilder()
    sampling_mix(builder.tracer, warm_up=0)
    spans = builder.spans()
    refund = next(span for span in spans if span.name == "POST /refund")
    failed = next(span for span in spans if span.name == "execute_tool refund")
    late_order = [span for span in spans if span is not failed] + [failed]  # the root is exported first
    with otlp_sink() as sink, running_pipeline(tmp_path, _config(sink.endpoint, tmp_path)) as pipeline:
        _send(pipeline.endpoints["otlp/grpc"], late_order, per_request=len(spans) - 1)
        received = {span.name: span for span in sink.wait_for_spans(len(spans))}
    assert received[refund.name].parent_span_id == b""
    assert kept_by(attributes(received[refund.name]), "UNSET") == set()  # the root was decided on before
    assert kept_by(attributes(received[failed.name]), STATUS[received[failed.name].status.code]) == {"failed-span"}
