"""One enrichment, two adapters: the same span trees enriched as SDK spans (in-process copy)
and as OTLP protobuf spans (pipeline, in place) give identical attributes, events and
metric points; and the same spans through both metric sinks give identical points."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from spanmeter import internal_errors
from spanmeter.processing.aggregator import MetricAggregator
from spanmeter.processing.derived_metrics import DerivedMetrics
from spanmeter.processing.enricher import Enricher
from spanmeter.processing.span_view import ProtoSpanView
from spanmeter.settings import Settings
from support.span_trees import (
    TreeBuilder,
    aggregator_points,
    proto_span_results,
    reader_points,
    sdk_span_results,
)

WARM_UP = 12
SETTINGS = {"anomaly_min_samples": 8, "budget_daily_usd": 0.02, "span_metrics": True}


class Clock:
    """Budget clock: fixed, so both enrichers see the same window."""

    def __call__(self) -> float:
        return 1_772_000_000.0


def trees() -> list:
    builder = TreeBuilder()
    for _ in range(WARM_UP):
        builder.tree()
    builder.tree(llm_seconds=30.0)  # after warm-up: a latency anomaly
    return builder.spans()


def enricher(settings: dict, sink) -> Enricher:
    return Enricher.from_settings(Settings.load(settings, environ={}), clock=Clock(), metrics_sink=sink)


@pytest.mark.parametrize("settings", [SETTINGS, {**SETTINGS, "compute_usd_per_hour": 36}], ids=["llm", "compute"])
def test_sdk_and_protobuf_adapters_derive_the_same_attributes_events_and_points(settings):
    spans = trees()
    sdk_sink, proto_sink = MetricAggregator(clock=lambda: 1), MetricAggregator(clock=lambda: 1)
    enriched = enricher(settings, sdk_sink).enrich(spans)
    request = encode_spans(spans)
    enricher(settings, proto_sink).enrich_request(request)

    sdk, proto = sdk_span_results(enriched), proto_span_results(request)
    assert sdk == proto
    assert aggregator_points(sdk_sink) == aggregator_points(proto_sink)

    # the trees exercise every stage (so the equality above is not vacuous)
    by_name: dict[str, list[dict]] = {}
    for name, attributes, _events in sdk.values():
        by_name.setdefault(name, []).append(attributes)
    assert by_name["chat gpt-4o"][0]["spanmeter.cost.source"] == "genai-prices"  # older attribute names priced
    assert by_name["chat stream"][0]["spanmeter.cost.source"] == "unknown"  # no usage
    assert by_name["chat private"][0]["spanmeter.cost.source"] == "unknown"  # no price
    assert by_name["invoke_workflow checkout"][0]["spanmeter.cost.total_usd"] > 0
    assert by_name["run_stage load"][0]["spanmeter.cost.per_gb_usd"] > 0
    assert by_name["chat gpt-4o-mini"][-1]["spanmeter.anomaly.reasons"] == ("latency",)
    assert not any(a.get("spanmeter.anomaly") for a in by_name["chat gpt-4o-mini"][:-1])
    assert sum(len(events) for _name, _attributes, events in sdk.values()) == 4  # 50/80/90/100 % of the day
    copy_stage = by_name["run_stage copy"][0]
    assert ("spanmeter.cost.per_gb_usd" in copy_stage) is ("compute_usd_per_hour" in settings)


def test_both_metric_sinks_give_the_same_points():
    spans = trees()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    aggregator = MetricAggregator()
    enricher(SETTINGS, DerivedMetrics(provider)).enrich(spans)
    enricher(SETTINGS, aggregator).enrich(spans)
    skip = ["spanmeter.processing.overflow"]  # each sink names its own bounded tables
    from_sdk, from_aggregator = reader_points(reader, skip), aggregator_points(aggregator, skip)
    assert from_sdk == from_aggregator
    names = {metric for metric, _attributes, _value in from_sdk}
    assert names >= {
        "gen_ai.client.token.usage", "gen_ai.client.operation.duration", "spanmeter.span.duration",
        "spanmeter.cost", "spanmeter.cost.unpriced", "spanmeter.span.errors", "spanmeter.data.processed",
        "spanmeter.data.records", "spanmeter.cost.per_gb", "spanmeter.anomalies", "spanmeter.data.quality",
        "spanmeter.data.freshness", "spanmeter.budget.utilization", "spanmeter.rollup.late_children",
        "traces.span.metrics.calls", "traces.span.metrics.duration",
    }  # fmt: skip
    provider.shutdown()


@pytest.mark.expect_internal_errors
def test_a_protobuf_span_that_breaks_enrichment_is_left_as_it_came(monkeypatch):
    internal_errors.reset_for_tests()
    spans = TreeBuilder()
    spans.tree()
    request = encode_spans(spans.spans())
    before = request.SerializeToString()
    original = Enricher._run

    def fragile(self, view):
        if view.name == "chat gpt-4o":
            raise KeyError("unexpected shape")
        return original(self, view)

    monkeypatch.setattr(Enricher, "_run", fragile)
    enricher(SETTINGS, MetricAggregator()).enrich_request(request)
    assert request.SerializeToString() != before
    names = {
        span.name: {kv.key for kv in span.attributes}
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }
    assert "spanmeter.cost.source" not in names["chat gpt-4o"]
    assert "spanmeter.cost.source" in names["chat gpt-4o-mini"]
    assert internal_errors.counts[("processing.enrich", "KeyError")] == 1


class Recorder:
    def __init__(self):
        self.outcomes = []

    def on_outcome(self, outcome):
        self.outcomes.append(outcome)


class Broken:
    def on_outcome(self, outcome):
        raise RuntimeError("listener bug")


@pytest.mark.expect_internal_errors
def test_listeners_get_the_same_outcomes_from_both_adapters_and_a_broken_one_is_contained():
    internal_errors.reset_for_tests()
    spans = trees()
    from_sdk, from_proto = Recorder(), Recorder()
    sdk_enricher, proto_enricher = enricher(SETTINGS, MetricAggregator()), enricher(SETTINGS, MetricAggregator())
    sdk_enricher.add_listener(Broken())
    sdk_enricher.add_listener(from_sdk)
    proto_enricher.add_listener(from_proto)
    sdk_enricher.enrich(spans)
    proto_enricher.enrich_request(encode_spans(spans))
    assert from_sdk.outcomes == from_proto.outcomes
    assert len(from_sdk.outcomes) == len(spans)  # every span of the trees is work
    assert internal_errors.counts[("processing.listener", "RuntimeError")] == len(spans)

    last = {outcome.span_name: outcome for outcome in from_sdk.outcomes}
    slow = last["chat gpt-4o-mini"]
    assert (slow.service, slow.kind, slow.operation, slow.provider, slow.model) == (
        "shop", "llm", "chat", "openai", "gpt-4o-mini",
    )  # fmt: skip
    assert (slow.input_tokens, slow.output_tokens) == (1000, 100) and slow.duration_s == pytest.approx(30.0)
    assert slow.cost_usd > 0 and slow.unpriced_reason is None
    assert slow.anomaly_reasons == ("latency",) and slow.anomaly_score > 3
    value, baseline = slow.anomaly_values["latency"]
    assert value == pytest.approx(30.0) and baseline == pytest.approx(0.5, rel=1e-3)
    assert last["chat gpt-4o"].provider == "openai"  # from gen_ai.system
    assert (last["chat stream"].cost_usd, last["chat stream"].unpriced_reason) == (None, "no_usage")
    assert last["chat private"].unpriced_reason == "no_price"
    tool = last["execute_tool search"]
    assert (tool.kind, tool.tool, tool.error_type) == ("tool", "search", "TimeoutError")
    agent = last["invoke_agent planner"]
    assert (agent.kind, agent.agent, agent.team) == ("agent", "planner", "growth")
    stage = last["run_stage load"]
    assert (stage.kind, stage.source, stage.data_bytes, stage.freshness_s) == ("stage", "s3://events", 2 * 10**9, 42.5)
    assert stage.quality == {"completeness": 0.97}
    assert stage.per_gb_usd == pytest.approx(stage.total_usd / 2)
    assert last["invoke_workflow checkout"].kind == "workflow"


@pytest.mark.expect_internal_errors
def test_spans_after_a_broken_one_are_still_enriched_and_each_fault_is_counted(monkeypatch):
    internal_errors.reset_for_tests()
    spans = TreeBuilder()
    spans.tree()
    finished = spans.spans()
    poison = {finished[0].name, finished[3].name, finished[-1].name}  # first, middle and last
    original = Enricher._run

    def fragile(self, view):
        if view.name in poison:
            raise KeyError("unexpected shape")
        return original(self, view)

    monkeypatch.setattr(Enricher, "_run", fragile)
    out = enricher(SETTINGS, MetricAggregator()).enrich(finished)
    assert [span.name for span in out] == [span.name for span in finished]
    enriched = {after.name for before, after in zip(finished, out, strict=True) if after is not before}
    assert not enriched & poison
    assert {"chat gpt-4o", "chat summarize", "run_stage load"} <= enriched
    assert internal_errors.counts[("processing.enrich", "KeyError")] == 3


def test_protobuf_view_reads_every_attribute_type_as_the_sdk_would_hold_it():
    values = {
        "text": "chat", "empty": "", "count": 1200, "zero": 0, "negative": -3, "ratio": 0.97, "flag": True,
        "off": False, "names": ("a", "b"), "counts": (1, 2),
    }  # fmt: skip
    builder = TreeBuilder()
    builder.tracer.start_span("typed", attributes=values).end()
    request = encode_spans(builder.spans())
    (span,) = request.resource_spans[0].scope_spans[0].spans
    view = ProtoSpanView(span, "shop")
    assert {key: view.get(key) for key in values} == values
    assert all(type(view.get(key)) is type(value) for key, value in values.items())
    assert view.get("absent") is None
    assert dict(view.items()) == values
