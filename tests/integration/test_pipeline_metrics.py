"""The derived metrics leave the pipeline: a real Prometheus scrapes its ``prometheus`` exporter (the span
metrics Jaeger's Monitor tab queries), and every ``metrics`` pipeline's OTLP exporter receives them."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

from support.pipeline import attributes, basic_config, otlp_sink, running_pipeline, send_llm_spans
from support.prometheus import query_until, scraping

pytestmark = pytest.mark.integration

METRICS_PIPELINE = """
  prometheus:
    endpoint: 127.0.0.1:0
"""


def _config(sink_endpoint: str) -> str:
    config = basic_config(sink_endpoint)
    config = config.replace("exporters:\n  otlp_grpc/sink:", "exporters:" + METRICS_PIPELINE + "  otlp_grpc/sink:", 1)
    return config + "    metrics:\n      exporters: [prometheus, otlp_grpc/sink]\n"


def test_prometheus_scrapes_the_span_metrics_jaeger_monitor_reads(tmp_path):
    with otlp_sink() as sink, running_pipeline(tmp_path, _config(sink.endpoint)) as pipeline:
        send_llm_spans(GrpcSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True), 3, service="svc-p")
        assert len(sink.wait_for_spans(3)) == 3
        with scraping(tmp_path, pipeline.endpoints["prometheus"]) as port:
            found = query_until(port, ("traces_span_metrics_calls_total",
                                       'traces_span_metrics_duration_milliseconds_bucket{le="+Inf"}'))  # fmt: skip
    calls, buckets = found.values()
    ((labels, value),) = calls.items()
    labels = dict(labels)
    assert value == 3
    assert labels["service_name"] == "svc-p" and labels["span_name"] == "chat gpt-4o-mini"
    assert labels["span_kind"] == "SPAN_KIND_INTERNAL" and labels["status_code"] == "STATUS_CODE_UNSET"
    assert list(buckets.values()) == [3]


def test_derived_metrics_flow_into_the_metrics_pipeline_otlp_exporter(tmp_path):
    with otlp_sink() as sink:
        with running_pipeline(tmp_path, _config(sink.endpoint)) as pipeline:
            send_llm_spans(
                GrpcSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True), 2, service="svc-m"
            )
            sink.wait_for_spans(2)
        # stop() pushes the last derived metrics before draining
        metrics = {
            metric.name: metric
            for request in sink.metric_requests
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }
    calls = metrics["traces.span.metrics.calls"]
    (point,) = calls.sum.data_points
    assert point.as_int == 2 or point.as_double == 2
    assert attributes(point)["service.name"] == "svc-m"
    assert "spanmeter.cost" in metrics
    assert all(attributes(p)["service.name"] == "svc-m" for p in metrics["spanmeter.cost"].sum.data_points)


def _send_app_metrics(endpoint: str) -> None:
    """An app's own metrics through the official OTLP/gRPC metric exporter: a counter, a histogram, a gauge."""
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint, insecure=True),
                                           export_interval_millis=60_000)  # fmt: skip
    provider = MeterProvider(resource=Resource.create({"service.name": "checkout"}), metric_readers=[reader])
    meter = provider.get_meter("checkout.orders")
    meter.create_counter("orders.placed", unit="1").add(7, {"region": "eu"})
    meter.create_histogram("orders.latency", unit="s").record(0.3, {"region": "eu"})
    meter.create_gauge("queue.depth", unit="1").set(42)
    provider.shutdown()  # exports once


def test_an_apps_own_metrics_reach_prometheus_through_the_prometheus_exporter(tmp_path):
    config = _config("127.0.0.1:1").replace(
        "    metrics:\n      exporters: [prometheus, otlp_grpc/sink]\n",
        "    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n",
    )
    with running_pipeline(tmp_path, config, drain_timeout=0.5) as pipeline:
        _send_app_metrics(pipeline.endpoints["otlp/grpc"])
        with scraping(tmp_path, pipeline.endpoints["prometheus"], honor_labels=True) as port:
            found = query_until(port, ("orders_placed_total", "orders_latency_seconds_count", "queue_depth"))
        accepted = pipeline.metrics.value("otelcol_exporter_sent_metric_points", exporter="prometheus")
    ((labels, placed),) = found["orders_placed_total"].items()
    labels = dict(labels)
    assert placed == 7 and labels["job"] == "checkout" and labels["region"] == "eu"
    assert labels["otel_scope_name"] == "checkout.orders"
    assert list(found["orders_latency_seconds_count"].values()) == [1]
    assert list(found["queue_depth"].values()) == [42]
    assert accepted == 3
