"""OTLP/JSON: the one tolerant decoder, and the encoder of protobuf export requests.

The decoder accepts what the OTLP/JSON specification and protobuf's JSON mapping allow,
field by field: trace and span ids as hex (the specification) or base64 (protobuf's
mapping, which some producers and protobuf's own printer emit); keys in lowerCamelCase
(the specification) or the proto's snake_case (which protobuf's parser accepts too);
enums as numbers or names; 64-bit integers as strings or numbers. Unknown fields are
ignored. Anything else is :class:`MalformedJSON`, one ValueError naming what was wrong.

It reads a document three ways, all through the same field, id, enum and AnyValue
readers (and tests hold each equal to protobuf's own parser on the same inputs):

- :func:`decode` of a traces request builds the protobuf message field by field: several
  times faster than protobuf's generic parser (``tests/bench/bench_otlp_json.py`` prints
  both), and it is the pipeline's hot path.
- :func:`decode` of any other request (metrics, logs) turns ids into base64 and hands the
  tree to protobuf's parser: those requests pass through the pipeline unchanged.
- :func:`flat_spans` walks a traces tree into plain records without building protobuf
  messages: what ``spanmeter report`` reads millions of spans with.

The encoder (:func:`to_json_line`) writes what the specification asks for: camelCase,
hex ids, enums as numbers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from spanmeter.otlp.anyvalue import append_json_attributes, int64, json_attributes

M = TypeVar("M", bound=Message)
T = TypeVar("T")
SPAN_KINDS = dict(Span.SpanKind.items())
STATUS_CODES = dict(Status.StatusCode.items())
_STATUS_ERROR = Status.STATUS_CODE_ERROR
# Fields holding ids anywhere in traces, metrics (exemplars) and logs, in both cases.
_ID_FIELDS = frozenset({"traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"})
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_COMPACT = {"separators": (",", ":")}
# How many messages deep an attribute's value sits in a traces request (the request is 1): a resource's
# (request, resource spans, resource, key-value, value), a scope's or span's, an event's or link's.
_RESOURCE_VALUE, _SPAN_VALUE, _EVENT_VALUE = 5, 6, 7
# What a malformed document raises on its way through: bad JSON or base64 (ValueError), a wrong
# shape (the rest), protobuf's parser's own error, nesting deeper than Python recurses.
_FAULTS = (ValueError, TypeError, KeyError, AttributeError, json_format.ParseError, RecursionError)


class MalformedJSON(ValueError):
    """The document is not an OTLP/JSON export request of the expected type."""


# -- field readers -------------------------------------------------------------------------------


def field(node: Mapping[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    """A field by its lowerCamelCase name, else by its snake_case name."""
    value = node.get(camel)
    return node.get(snake, default) if value is None else value


def id_bytes(raw: Any) -> bytes:
    """A trace or span id from hex or base64; empty stays empty.

    Hex is tried first: it is the specification's spelling, and base64 of a valid id (8 or 16
    bytes) never reads as hex, as it ends in ``=``. An id of the wrong length is decoded as
    given (the pipeline rejects its span: partial success).
    """
    if not raw:
        return b""
    if type(raw) is not str:
        raise TypeError(f"expected an id string, got {raw!r}")
    try:
        return bytes.fromhex(raw)
    except ValueError:
        pass
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise ValueError(f"an id in hex or base64 expected, got {raw!r}") from None


def id_hex(raw: Any) -> str:
    """A trace or span id as lower-case hex, from hex or base64."""
    if type(raw) is str and not len(raw) % 2 and _HEX_DIGITS.issuperset(raw):
        return raw.lower()
    return id_bytes(raw).hex()


def enum(raw: Any, names: Mapping[str, int]) -> int:
    """An enum value given as its number or its name."""
    if type(raw) is int:
        return raw
    number = names.get(raw) if type(raw) is str else None
    return int(raw) if number is None else number


# -- traces, field by field into protobuf -----------------------------------------------------------


def _span(span: Any, data: Mapping[str, Any]) -> None:
    """One span; optional fields are read as ``camel or snake`` and written only when set
    (the hot path of JSON ingestion: an absent field costs two lookups and nothing else)."""
    get = data.get
    span.trace_id = id_bytes(get("traceId") or get("trace_id"))
    span.span_id = id_bytes(get("spanId") or get("span_id"))
    parent = get("parentSpanId") or get("parent_span_id")
    if parent:
        span.parent_span_id = id_bytes(parent)
    state = get("traceState") or get("trace_state")
    if state:
        span.trace_state = state
    span.name = get("name") or ""
    kind = get("kind")
    if kind:
        span.kind = kind if type(kind) is int else enum(kind, SPAN_KINDS)
    span.start_time_unix_nano = int64(get("startTimeUnixNano") or get("start_time_unix_nano") or 0)
    span.end_time_unix_nano = int64(get("endTimeUnixNano") or get("end_time_unix_nano") or 0)
    span.flags = int64(get("flags") or 0)
    append_json_attributes(span.attributes, get("attributes") or (), _SPAN_VALUE)
    _dropped_attributes(span, data)
    for event in get("events") or ():
        target = span.events.add(name=event.get("name") or "")
        target.time_unix_nano = int64(event.get("timeUnixNano") or event.get("time_unix_nano") or 0)
        append_json_attributes(target.attributes, event.get("attributes") or (), _EVENT_VALUE)
        _dropped_attributes(target, event)
    for link in get("links") or ():
        _link(span.links.add(), link)
    _dropped_events_and_links(span, get)
    status = get("status")
    if status is not None:
        span.status.SetInParent()
        span.status.code = enum(status.get("code") or 0, STATUS_CODES)
        span.status.message = status.get("message") or ""


def _dropped_attributes(target: Any, data: Mapping[str, Any]) -> None:
    count = data.get("droppedAttributesCount") or data.get("dropped_attributes_count")
    if count:
        target.dropped_attributes_count = int64(count)


def _dropped_events_and_links(span: Any, get: Callable[[str], Any]) -> None:
    events = get("droppedEventsCount") or get("dropped_events_count")
    if events:
        span.dropped_events_count = int64(events)
    links = get("droppedLinksCount") or get("dropped_links_count")
    if links:
        span.dropped_links_count = int64(links)


def _link(link: Any, data: Mapping[str, Any]) -> None:
    get = data.get
    link.trace_id = id_bytes(get("traceId") or get("trace_id"))
    link.span_id = id_bytes(get("spanId") or get("span_id"))
    link.trace_state = get("traceState") or get("trace_state") or ""
    link.flags = int64(get("flags") or 0)
    append_json_attributes(link.attributes, get("attributes") or (), _EVENT_VALUE)
    _dropped_attributes(link, data)


def _scope(scope: Any, data: Mapping[str, Any] | None) -> None:
    if data is not None:
        scope.SetInParent()
        scope.name = data.get("name") or ""
        scope.version = data.get("version") or ""
        append_json_attributes(scope.attributes, data.get("attributes") or (), _SPAN_VALUE)
        _dropped_attributes(scope, data)


def _trace_request(tree: Mapping[str, Any]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for resource_data in field(tree, "resourceSpans", "resource_spans", ()):
        resource_spans = request.resource_spans.add()
        resource = resource_data.get("resource")
        if resource is not None:
            target = resource_spans.resource
            target.SetInParent()
            append_json_attributes(target.attributes, resource.get("attributes") or (), _RESOURCE_VALUE)
            _dropped_attributes(target, resource)
        resource_spans.schema_url = field(resource_data, "schemaUrl", "schema_url", "")
        for scope_data in field(resource_data, "scopeSpans", "scope_spans", ()):
            scope_spans = resource_spans.scope_spans.add(schema_url=field(scope_data, "schemaUrl", "schema_url", ""))
            _scope(scope_spans.scope, scope_data.get("scope"))
            for span in scope_data.get("spans", ()):
                _span(scope_spans.spans.add(), span)
    return request


# -- any request, through protobuf's parser ---------------------------------------------------------


def _ids_to_base64(node: Any) -> Any:
    """Every id field of a JSON tree as the base64 protobuf's parser expects, in place; returns the tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64encode(id_bytes(value)).decode("ascii")
            else:
                _ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_base64(item)
    return node


def _tree(data: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    tree = json.loads(data) if isinstance(data, str | bytes | bytearray) else data
    if not isinstance(tree, dict):
        raise TypeError(f"expected a JSON object, got {type(tree).__name__}")
    return tree


def decode(data: str | bytes | Mapping[str, Any], message_type: type[M]) -> M:
    """One OTLP/JSON export request (text, or its already-parsed tree, whose ids a non-traces
    request has turned into base64 in place) as the protobuf ``message_type``."""
    try:
        tree = _tree(data)
        if message_type is ExportTraceServiceRequest:
            return _trace_request(tree)  # type: ignore[return-value]
        return json_format.ParseDict(_ids_to_base64(tree), message_type(), ignore_unknown_fields=True)
    except _FAULTS as exc:
        raise MalformedJSON(f"{type(exc).__name__}: {exc}") from None


# -- traces, read-only into plain records -----------------------------------------------------------


def flat_spans(data: str | bytes | Mapping[str, Any], make: Callable[..., T], sequence: Callable = tuple) -> list[T]:
    """Every span of one OTLP/JSON traces request as ``make(trace_id, span_id, parent_span_id, name,
    start_unix_nano, end_unix_nano, is_error, attributes, resource, scope)``: ids as hex, attributes
    and resource attributes as dicts of Python values (arrays as ``sequence``), scope its name."""
    try:
        return _flat_spans(_tree(data), make, sequence)
    except _FAULTS as exc:
        raise MalformedJSON(f"{type(exc).__name__}: {exc}") from None


def _flat_spans(tree: Mapping[str, Any], make: Callable[..., T], sequence: Callable) -> list[T]:
    records = []
    for resource_spans in field(tree, "resourceSpans", "resource_spans", ()):
        resource = json_attributes((resource_spans.get("resource") or {}).get("attributes", ()), sequence)
        for scope_spans in field(resource_spans, "scopeSpans", "scope_spans", ()):
            scope = (scope_spans.get("scope") or {}).get("name", "")
            for span in scope_spans.get("spans", ()):
                get = span.get
                status = get("status") or {}
                records.append(make(
                    id_hex(get("traceId") or get("trace_id")),
                    id_hex(get("spanId") or get("span_id")),
                    id_hex(get("parentSpanId") or get("parent_span_id")),
                    get("name") or "",
                    int64(get("startTimeUnixNano") or get("start_time_unix_nano") or 0),
                    int64(get("endTimeUnixNano") or get("end_time_unix_nano") or 0),
                    enum(status.get("code") or 0, STATUS_CODES) == _STATUS_ERROR,
                    json_attributes(get("attributes") or (), sequence),
                    resource,
                    scope,
                ))  # fmt: skip
    return records


# -- the encoder ---------------------------------------------------------------------------------------


def _ids_to_hex(node: Any) -> Any:
    """Every (base64, as protobuf prints them) id field of a JSON tree as hex, in place; returns the tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)
    return node


def to_json_line(message: Message) -> str:
    """One compact OTLP/JSON line (with the trailing newline) for a protobuf export request."""
    tree = json_format.MessageToDict(message, use_integers_for_enums=True)
    return json.dumps(_ids_to_hex(tree), **_COMPACT) + "\n"
