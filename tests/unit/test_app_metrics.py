"""The prometheus exporter's store of apps' OTLP metrics: accumulation, naming, bounds, one family per name."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

from spanmeter.pipeline.app_metrics import AppMetricStore
from spanmeter.processing import exposition

DELTA = pb.AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = pb.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def request(*metrics: pb.Metric, service: str = "checkout") -> ExportMetricsServiceRequest:
    out = ExportMetricsServiceRequest()
    resource = out.resource_metrics.add()
    resource.resource.attributes.add(key="service.name").value.string_value = service
    scope = resource.scope_metrics.add()
    scope.scope.name = "app"
    scope.metrics.extend(metrics)
    return out


def counter(value: int, temporality=DELTA, **attributes: str) -> pb.Metric:
    metric = pb.Metric(name="orders.placed", unit="1")
    metric.sum.is_monotonic, metric.sum.aggregation_temporality = True, temporality
    point = metric.sum.data_points.add(as_int=value)
    for key, text in attributes.items():
        point.attributes.add(key=key).value.string_value = text
    return metric


def page(store: AppMetricStore) -> str:
    return exposition.render(store.families())


def test_delta_sums_add_up_and_cumulative_ones_replace():
    store = AppMetricStore()
    store.add(request(counter(3)))
    store.add(request(counter(4)))
    store.add(request(counter(10, CUMULATIVE, region="eu")))
    store.add(request(counter(12, CUMULATIVE, region="eu")))
    lines = page(store).splitlines()
    assert 'orders_placed_total{job="checkout",otel_scope_name="app"} 7' in lines
    assert 'orders_placed_total{job="checkout",otel_scope_name="app",region="eu"} 12' in lines
    assert lines.count("# TYPE orders_placed_total counter") == 1


def test_delta_histograms_add_up_bucket_by_bucket():
    store = AppMetricStore()
    for counts in ((1, 0, 0), (0, 2, 1)):
        metric = pb.Metric(name="orders.latency", unit="s")
        metric.histogram.aggregation_temporality = DELTA
        metric.histogram.data_points.add(explicit_bounds=[0.1, 1.0], bucket_counts=counts, sum=1.0, count=sum(counts))
        store.add(request(metric))
    text = page(store)
    assert 'orders_latency_seconds_bucket{job="checkout",otel_scope_name="app",le="0.1"} 1' in text
    assert 'orders_latency_seconds_bucket{job="checkout",otel_scope_name="app",le="+Inf"} 4' in text
    assert 'orders_latency_seconds_count{job="checkout",otel_scope_name="app"} 4' in text


def test_series_beyond_the_limit_are_dropped_and_counted_and_old_series_expire():
    clock = Clock()
    store = AppMetricStore(max_series_per_metric=2, metric_expiration=300, clock=clock)
    failed = store.add(request(*(counter(1, region=str(i)) for i in range(5))))
    assert failed == 3 and store.dropped == 3
    assert page(store).count("orders_placed_total{") == 2
    clock.now = 301
    assert page(store) == ""
    assert store.add(request(counter(1, region="new"))) == 0  # room again once expired


def test_exponential_histograms_are_counted_not_silently_kept():
    metric = pb.Metric(name="sizes", unit="By")
    metric.exponential_histogram.data_points.add(count=3)
    store = AppMetricStore()
    assert store.add(request(metric)) == 1 and store.unsupported == 1
    assert page(store) == ""


def test_a_family_fed_by_two_sources_is_one_group_on_the_page():
    first = exposition.Family("spanmeter_cost_USD_total", "Cost", "counter", ['spanmeter_cost_USD_total{a="1"} 1'])
    second = exposition.Family("spanmeter_cost_USD_total", "Cost", "counter", ['spanmeter_cost_USD_total{a="2"} 2'])
    lines = exposition.render([first, second]).splitlines()
    assert lines == ["# HELP spanmeter_cost_USD_total Cost", "# TYPE spanmeter_cost_USD_total counter",
                     'spanmeter_cost_USD_total{a="1"} 1', 'spanmeter_cost_USD_total{a="2"} 2']  # fmt: skip
