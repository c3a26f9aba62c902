"""MetricAggregator: bounded cumulative series, OTLP output and Prometheus text that the real
promtool accepts, named as the Collector's prometheus exporter names them."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from opentelemetry.proto.metrics.v1 import metrics_pb2

from spanmeter import semconv
from spanmeter.alerting.names import FAMILIES
from spanmeter.otlp.anyvalue import to_python
from spanmeter.processing.aggregator import MetricAggregator, prometheus_name
from spanmeter.processing.derived_metrics import SPECS
from spanmeter.processing.enricher import Enricher
from spanmeter.settings import Settings
from support.span_trees import TreeBuilder

COST = semconv.METRIC_COST
DURATION = semconv.METRIC_SPAN_DURATION


def cost_values(model: str) -> tuple:
    return ("chat", "openai", model, None, None, None, None, "genai-prices", "llm")


def test_series_are_bounded_with_a_counted_overflow_series():
    aggregator = MetricAggregator(max_series_per_metric=2)
    aggregator.begin_batch()
    for model, amount in [("a", 1.0), ("b", 2.0), ("c", 4.0), ("d", 8.0), ("a", 16.0)]:
        aggregator.add(COST, cost_values(model), amount)
    aggregator.end_batch()
    points = {frozenset(p.attributes.items()): p.value for p in aggregator.points() if p.metric == COST}
    overflow = frozenset({("otel.metric.overflow", True)})
    assert points[overflow] == 12.0
    assert sorted(points.values()) == [2.0, 12.0, 17.0]  # a (1+16), b, overflow (c+d)
    assert aggregator.overflowed(COST) == 2
    assert aggregator.overflow_counts() == {"metric_series": 2}


def test_points_are_cumulative_across_batches_and_timed_by_the_injected_clock():
    now = [1_000]
    aggregator = MetricAggregator(clock=lambda: now[0])
    for amount in (0.3, 3.0):
        aggregator.begin_batch()
        aggregator.record(DURATION, ("invoke_agent", None, "planner", None, None, None, None), amount)
        aggregator.end_batch()
    now[0] = 5_000
    (metric,) = [m for m in aggregator.export_request().resource_metrics[0].scope_metrics[0].metrics]
    assert (metric.name, metric.unit) == (DURATION, "s")
    histogram = metric.histogram
    assert histogram.aggregation_temporality == metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    (point,) = histogram.data_points
    assert (point.start_time_unix_nano, point.time_unix_nano) == (1_000, 5_000)
    assert (point.count, point.sum, point.min, point.max) == (2, 3.3, 0.3, 3.0)
    assert list(point.explicit_bounds) == list(SPECS[DURATION].buckets)
    assert list(point.bucket_counts) == [0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert {kv.key: to_python(kv.value) for kv in point.attributes} == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "planner",
    }


def test_service_name_option_splits_series_per_service():
    aggregator = MetricAggregator(add_service_name=True, resource_attributes={"service.name": "spanmeter-pipeline"})
    aggregator.begin_batch()
    for service in ("cart", "search", "cart"):
        aggregator.resource(service)
        aggregator.add(COST, cost_values("a"), 1.0)
    aggregator.end_batch()
    request = aggregator.export_request()
    resource = request.resource_metrics[0].resource
    assert {kv.key: to_python(kv.value) for kv in resource.attributes} == {"service.name": "spanmeter-pipeline"}
    (metric,) = request.resource_metrics[0].scope_metrics[0].metrics
    assert metric.sum.is_monotonic
    by_service = {
        next(to_python(kv.value) for kv in point.attributes if kv.key == "service.name"): point.as_double
        for point in metric.sum.data_points
    }
    assert by_service == {"cart": 2.0, "search": 1.0}


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        *sorted(FAMILIES.items()),  # as the OpenTelemetry Prometheus exporter names them (test_alert_names)
        (semconv.METRIC_SPAN_METRICS_CALLS, "traces_span_metrics_calls_total"),
        (semconv.METRIC_SPAN_METRICS_DURATION, "traces_span_metrics_duration_milliseconds"),
    ],
)
def test_prometheus_names_are_the_in_process_exporters(metric, expected):
    """One set of rules and dashboards reads the pipeline's /metrics and an app's own."""
    assert prometheus_name(SPECS[metric]) == expected


def test_prometheus_text_of_enriched_trees_passes_promtool():
    aggregator = MetricAggregator(add_service_name=True)
    builder = TreeBuilder(service='shop "eu"\\west')  # a label value that needs escaping
    builder.tree()
    settings = Settings.load({"span_metrics": True, "budget_daily_usd": 1.0}, environ={})
    Enricher.from_settings(settings, metrics_sink=aggregator).enrich(builder.spans())
    text = aggregator.prometheus_text()
    assert "# TYPE traces_span_metrics_duration_milliseconds histogram" in text
    assert (
        'traces_span_metrics_calls_total{job="shop \\"eu\\"\\\\west",service_name="shop \\"eu\\"\\\\west",'
        'span_name="chat gpt-4o",'
        'span_kind="SPAN_KIND_INTERNAL",status_code="STATUS_CODE_UNSET"} 1'
    ) in text
    assert 'spanmeter_budget_utilization{window="day"}' in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by scripts/test.sh (Debian package prometheus)"
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    # exit 1 is a parse error; 3 is promtool's naming advice, which the Collector's own
    # translation draws too (it keeps "milliseconds" and unmapped units such as "GBy")
    assert checked.returncode in (0, 3), checked.stderr
    advice = [line for line in checked.stderr.splitlines() if line]
    assert all("abbreviated units" in line or 'instead of "milliseconds"' in line for line in advice), advice


def test_by_default_a_flood_of_keys_keeps_every_metric_and_the_page_small():
    from spanmeter.processing.aggregator import HISTOGRAM_SHARE, MAX_SERIES_PER_METRIC
    from spanmeter.processing.derived_metrics import HISTOGRAM

    aggregator = MetricAggregator()
    aggregator.begin_batch()
    for index in range(3 * MAX_SERIES_PER_METRIC):
        aggregator.add(COST, cost_values(f"model-{index}"), 1.0)
        aggregator.record(DURATION, ("invoke_agent", None, f"agent-{index}", None, None, None, None), 0.5)
    aggregator.end_batch()
    series = {metric: sum(1 for p in aggregator.points() if p.metric == metric) for metric in (COST, DURATION)}
    assert series == {COST: MAX_SERIES_PER_METRIC + 1, DURATION: MAX_SERIES_PER_METRIC // HISTOGRAM_SHARE + 1}
    assert SPECS[DURATION].kind == HISTOGRAM
    lines = aggregator.prometheus_text().count("\n")
    histogram_lines = len(SPECS[DURATION].buckets) + 3  # buckets, +Inf, _sum, _count
    assert lines == 2 * 2 + series[COST] + series[DURATION] * histogram_lines  # HELP and TYPE of each family
