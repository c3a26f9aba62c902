"""The other ways out: otlp_http (to a second pipeline), the file exporter (OTLP/JSON lines), logs and metrics
pipelines passing through unchanged, and the self-metrics endpoint."""

from __future__ import annotations

import urllib.request

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spanmeter.otlp.json_codec import decode
from support.pipeline import FAST_RETRY, attributes, otlp_sink, running_pipeline, send_llm_spans, wait_until

pytestmark = pytest.mark.integration

LOGS_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

RELAY = """
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0
exporters:
  otlp_grpc/sink:
    endpoint: {sink}
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_grpc/sink]
"""

FRONT = """
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
      http:
        endpoint: 127.0.0.1:0
processors:
  spanmeter: {{}}
exporters:
  otlphttp/relay:
    endpoint: http://{relay}{retry}
  file/spans:
    path: {spans}
  file/logs:
    path: {logs}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    traces:
      receivers: [otlp]
      processors: [spanmeter]
      exporters: [otlphttp/relay, file/spans]
    logs:
      receivers: [otlp]
      exporters: [file/logs]
"""


def test_otlp_http_exporter_file_exporter_logs_pass_through_and_self_metrics(tmp_path):
    spans_file, logs_file = tmp_path / "spans.jsonl", tmp_path / "logs.jsonl"
    (tmp_path / "relay").mkdir()
    with otlp_sink() as sink, running_pipeline(tmp_path / "relay", RELAY.format(sink=sink.endpoint)) as relay:
        front_config = FRONT.format(relay=relay.endpoints["otlp/http"], retry=FAST_RETRY, spans=spans_file,
                                    logs=logs_file)  # fmt: skip
        with running_pipeline(tmp_path, front_config) as front:
            send_llm_spans(HttpSpanExporter(endpoint=f"http://{front.endpoints['otlp/http']}/v1/traces"), 2)
            logs = logs_service_pb2.ExportLogsServiceRequest()
            record = logs.resource_logs.add().scope_logs.add().log_records.add(severity_text="WARN")
            record.body.string_value = "disk almost full"
            with grpc.insecure_channel(front.endpoints["otlp/grpc"]) as channel:
                channel.unary_unary(LOGS_METHOD)(logs.SerializeToString(), timeout=5)
            relayed = sink.wait_for_spans(2)
            wait_until(lambda: front.metrics.value("otelcol_exporter_sent_spans", exporter="otlphttp/relay") == 2)
            wait_until(lambda: front.metrics.value("otelcol_exporter_sent_log_records") == 1)
            with urllib.request.urlopen(f"http://{front.endpoints['telemetry']}/metrics", timeout=5) as response:
                self_metrics = response.read().decode()
    assert len(relayed) == 2 and all("spanmeter.cost.usd" in attributes(s) for s in relayed)
    lines = spans_file.read_text().splitlines()
    written = [
        span
        for line in lines
        for resource in decode(line, trace_service_pb2.ExportTraceServiceRequest).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert sorted(s.span_id for s in written) == sorted(s.span_id for s in relayed)
    assert '"traceId":"' in lines[0]  # hex ids, the OTLP/JSON shape
    (log_line,) = logs_file.read_text().splitlines()
    passed = decode(log_line, logs_service_pb2.ExportLogsServiceRequest)
    assert passed.resource_logs[0].scope_logs[0].log_records[0].body.string_value == "disk almost full"
    assert 'otelcol_exporter_sent_spans_total{exporter="otlphttp/relay"} 2' in self_metrics
    assert 'otelcol_receiver_accepted_log_records_total{receiver="otlp",transport="grpc"} 1' in self_metrics
    assert 'otelcol_exporter_sent_log_records_total{exporter="file/logs"} 1' in self_metrics


FAN_OUT = """
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
processors:
  spanmeter:
    budget_daily_usd: 100
connectors:
  forward: {{}}
exporters:
  otlp_grpc/jaeger:
    endpoint: {first}
    tls:
      insecure: true{retry}
  otlp_grpc/archive:
    endpoint: {second}
    tls:
      insecure: true{retry}
service:
  pipelines:
    traces/in:
      receivers: [otlp]
      processors: [spanmeter]
      exporters: [forward]
    traces/jaeger:
      receivers: [forward]
      exporters: [otlp_grpc/jaeger]
    traces/archive:
      receivers: [forward]
      exporters: [otlp_grpc/archive]
"""


def test_a_fan_out_through_the_forward_connector_enriches_and_counts_each_span_once(tmp_path):
    from spanmeter import semconv

    with otlp_sink() as first, otlp_sink() as second:
        config = FAN_OUT.format(first=first.endpoint, second=second.endpoint, retry=FAST_RETRY)
        with running_pipeline(tmp_path, config) as pipeline:
            send_llm_spans(GrpcSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True), 3)
            delivered = first.wait_for_spans(3), second.wait_for_spans(3)
            (stage,) = pipeline.stages.values()
            cost = sum(p.value for p in stage.metrics.points() if p.metric == semconv.METRIC_COST)
            (day,) = [w for w in stage.enricher.budgets.status() if w.window == "day"]
    prices = [[attributes(span)["spanmeter.cost.usd"] for span in spans] for spans in delivered]
    assert prices[0] == prices[1] and len(prices[0]) == 3
    assert cost == pytest.approx(sum(prices[0]))  # once, not once per pipeline
    assert day.spend_usd == pytest.approx(sum(prices[0]))


def test_one_processor_listed_in_two_pipelines_runs_as_one_instance_per_pipeline(tmp_path):
    two_pipelines = (
        FAN_OUT.replace("connectors:\n  forward: {{}}\n", "")
        .replace("      processors: [spanmeter]\n      exporters: [forward]\n", "      processors: [spanmeter]\n"
                 "      exporters: [otlp_grpc/jaeger]\n")
        .replace("    traces/jaeger:\n      receivers: [forward]\n      exporters: [otlp_grpc/jaeger]\n", "")
        .replace("    traces/archive:\n      receivers: [forward]\n", "    traces/archive:\n      receivers: [otlp]\n"
                 "      processors: [spanmeter]\n")
    )  # fmt: skip
    with otlp_sink() as first, otlp_sink() as second:
        config = two_pipelines.format(first=first.endpoint, second=second.endpoint, retry=FAST_RETRY)
        with running_pipeline(tmp_path, config) as pipeline:
            assert pipeline.config.warnings  # the same spans feed two instances' metrics
            send_llm_spans(GrpcSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True), 3)
            delivered = first.wait_for_spans(3), second.wait_for_spans(3)
            spend = {name: stage.enricher.budgets.status()[0].spend_usd for name, stage in pipeline.stages.items()}
    total = sum(attributes(span)["spanmeter.cost.usd"] for span in delivered[0])
    assert sorted(spend) == ["traces/archive/spanmeter", "traces/in/spanmeter"]
    assert list(spend.values()) == [pytest.approx(total)] * 2  # each instance saw each span once (one state: 2x)
