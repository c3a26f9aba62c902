"""The one OTLP/JSON decoder reads every spelling the specification and protobuf's JSON mapping allow, as
protobuf's own parser reads it, in every place that reads OTLP/JSON: the codec itself, the report's reader
and the file codec (the JSON receiver is held to the same over real HTTP in the integration tests)."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spanmeter.otlp import json_codec
from spanmeter.report.reader import (
    SpanRecord,
    read_metric_requests,
    read_span_batches,
    read_trace_requests,
    spans_of,
    spans_of_json,
)
from support.otlp_requests import Variant, json_variants, rich_logs_request, rich_metrics_request, rich_trace_request

REQUESTS = {
    ExportTraceServiceRequest: rich_trace_request(),
    ExportMetricsServiceRequest: rich_metrics_request(),
    ExportLogsServiceRequest: rich_logs_request(),
}
CASES = [(kind, variant) for kind, message in REQUESTS.items() for variant in json_variants(message)]
TRACE_VARIANTS = json_variants(rich_trace_request())


def _ids(case):
    return case.label if isinstance(case, Variant) else f"{case[0].__name__[6:-14]}: {case[1].label}"


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_decode_reads_every_spelling_as_protobufs_parser_does(case):
    message_type, variant = case
    expected = json_format.Parse(variant.protobuf_text, message_type())
    assert expected == REQUESTS[message_type]  # the spelling is faithful
    assert json_codec.decode(variant.text, message_type) == expected
    assert json_codec.decode(variant.text.encode(), message_type) == expected
    assert json_codec.decode(json.loads(variant.text), message_type) == expected


@pytest.mark.parametrize("variant", TRACE_VARIANTS, ids=_ids)
def test_the_read_only_walk_gives_the_records_of_protobufs_reading(variant):
    expected = list(spans_of(json_format.Parse(variant.protobuf_text, ExportTraceServiceRequest())))
    assert spans_of_json(variant.text) == expected
    assert [span.is_error for span in expected] == [True, False]
    assert expected[0].trace_id == bytes(range(16)).hex() and expected[0].parent_span_id == bytes(range(1, 9)).hex()
    assert expected[0].attributes["array"] == [1, "two"] and expected[0].attributes["unset"] is None


@pytest.mark.parametrize("variant", TRACE_VARIANTS[::3], ids=_ids)
def test_the_report_reader_reads_every_spelling_from_files(tmp_path, variant):
    path = tmp_path / "traces.jsonl"
    path.write_text(variant.text + "\n" + variant.text + "\n")
    expected = json_format.Parse(variant.protobuf_text, ExportTraceServiceRequest())
    assert list(read_trace_requests(path)) == [expected, expected]
    assert list(read_span_batches(path)) == [list(spans_of(expected))] * 2


@pytest.mark.parametrize("variant", json_variants(rich_metrics_request())[::3], ids=_ids)
def test_the_report_reader_reads_metrics_in_every_spelling(tmp_path, variant):
    path = tmp_path / "metrics.jsonl"
    path.write_text(variant.text + "\n")
    assert list(read_metric_requests(path)) == [json_format.Parse(variant.protobuf_text, ExportMetricsServiceRequest())]


@pytest.mark.parametrize("message", REQUESTS.values(), ids=lambda message: type(message).__name__)
def test_the_encoder_writes_hex_ids_camel_case_and_enum_numbers_and_reads_back(message):
    line = json_codec.to_json_line(message)
    assert line.endswith("\n") and "\n" not in line[:-1]
    assert '"traceId":"000102030405060708090a0b0c0d0e0f"' in line
    assert "_" not in "".join(json.loads(line))  # camelCase keys
    assert json_codec.decode(line, type(message)) == message


def test_records_are_made_by_the_callers_type():
    (variant,) = [v for v in TRACE_VARIANTS if v.label.startswith("hex ids, camelCase")][:1]
    rows = json_codec.flat_spans(variant.text, lambda *fields: fields)
    records = json_codec.flat_spans(variant.text, SpanRecord, list)
    assert [SpanRecord(*row) for row in rows] != records  # arrays: tuples unless the caller asks for lists
    assert records == spans_of_json(variant.text)


MALFORMED = [
    b"not json",
    b"[]",
    b'{"resourceSpans": {"a": 1}}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"status": {"code": "STATUS_CODE_MAYBE"}}]}]}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"value": {}}]}]}]}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "k", "value": {"boolValue": 1}}]}]}]}]}',
    b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "deep", "value": '
    + b'{"arrayValue": {"values": [' * 400
    + b"{}"
    + b"]}}" * 400
    + b"}]}]}]}]}",  # deeper than Python recurses
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_traces_are_one_error_on_every_path(body):
    with pytest.raises(json_codec.MalformedJSON):
        json_codec.decode(body, ExportTraceServiceRequest)
    with pytest.raises(json_codec.MalformedJSON):
        json_codec.flat_spans(body, SpanRecord)


def test_a_field_the_records_do_not_carry_is_checked_where_it_is_read():
    body = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "fast"}]}]}]}'
    with pytest.raises(json_codec.MalformedJSON, match="fast"):
        json_codec.decode(body, ExportTraceServiceRequest)
    assert len(json_codec.flat_spans(body, SpanRecord)) == 1


@pytest.mark.parametrize(
    ("body", "message_type"),
    [
        (b'{"resourceMetrics": 5}', ExportMetricsServiceRequest),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz"}]}]}]}', ExportLogsServiceRequest),
    ],
)
def test_malformed_metrics_and_logs_are_the_same_error(body, message_type):
    with pytest.raises(json_codec.MalformedJSON):
        json_codec.decode(body, message_type)


def test_an_id_of_the_wrong_length_is_read_as_written_for_the_pipeline_to_reject():
    body = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abcd", "spanId": "AAECAw=="}]}]}]}'
    span = json_codec.decode(body, ExportTraceServiceRequest).resource_spans[0].scope_spans[0].spans[0]
    assert (span.trace_id, span.span_id) == (b"\xab\xcd", b"\x00\x01\x02\x03")
