"""The OTLP/JSON traces decoder gives the same protobuf request as the protobuf bytes would, for every field."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2

from spanmeter.otlp.json_codec import to_json_line
from spanmeter.pipeline.receivers import BadRequest, decode_json


def _rich_request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.30.0")
    resource_spans.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(string_value="svc"))
    resource_spans.resource.dropped_attributes_count = 1
    scope_spans = resource_spans.scope_spans.add(schema_url="s")
    scope_spans.scope.name, scope_spans.scope.version = "lib", "1.2"
    scope_spans.scope.attributes.add(key="a", value=common_pb2.AnyValue(bool_value=True))
    span = scope_spans.spans.add(
        trace_id=bytes(range(16)), span_id=bytes(range(8)), parent_span_id=bytes(range(1, 9)), trace_state="k=v",
        name="chat", kind=3, start_time_unix_nano=2**62 + 1, end_time_unix_nano=2**62 + 99, flags=257,
        dropped_attributes_count=2, dropped_events_count=3, dropped_links_count=4,
    )  # fmt: skip
    values = {
        "s": common_pb2.AnyValue(string_value="x"),
        "i": common_pb2.AnyValue(int_value=-(2**60)),
        "d": common_pb2.AnyValue(double_value=0.25),
        "b": common_pb2.AnyValue(bool_value=False),
        "bytes": common_pb2.AnyValue(bytes_value=b"\x00\xff"),
        "array": common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[common_pb2.AnyValue(int_value=1)])),
        "kv": common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(
            values=[common_pb2.KeyValue(key="n", value=common_pb2.AnyValue(string_value="v"))])),
        "empty_array": common_pb2.AnyValue(array_value=common_pb2.ArrayValue()),
    }  # fmt: skip
    for key, value in values.items():
        span.attributes.add(key=key, value=value)
    event = span.events.add(name="exception", time_unix_nano=2**62 + 5, dropped_attributes_count=1)
    event.attributes.add(key="exception.type", value=common_pb2.AnyValue(string_value="ValueError"))
    link = span.links.add(trace_id=bytes(range(16, 32)), span_id=bytes(range(8, 16)), trace_state="t", flags=1)
    link.attributes.add(key="l", value=common_pb2.AnyValue(int_value=7))
    span.status.code, span.status.message = 2, "boom"
    return request


def test_every_field_decodes_as_the_protobuf_bytes_would():
    request = _rich_request()
    assert decode_json("traces", to_json_line(request).encode()) == request


def test_int64_as_numbers_and_unknown_fields_are_accepted():
    tree = json.loads(to_json_line(_rich_request()))
    span = tree["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = int(span["startTimeUnixNano"])
    span["futureField"] = {"x": 1}
    tree["resourceSpans"][0]["futureResourceField"] = []
    assert decode_json("traces", json.dumps(tree).encode()) == _rich_request()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"resourceSpans": {"a": 1}}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "fast"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"value": {}}]}]}]}]}',
    ],
)
def test_malformed_bodies_are_bad_requests(body):
    with pytest.raises(BadRequest, match="cannot decode the OTLP/JSON traces request"):
        decode_json("traces", body)
