"""spanmeter_file writes OTLP/JSON as the Collector's file exporter does; the report reader reads it back.

The expected protobuf is the SDK's own OTLP encoding of the same spans/metrics, and the
hex-to-bytes conversion is done here independently of spanmeter's, so a shared bug in
writer and reader cannot hide.
"""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id

from spanmeter import internal_errors
from spanmeter.export import OTLPFileMetricExporter, OTLPFileSpanExporter
from spanmeter.report import read_metric_requests, read_spans

ID_FIELDS = {"traceId", "spanId", "parentSpanId"}


def make_spans(count: int = 2):
    """``count`` finished spans: a root and children, with attributes of several types."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("root", attributes={"n": 3, "tags": ("a", "b"), "ok": True}):
        for i in range(count - 1):
            with tracer.start_as_current_span(f"child {i}", attributes={"x": 0.5}):
                pass
    return exporter.get_finished_spans()


def hex_ids_to_base64(node):
    """What protobuf's JSON parser expects for bytes fields; written here, not taken from spanmeter."""
    if isinstance(node, dict):
        return {
            key: base64.b64encode(bytes.fromhex(value)).decode() if key in ID_FIELDS else hex_ids_to_base64(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [hex_ids_to_base64(item) for item in node]
    return node


def lines(path) -> list[str]:
    return path.read_text().splitlines()


def test_each_span_export_is_one_otlp_json_line_with_hex_ids(tmp_path):
    path = tmp_path / "traces.jsonl"
    exporter = OTLPFileSpanExporter(path)
    first, second = make_spans(3), make_spans(2)

    assert exporter.export(first) is SpanExportResult.SUCCESS
    assert exporter.export(second) is SpanExportResult.SUCCESS

    written = lines(path)
    assert len(written) == 2
    for line, spans in zip(written, (first, second), strict=True):
        tree = json.loads(line)
        parsed = json_format.Parse(json.dumps(hex_ids_to_base64(tree)), ExportTraceServiceRequest())
        assert parsed == encode_spans(spans)
        json_spans = tree["resourceSpans"][0]["scopeSpans"][0]["spans"]
        assert [(s["traceId"], s["spanId"]) for s in json_spans] == [
            (format_trace_id(span.context.trace_id), format_span_id(span.context.span_id)) for span in spans
        ]


def test_span_attributes_keep_their_types(tmp_path):
    path = tmp_path / "traces.jsonl"
    OTLPFileSpanExporter(path).export(make_spans(1))

    (root,) = read_spans(path)
    assert root.attributes == {"n": 3, "tags": ["a", "b"], "ok": True}
    assert root.parent_span_id == ""


def test_metrics_export_is_one_line_with_hex_exemplar_ids(tmp_path):
    """Exemplars carry the ids of the span a measurement was taken in: hex there too."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    histogram = meter.create_histogram("work.duration", unit="s")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        histogram.record(0.25, {"kind": "stage"})
    data = reader.get_metrics_data()
    path = tmp_path / "metrics.jsonl"

    OTLPFileMetricExporter(path).export(data)

    (line,) = lines(path)
    tree = json.loads(line)
    parsed = json_format.Parse(json.dumps(hex_ids_to_base64(tree)), ExportMetricsServiceRequest())
    assert parsed == encode_metrics(data)
    point = tree["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["histogram"]["dataPoints"][0]
    assert point["exemplars"][0]["traceId"] == format_trace_id(span.get_span_context().trace_id)
    assert list(read_metric_requests(path)) == [encode_metrics(data)]


def test_reader_accepts_hex_and_base64_ids(tmp_path):
    """The Collector writes hex; protobuf's own JSON printer (and older tools) write base64."""
    spans = make_spans(2)
    hex_file, base64_file = tmp_path / "hex.jsonl", tmp_path / "base64.jsonl"
    OTLPFileSpanExporter(hex_file).export(spans)
    base64_file.write_text(json_format.MessageToJson(encode_spans(spans), indent=None) + "\n")

    from_hex, from_base64 = list(read_spans(hex_file)), list(read_spans(base64_file))

    assert from_hex == from_base64
    assert [(s.trace_id, s.span_id) for s in from_hex] == [
        (format_trace_id(span.context.trace_id), format_span_id(span.context.span_id)) for span in spans
    ]
    child = next(s for s in from_hex if s.name == "child 0")
    root = next(span for span in spans if span.name == "root")
    assert child.parent_span_id == format_span_id(root.context.span_id)


def test_reader_names_file_and_line_of_a_bad_line(tmp_path):
    path = tmp_path / "traces.jsonl"
    OTLPFileSpanExporter(path).export(make_spans(1))
    with path.open("a") as file:
        file.write('{"resourceSpans": 7}\n')

    with pytest.raises(ValueError, match=r"traces\.jsonl:2: not an OTLP/JSON ExportTraceServiceRequest"):
        list(read_spans(path))


@pytest.mark.expect_internal_errors
def test_unwritable_file_fails_the_export_and_is_counted(tmp_path):
    internal_errors.reset_for_tests()
    exporter = OTLPFileSpanExporter(tmp_path / "missing-dir" / "traces.jsonl")

    assert exporter.export(make_spans(1)) is SpanExportResult.FAILURE
    assert internal_errors.counts[("export.file", "FileNotFoundError")] == 1


def test_path_defaults_to_the_setting(tmp_path, monkeypatch):
    """The SDK builds exporters named in OTEL_TRACES_EXPORTER with no arguments."""
    monkeypatch.setenv("SPANMETER_TRACES_FILE", str(tmp_path / "t.jsonl"))
    monkeypatch.setenv("SPANMETER_METRICS_FILE", str(tmp_path / "m.jsonl"))

    assert OTLPFileSpanExporter().file.path == str(tmp_path / "t.jsonl")
    assert OTLPFileMetricExporter().file.path == str(tmp_path / "m.jsonl")


def test_an_unwritable_path_setting_falls_back_to_the_default_file(tmp_path, monkeypatch):
    """As the start-up check says; a bad value of another setting does not stop the exporter either."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPANMETER_TRACES_FILE", str(tmp_path / "no" / "t.jsonl"))
    monkeypatch.setenv("SPANMETER_ANOMALY_SIGMA", "abc")

    exporter = OTLPFileSpanExporter()

    assert exporter.file.path == "spanmeter-traces.jsonl"
    assert exporter.export(make_spans(1)) is SpanExportResult.SUCCESS
    assert (tmp_path / "spanmeter-traces.jsonl").is_file()
