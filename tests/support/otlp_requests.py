"""OTLP export requests that use every field, and the OTLP/JSON spellings of each that readers must accept.

``json_variants`` writes one request every way the OTLP/JSON specification and protobuf's
JSON mapping allow (ids hex or base64, keys camelCase or snake_case, enums as numbers or
names, 64-bit integers as strings or numbers), each with the same document as protobuf's
own parser can read it (base64 ids): the reference a decoder is held to.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any, NamedTuple

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2

_ID_KEYS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
_INT64_KEYS = {"startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "observedTimeUnixNano", "intValue", "asInt",
               "count", "bucketCounts", "start_time_unix_nano", "end_time_unix_nano", "time_unix_nano",
               "observed_time_unix_nano", "int_value", "as_int", "bucket_counts"}  # fmt: skip


def _any(**member: Any) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(**member)


def every_value_kind() -> dict[str, common_pb2.AnyValue]:
    """One attribute per AnyValue member, plus the empty and nested cases."""
    return {
        "s": _any(string_value="x"),
        "i": _any(int_value=-(2**60)),
        "d": _any(double_value=0.25),
        "b": _any(bool_value=False),
        "bytes": _any(bytes_value=b"\x00\xff"),
        "array": _any(array_value=common_pb2.ArrayValue(values=[_any(int_value=1), _any(string_value="two")])),
        "kv": _any(kvlist_value=common_pb2.KeyValueList(
            values=[common_pb2.KeyValue(key="n", value=_any(string_value="v"))])),
        "empty_array": _any(array_value=common_pb2.ArrayValue()),
        "unset": common_pb2.AnyValue(),
    }  # fmt: skip


def rich_trace_request() -> ExportTraceServiceRequest:
    """Two spans (an error child, a root) using every field of the traces request."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.30.0")
    resource_spans.resource.attributes.add(key="service.name", value=_any(string_value="svc"))
    resource_spans.resource.dropped_attributes_count = 1
    scope_spans = resource_spans.scope_spans.add(schema_url="s")
    scope_spans.scope.name, scope_spans.scope.version = "lib", "1.2"
    scope_spans.scope.attributes.add(key="a", value=_any(bool_value=True))
    span = scope_spans.spans.add(
        trace_id=bytes(range(16)), span_id=bytes(range(8)), parent_span_id=bytes(range(1, 9)), trace_state="k=v",
        name="chat", kind=3, start_time_unix_nano=2**62 + 1, end_time_unix_nano=2**62 + 99, flags=257,
        dropped_attributes_count=2, dropped_events_count=3, dropped_links_count=4,
    )  # fmt: skip
    for key, value in every_value_kind().items():
        span.attributes.add(key=key, value=value)
    event = span.events.add(name="exception", time_unix_nano=2**62 + 5, dropped_attributes_count=1)
    event.attributes.add(key="exception.type", value=_any(string_value="ValueError"))
    link = span.links.add(trace_id=bytes(range(16, 32)), span_id=bytes(range(8, 16)), trace_state="t", flags=1)
    link.attributes.add(key="l", value=_any(int_value=7))
    span.status.code, span.status.message = 2, "boom"
    root = scope_spans.spans.add(trace_id=bytes(range(16)), span_id=bytes(range(1, 9)), name="agent", kind=1,
                                 start_time_unix_nano=2**62, end_time_unix_nano=2**62 + 100)  # fmt: skip
    root.status.code = 1
    return request


def rich_metrics_request() -> ExportMetricsServiceRequest:
    """A gauge, a cumulative sum and a histogram with an exemplar that carries trace and span ids."""
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.add(key="service.name", value=_any(string_value="svc"))
    metrics = resource_metrics.scope_metrics.add().metrics
    gauge = metrics.add(name="g", unit="1").gauge.data_points.add(as_int=-5, time_unix_nano=2**62)
    gauge.attributes.add(key="k", value=_any(string_value="v"))
    total = metrics.add(name="c").sum
    total.aggregation_temporality, total.is_monotonic = 2, True
    total.data_points.add(as_double=1.5, start_time_unix_nano=1, time_unix_nano=2**62)
    histogram = metrics.add(name="h").histogram
    histogram.aggregation_temporality = 1
    point = histogram.data_points.add(count=3, sum=6.0, bucket_counts=[1, 2], explicit_bounds=[1.0], time_unix_nano=9)
    point.exemplars.add(as_double=2.0, time_unix_nano=8, trace_id=bytes(range(16)), span_id=bytes(range(8)))
    return request


def rich_logs_request() -> ExportLogsServiceRequest:
    """A log record with a map body, a severity and the span it belongs to."""
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    record = records.add(time_unix_nano=2**62, observed_time_unix_nano=2**62 + 1, severity_number=17,
                         severity_text="ERROR", trace_id=bytes(range(16)), span_id=bytes(range(8)), flags=1)  # fmt: skip
    record.body.kvlist_value.values.add(key="event", value=_any(string_value="boom"))
    record.attributes.add(key="n", value=_any(int_value=1))
    return request


class Variant(NamedTuple):
    label: str
    text: str  # the document as a producer writes it
    protobuf_text: str  # the same document with base64 ids: what protobuf's own parser reads


def _walk(node: Any, change) -> Any:
    if isinstance(node, dict):
        return {key: change(key, _walk(value, change)) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk(item, change) for item in node]
    return node


def _hex_ids(key: str, value: Any) -> Any:
    return base64.b64decode(value).hex() if key in _ID_KEYS else value


def _int64_numbers(key: str, value: Any) -> Any:
    if key not in _INT64_KEYS:
        return value
    return [int(item) for item in value] if isinstance(value, list) else int(value)


def json_variants(message: Message) -> list[Variant]:
    """``message`` in each of the 16 OTLP/JSON spellings, with protobuf's reading of each."""
    variants = []
    for keys in ("camelCase", "snake_case"):
        for enums in ("enum numbers", "enum names"):
            tree = json_format.MessageToDict(message, preserving_proto_field_name=keys == "snake_case",
                                             use_integers_for_enums=enums == "enum numbers")  # fmt: skip
            for integers in ("int64 strings", "int64 numbers"):
                base = _walk(tree, _int64_numbers) if integers == "int64 numbers" else copy.deepcopy(tree)
                for ids in ("base64 ids", "hex ids"):
                    document = _walk(base, _hex_ids) if ids == "hex ids" else base
                    label = f"{ids}, {keys}, {enums}, {integers}"
                    variants.append(Variant(label, json.dumps(document), json.dumps(base)))
    return variants
