"""The pipeline's cheap path for ordinary spans (no operation, usage, data volume, error.type
or agent name: rules.WORK_MARKERS) derives exactly what the stages derive: the same spans
through the SDK adapter (every span through every stage) and through enrich_request with and
without the request's bytes (ordinary spans on the cheap path, whole requests of them
recognised from their bytes) give identical attributes and metric points; a request the
enrichment leaves unchanged is reported so, and its bytes can be sent on as they came."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import Status, StatusCode

from spanmeter import rules
from spanmeter.processing.aggregator import MetricAggregator
from spanmeter.processing.enricher import Enricher
from spanmeter.settings import Settings
from support.span_trees import (
    SAMPLING_PRICES,
    SECOND,
    TreeBuilder,
    aggregator_points,
    proto_span_results,
    sampling_mix,
    sdk_span_results,
)


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(SAMPLING_PRICES)
    return Settings.load({"prices_file": str(path), "anomaly_min_samples": 8, "span_metrics": True}, environ={})


def _enricher(settings) -> Enricher:
    return Enricher.from_settings(settings, metrics_sink=MetricAggregator(clock=lambda: 1))


def _spans() -> list:
    builder = TreeBuilder()
    for _ in range(3):
        builder.tree()
    builder.agents()
    sampling_mix(builder.tracer)
    root = builder.open("GET /broken", {"http.request.method": "GET"})
    failed = builder.open("SELECT broken", {"db.system.name": "postgresql"}, parent=root)
    failed.set_status(Status(StatusCode.ERROR, "relation does not exist"))  # no error.type: an ordinary span
    failed.end(end_time=builder.start + SECOND)
    root.end(end_time=builder.start + 2 * SECOND)
    return builder.spans()


@pytest.mark.parametrize("per_request", [7, 1000])
@pytest.mark.parametrize("with_bytes", [True, False], ids=["bytes", "decoded"])
def test_ordinary_spans_get_what_the_stages_give_them(settings, per_request, with_bytes):
    spans = _spans()
    assert any(rules.WORK_MARKERS.isdisjoint(span.attributes) for span in spans)
    sdk = _enricher(settings)
    expected = sdk_span_results(sdk.enrich(spans))
    proto = _enricher(settings)
    found = {}
    for first in range(0, len(spans), per_request):  # some requests hold only ordinary spans
        request = encode_spans(spans[first : first + per_request])
        raw = request.SerializeToString()
        proto.enrich_request(request, raw if with_bytes else None)
        found.update(proto_span_results(request))
    assert found == expected
    assert aggregator_points(proto.metrics) == aggregator_points(sdk.metrics)


def test_a_request_of_ordinary_spans_is_left_as_it_came(settings):
    builder = TreeBuilder()
    sampling_mix(builder.tracer, warm_up=2)
    ordinary = [span for span in builder.spans() if span.name == "SELECT orders"]
    request = encode_spans(ordinary)
    raw = request.SerializeToString()
    enricher = _enricher(settings)
    assert enricher.enrich_request(request, raw) is False
    assert request.SerializeToString() == raw
    assert enricher.enrich_request(ExportTraceServiceRequest.FromString(raw)) is False


def test_an_ordinary_root_takes_the_cost_and_failure_its_children_sent_before_it(settings):
    builder = TreeBuilder()
    sampling_mix(builder.tracer, warm_up=0)
    spans = builder.spans()
    enricher = _enricher(settings)
    children = encode_spans([span for span in spans if span.parent is not None])
    assert enricher.enrich_request(children, children.SerializeToString()) is True
    roots = encode_spans([span for span in spans if span.parent is None])
    raw = roots.SerializeToString()
    assert b"gen_ai." not in raw and b"spanmeter." not in raw  # the roots come on the cheap path
    assert enricher.enrich_request(roots, raw) is True
    facts = {name: attributes for name, attributes, _ in proto_span_results(roots).values()}
    assert facts["POST /report"]["spanmeter.cost.total_usd"] == pytest.approx(0.33)
    assert facts["POST /refund"]["spanmeter.trace.error"] is True
    assert "spanmeter.trace.anomaly" not in facts["GET /slow-search"]  # nothing to judge against yet


def test_keys_that_only_contain_a_markers_words_leave_a_span_on_the_cheap_path():
    from spanmeter.processing.enricher import _work_marks

    builder = TreeBuilder()
    ordinary = builder.open("SELECT orders", {"db.operation.name": "SELECT", "user_agent.original": "gen_ai.x"})
    ordinary.end(end_time=builder.start + SECOND)
    priced = builder.open("chat", {"operation.cost": 0.01})  # Logfire's upstream cost: work
    priced.end(end_time=builder.start + SECOND)
    request = encode_spans(builder.spans())
    assert list(_work_marks(request, request.SerializeToString())) == [False, True]
