"""Read OTLP/JSON-lines files (``spanmeter_file``'s or the Collector file exporter's) back.

``read_trace_requests`` / ``read_metric_requests`` give the protobuf export requests,
line by line; ``read_spans`` flattens traces into :class:`SpanRecord`, plain Python
values that the summary (and anyone scripting over the files) can use directly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from spanmeter.export.otlp_json import parse_json_line

M = TypeVar("M", bound=Message)


def _read_requests(path: str | os.PathLike[str], message_type: type[M]) -> Iterator[M]:
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                yield parse_json_line(line, message_type)
            except (ValueError, json_format.ParseError) as exc:
                raise ValueError(
                    f"{os.fspath(path)}:{number}: not an OTLP/JSON {message_type.__name__} ({exc})"
                ) from None


def read_trace_requests(path: str | os.PathLike[str]) -> Iterator[ExportTraceServiceRequest]:
    """Each line of a traces file as an ExportTraceServiceRequest (hex or base64 ids)."""
    return _read_requests(path, ExportTraceServiceRequest)


def read_metric_requests(path: str | os.PathLike[str]) -> Iterator[ExportMetricsServiceRequest]:
    """Each line of a metrics file as an ExportMetricsServiceRequest."""
    return _read_requests(path, ExportMetricsServiceRequest)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def attributes(key_values: list[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as a plain dict (arrays become lists)."""
    return {item.key: _value(item.value) for item in key_values}


@dataclasses.dataclass(frozen=True)
class SpanRecord:
    """One span from a traces file, in plain Python values."""

    trace_id: str  # hex
    span_id: str  # hex
    parent_span_id: str  # hex, "" for a root span
    name: str
    start_unix_nano: int
    end_unix_nano: int
    is_error: bool
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str

    @property
    def duration_ms(self) -> float:
        return (self.end_unix_nano - self.start_unix_nano) / 1e6


def read_spans(path: str | os.PathLike[str]) -> Iterator[SpanRecord]:
    """Every span in a traces file, in file order."""
    for request in read_trace_requests(path):
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    yield SpanRecord(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        start_unix_nano=span.start_time_unix_nano,
                        end_unix_nano=span.end_time_unix_nano,
                        is_error=span.status.code == Status.STATUS_CODE_ERROR,
                        attributes=attributes(span.attributes),
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
