"""A neutral view of one finished span: what the enrichment reads, and where it writes.

The stages in enricher.py never touch an SDK ``ReadableSpan`` or an OTLP protobuf
``Span`` directly; they read and write through a :class:`SpanView`, so the same code
serves both halves of the product:

- :class:`SdkSpanView` (in process): a finished ``ReadableSpan`` is immutable, so
  writes are collected and :meth:`SdkSpanView.result` returns an :class:`EnrichedSpan`
  copy sharing everything else with the original (or the original itself when nothing
  was added).
- :class:`ProtoSpanView` (pipeline): a ``Span`` message inside a decoded
  ``ExportTraceServiceRequest`` is enriched in place: KeyValues are appended to
  ``span.attributes``, events to ``span.events``; nothing is converted to SDK objects,
  which would cost more than the whole per-span budget of the service.

Attributes of a protobuf span are read once per span into a dict of key -> KeyValue,
whose value is decoded only when a stage asks for the key (``tests/bench/bench_enrich_otlp.py``
prints both strategies: read-once-lazy-decode beats scanning the KeyValue list per
lookup and beats decoding every value up front, because stages look up ~15 keys of
which only a few are present).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, StatusCode, TraceFlags

from spanmeter import sdk_internals
from spanmeter.otlp.anyvalue import append_attributes, set_value, to_python

# OTLP's names for span kinds and status codes (the Collector's spanmetrics dimensions).
SPAN_KIND_NAMES = tuple(ProtoSpan.SpanKind.Name(i) for i in range(6))
"""Index = OTLP enum value: SPAN_KIND_UNSPECIFIED, _INTERNAL, _SERVER, _CLIENT, _PRODUCER, _CONSUMER."""
STATUS_CODE_NAMES = ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")
PROTO_STATUS_ERROR = 2
# Span.flags bits (trace.proto): whether the parent's is_remote is known, and its value.
_FLAG_HAS_IS_REMOTE = 0x100
_FLAG_IS_REMOTE = 0x200


class SpanView(Protocol):
    """What a stage may read from a span and how it adds its results."""

    name: str
    start_ns: int
    end_ns: int
    is_error: bool
    service: str | None

    def get(self, key: str) -> Any:
        """The attribute's value (str, bool, int, float or a tuple of them), None if absent."""

    def items(self) -> Iterable[tuple[str, Any]]:
        """Every attribute, decoded (stages that scan a prefix use it)."""

    def keys(self) -> Iterable[str]:
        """The attributes' names, none decoded (whether a rare name is there, in one pass)."""

    @property
    def kind_name(self) -> str:
        """``SPAN_KIND_*``."""

    @property
    def status_name(self) -> str:
        """``STATUS_CODE_*``."""

    def rollup_ids(self) -> tuple[Any, Any]:
        """(this span's id, its parent's id when the parent is in the same process, else None):
        hashable ids, unique within the adapter (ints for SDK spans, bytes for protobuf)."""

    def ids(self) -> tuple[int, int]:
        """(trace id, span id) as integers."""

    def scope(self) -> str:
        """The name of the instrumentation scope (library) that made the span."""

    def parent_id(self) -> int:
        """The parent's span id as an integer, local or remote; 0 for a root."""

    def span_context(self) -> SpanContext:
        """An OpenTelemetry SpanContext (links log records and exemplars to the span)."""

    def exemplar_context(self) -> Any:
        """The Context the SDK's exemplar filter reads (None for unsampled spans)."""

    def set_attributes(self, new: Mapping[str, Any]) -> None: ...

    def add_event(self, name: str, attributes: Mapping[str, Any], time_ns: int) -> None: ...


# -- SDK spans (in process) -----------------------------------------------------------------


class EnrichedSpan(ReadableSpan):
    """A finished span with spanmeter's attributes/events merged in; dropped counts
    are the original's (the merge itself drops nothing)."""

    def __init__(self, original: ReadableSpan, attributes: dict[str, Any], events: Sequence[Event]):
        """The original's fields are copied rather than passed to ``ReadableSpan.__init__``
        (same values, a third of the cost: one copy per enriched span)."""
        sdk_internals.copy_span_fields(original, self)
        self._attributes = attributes
        self._events = events
        self._original = original

    @property
    def dropped_attributes(self) -> int:
        return self._original.dropped_attributes

    @property
    def dropped_events(self) -> int:
        return self._original.dropped_events

    @property
    def dropped_links(self) -> int:
        return self._original.dropped_links


class SdkSpanView:
    """A finished SDK span; writes are kept until :meth:`result` builds the copy."""

    __slots__ = (
        "_events", "_new", "attrs", "context", "end_ns", "get", "is_error", "name", "parent", "service", "span",
        "start_ns", "status",
    )  # fmt: skip

    def __init__(self, span: ReadableSpan, service_cache: list[Any]):
        """``service_cache`` ([resource, service name]) avoids re-reading ``service.name``
        while consecutive spans share one resource (they nearly always do)."""
        self.span = span
        attrs, self.name, start, end, status, self.context, self.parent, resource = sdk_internals.span_core(span)
        self.attrs = attrs
        self.get = attrs.get
        self.start_ns = start or 0
        self.end_ns = end or 0
        self.status = status
        self.is_error = status is not None and status.status_code is StatusCode.ERROR
        if resource is not service_cache[0]:
            name = resource.attributes.get("service.name") if resource is not None else None
            service_cache[0], service_cache[1] = resource, name if type(name) is str else None
        self.service = service_cache[1]
        self._new: Mapping[str, Any] | None = None
        self._events: list[Event] | None = None

    def items(self) -> Iterable[tuple[str, Any]]:
        return self.attrs.items()

    def keys(self) -> Iterable[str]:
        return self.attrs.keys()

    @property
    def kind_name(self) -> str:
        return SPAN_KIND_NAMES[self.span.kind.value + 1]

    @property
    def status_name(self) -> str:
        status = self.status
        return STATUS_CODE_NAMES[status.status_code.value if status is not None else 0]

    def rollup_ids(self) -> tuple[int, int | None]:
        context, parent = self.context, self.parent
        local_parent = parent.span_id if parent is not None and not parent.is_remote else None
        return (context.span_id if context is not None else 0), local_parent

    def ids(self) -> tuple[int, int]:
        context = self.context
        return (context.trace_id, context.span_id) if context is not None else (0, 0)

    def parent_id(self) -> int:
        parent = self.parent
        return parent.span_id if parent is not None else 0

    def span_context(self) -> SpanContext | None:
        return self.context

    def exemplar_context(self) -> Any:
        context = self.context
        if context is not None and context.trace_flags.sampled:
            return trace.set_span_in_context(trace.NonRecordingSpan(context))
        return None

    def scope(self) -> str:
        scope = self.span.instrumentation_scope
        return scope.name if scope is not None else ""

    def set_attributes(self, new: Mapping[str, Any]) -> None:
        """Kept by reference until :meth:`result` (the caller hands over a fresh mapping)."""
        self._new = new if self._new is None else {**self._new, **new}

    def add_event(self, name: str, attributes: Mapping[str, Any], time_ns: int) -> None:
        if self._events is None:
            self._events = list(sdk_internals.span_events(self.span))
        self._events.append(Event(name, attributes, time_ns))

    def result(self) -> ReadableSpan:
        """The enriched copy, or the span itself when nothing was added."""
        if self._new is None and self._events is None:
            return self.span
        merged = {**self.attrs, **self._new} if self._new else dict(self.attrs)
        events = self._events if self._events is not None else sdk_internals.span_events(self.span)
        return EnrichedSpan(self.span, merged, events)


# -- OTLP protobuf spans (pipeline) -------------------------------------------------------------


class ProtoSpanView:
    """An OTLP ``Span`` message, enriched in place."""

    __slots__ = ("end_ns", "is_error", "name", "raw", "scope_name", "service", "span", "start_ns", "status_code")

    def __init__(self, span: ProtoSpan, service: str | None, scope_name: str = "",
                 raw: dict[str, KeyValue] | None = None):  # fmt: skip
        """``raw``: the span's attributes by key, when the caller has read them already."""
        self.span = span
        self.scope_name = scope_name
        self.raw = {kv.key: kv for kv in span.attributes} if raw is None else raw
        self.name = span.name
        self.start_ns = span.start_time_unix_nano
        self.end_ns = span.end_time_unix_nano
        self.status_code = code = span.status.code
        self.is_error = code == PROTO_STATUS_ERROR
        self.service = service

    def get(self, key: str) -> Any:
        kv = self.raw.get(key)
        if kv is None:
            return None
        value = kv.value
        # Most lookups are names and counts: a non-empty string or non-zero int needs no WhichOneof
        # (a oneof member that is not set reads as its zero value).
        text = value.string_value
        if text:
            return text
        number = value.int_value
        if number:
            return number
        which = value.WhichOneof("value")
        if which == "array_value" or which == "kvlist_value":
            return to_python(value)
        return getattr(value, which) if which is not None else None

    def items(self) -> Iterator[tuple[str, Any]]:
        for key, kv in self.raw.items():
            yield key, to_python(kv.value)

    def keys(self) -> Iterable[str]:
        return self.raw.keys()

    @property
    def kind_name(self) -> str:
        return proto_kind_name(self.span.kind)

    @property
    def status_name(self) -> str:
        return proto_status_name(self.status_code)

    def scope(self) -> str:
        return self.scope_name

    def rollup_ids(self) -> tuple[bytes, bytes | None]:
        return proto_rollup_ids(self.span)

    def ids(self) -> tuple[int, int]:
        return int.from_bytes(self.span.trace_id, "big"), int.from_bytes(self.span.span_id, "big")

    def parent_id(self) -> int:
        return int.from_bytes(self.span.parent_span_id, "big")

    def span_context(self) -> SpanContext:
        trace_id, span_id = self.ids()
        return SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))

    def exemplar_context(self) -> Any:
        return trace.set_span_in_context(trace.NonRecordingSpan(self.span_context()))

    def set_attributes(self, new: Mapping[str, Any]) -> None:
        """Append ``new``; a key the span already has is overwritten in place (OTLP
        attribute keys must be unique), as the SDK copy's dict update does."""
        raw = self.raw
        add = self.span.attributes.add
        for key, value in new.items():
            kv = raw.get(key)
            if kv is None:
                target = add(key=key).value
            else:
                target = kv.value
                target.Clear()
            kind = type(value)  # inline fast paths: the enrichment writes floats, strings and bools
            if kind is float:
                target.double_value = value
            elif kind is str:
                target.string_value = value
            else:
                set_value(target, value)

    def add_event(self, name: str, attributes: Mapping[str, Any], time_ns: int) -> None:
        event = self.span.events.add(name=name, time_unix_nano=time_ns or 0)
        append_attributes(event.attributes, attributes)


def proto_kind_name(kind: int) -> str:
    """``SPAN_KIND_*`` of an OTLP kind value (unknown values: unspecified)."""
    return SPAN_KIND_NAMES[kind] if 0 <= kind < len(SPAN_KIND_NAMES) else SPAN_KIND_NAMES[0]


def proto_status_name(code: int) -> str:
    """``STATUS_CODE_*`` of an OTLP status code value (unknown values: unset)."""
    return STATUS_CODE_NAMES[code] if 0 <= code < len(STATUS_CODE_NAMES) else STATUS_CODE_NAMES[0]


def proto_rollup_ids(span: ProtoSpan) -> tuple[bytes, bytes | None]:
    """:meth:`SpanView.rollup_ids` of a protobuf span: a parent flagged remote starts a new roll-up."""
    flags = span.flags
    remote = flags & _FLAG_HAS_IS_REMOTE and flags & _FLAG_IS_REMOTE
    return span.span_id, (None if remote else span.parent_span_id or None)


def resource_service(resource_attributes: Iterable[KeyValue]) -> str | None:
    """``service.name`` among a protobuf resource's attributes."""
    for kv in resource_attributes:
        if kv.key == "service.name":
            value = to_python(kv.value)
            return value if type(value) is str else None
    return None
