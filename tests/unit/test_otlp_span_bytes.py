"""span_bytes: the walk finds every span's bytes in a serialized request, in decoded order
(several resources and scopes, a span of 128+ bytes whose length takes two varint bytes), and
gives up (None) on what is not the wire format it knows."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter.otlp.span_bytes import span_slices, spans_holding


def _request() -> ExportTraceServiceRequest:
    exporter = InMemorySpanExporter()
    for service in ("shop", "search"):
        provider = TracerProvider(resource=Resource.create({"service.name": service, "note": "gen_ai.not-a-span"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        for scope in ("flask", "openai"):
            tracer = provider.get_tracer(scope)
            tracer.start_span("GET /", attributes={"http.route": "/" + "x" * 200}).end()
            tracer.start_span("chat", attributes={"gen_ai.operation.name": "chat"}).end()
            tracer.start_span("SELECT", attributes={"db.system.name": "postgresql"}).end()
    return encode_spans(exporter.get_finished_spans())


def _spans(request: ExportTraceServiceRequest) -> list:
    return [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


def test_every_span_is_found_in_decoded_order():
    request = _request()
    raw = request.SerializeToString()
    spans = _spans(ExportTraceServiceRequest.FromString(raw))
    assert len(request.resource_spans) == 2 and len(spans) == 12
    assert [raw[start:end] for start, end in span_slices(raw)] == [span.SerializeToString() for span in spans]


def test_spans_holding_marks_only_spans_whose_own_bytes_hold_a_needle():
    raw = _request().SerializeToString()
    assert b"gen_ai.not-a-span" in raw  # a resource attribute: outside every span
    marks = spans_holding(raw, (b"gen_ai.", b"spanmeter."))
    assert marks == [span.name == "chat" for span in _spans(ExportTraceServiceRequest.FromString(raw))]


def test_bytes_of_another_shape_give_none():
    raw = _request().SerializeToString()
    assert span_slices(raw[:-3]) is None  # truncated
    assert span_slices(b"\x0b\x0c") is None  # a group
    assert spans_holding(b"\x0a\xff", (b"gen_ai.",)) is None  # a length beyond the message
    assert span_slices(b"") == []
