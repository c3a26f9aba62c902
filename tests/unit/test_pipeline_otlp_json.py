"""The receiver's OTLP/JSON decoding gives the same protobuf request as the protobuf bytes would, for every field;
a body it cannot decode is a BadRequest (400) for every signal."""

from __future__ import annotations

import json

import pytest

from spanmeter.otlp.json_codec import to_json_line
from spanmeter.pipeline.receivers import BadRequest, decode_json
from support.otlp_requests import rich_trace_request


def test_every_field_decodes_as_the_protobuf_bytes_would():
    request = rich_trace_request()
    assert decode_json("traces", to_json_line(request).encode()) == request


def test_int64_as_numbers_and_unknown_fields_are_accepted():
    tree = json.loads(to_json_line(rich_trace_request()))
    span = tree["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = int(span["startTimeUnixNano"])
    span["futureField"] = {"x": 1}
    tree["resourceSpans"][0]["futureResourceField"] = []
    assert decode_json("traces", json.dumps(tree).encode()) == rich_trace_request()


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


@pytest.mark.parametrize("signal", ["metrics", "logs"])
def test_malformed_metrics_and_logs_bodies_are_bad_requests_too(signal):
    body = b'{"resourceMetrics": 5, "resourceLogs": 5}'
    with pytest.raises(BadRequest, match=f"cannot decode the OTLP/JSON {signal} request"):
        decode_json(signal, body)
