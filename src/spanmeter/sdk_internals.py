"""Every private attribute of an OpenTelemetry or provider-SDK object that spanmeter reads, in one place.

Some things have no public API, or one too slow for the batch worker (the public properties
of ``ReadableSpan`` wrap the attributes in a MappingProxy and copy the events on every
access, which costs more per span than the enrichment itself): reading a finished span,
replacing the span processors of a TracerProvider,
detaching a BatchSpanProcessor from its exporter, the delegates of a ParentBased
sampler, the client behind an SDK resource, the prepared request of anthropic's
stream manager. Each is a small named function here; nothing else in spanmeter
reads ``obj._x`` of another package (ruff's SLF001 enforces it).

An upgrade may remove one. :func:`check` runs once per package group when spanmeter
starts (the distro/``configure`` for ``opentelemetry-sdk``, each instrumentor's
``instrument()`` for its SDK): it looks for every attribute in :data:`REQUIREMENTS`
in the classes' declarations and code, without building objects, and when one is
gone says so once (a warning and ``spanmeter.internal.errors`` with component
``sdk_internals.<group>``) and returns False, so the caller can leave the feature
off. The accessors themselves fail softly (None) or raise AttributeError into the
caller's fault guard; never into the app. ``tests/unit/test_sdk_internals.py``
asserts that everything listed exists in the installed versions.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import operator
from collections.abc import Mapping
from typing import Any

from spanmeter.internal_errors import record_internal_error


@dataclasses.dataclass(frozen=True)
class Requirement:
    """``owner`` (a class in ``module``) has, or its code assigns, ``attribute``; ``used_for`` says why."""

    module: str
    owner: str
    attribute: str
    used_for: str

    def __str__(self) -> str:
        return f"{self.module}.{self.owner}.{self.attribute} ({self.used_for})"


_SDK_TRACE = "opentelemetry.sdk.trace"
_READ_SPAN = "reading finished spans in the batch worker"
_SPAN_FIELDS = (
    "_attributes", "_name", "_start_time", "_end_time", "_status", "_context", "_parent", "_resource", "_links",
    "_kind", "_instrumentation_info", "_instrumentation_scope", "_events",
)  # fmt: skip
_QUEUE = "counting dropped spans, flushing child processes"
_REPLACE = "replacing span processors (distro)"
_SAMPLER = "deferring request attributes under ParentBased samplers"
_STREAM_HELPER = "ending the span when a stream helper is closed"
_PARENT_BASED = (
    "_root", "_remote_parent_sampled", "_remote_parent_not_sampled", "_local_parent_sampled",
    "_local_parent_not_sampled",
)  # fmt: skip

REQUIREMENTS: dict[str, tuple[Requirement, ...]] = {
    "opentelemetry-sdk": (
        Requirement(_SDK_TRACE, "TracerProvider", "_active_span_processor", _REPLACE),
        Requirement(_SDK_TRACE, "SynchronousMultiSpanProcessor", "_span_processors", _REPLACE),
        Requirement(_SDK_TRACE, "SynchronousMultiSpanProcessor", "_lock", _REPLACE),
        Requirement("opentelemetry.sdk.trace.export", "BatchSpanProcessor", "_batch_processor", _REPLACE),
        Requirement("opentelemetry.sdk._shared_internal", "BatchProcessor", "_exporter", _REPLACE),
        Requirement("opentelemetry.sdk._shared_internal", "BatchProcessor", "_queue", _QUEUE),
        Requirement("opentelemetry.sdk._shared_internal", "BatchProcessor", "_export_lock", _QUEUE),
        Requirement("opentelemetry.sdk._shared_internal", "BatchProcessor", "emit", _QUEUE),
        Requirement(
            "opentelemetry.sdk._shared_internal",
            "BatchProcessor",
            "_max_export_batch_size",
            "deferring metrics in bursts",
        ),
        *(Requirement(_SDK_TRACE, "ReadableSpan", name, _READ_SPAN) for name in _SPAN_FIELDS),
        *(Requirement("opentelemetry.sdk.trace.sampling", "ParentBased", name, _SAMPLER) for name in _PARENT_BASED),
        Requirement("opentelemetry.sdk._logs", "LoggerProvider", "_multi_log_record_processor", "budget log records"),
        Requirement(
            "opentelemetry.sdk._logs._internal",
            "SynchronousMultiLogRecordProcessor",
            "_log_record_processors",
            "budget log records",
        ),
    ),
    "openai": (
        Requirement("openai._resource", "SyncAPIResource", "_client", "server.address/port"),
        Requirement("openai._resource", "AsyncAPIResource", "_client", "server.address/port"),
        Requirement("openai._base_client", "BaseClient", "_base_url", "server.address/port"),
        Requirement("openai._legacy_response", "LegacyAPIResponse", "_parsed_by_type", "with_raw_response streams"),
        Requirement("openai._legacy_response", "LegacyAPIResponse", "_cast_to", "with_raw_response streams"),
        Requirement("openai.lib.streaming.chat._completions", "ChatCompletionStream", "_raw_stream", _STREAM_HELPER),
        Requirement(
            "openai.lib.streaming.chat._completions", "AsyncChatCompletionStream", "_raw_stream", _STREAM_HELPER
        ),
        Requirement("openai.lib.streaming.responses._responses", "ResponseStream", "_raw_stream", _STREAM_HELPER),
        Requirement("openai.lib.streaming.responses._responses", "AsyncResponseStream", "_raw_stream", _STREAM_HELPER),
    ),
    "anthropic": (
        Requirement("anthropic._resource", "SyncAPIResource", "_client", "server.address/port"),
        Requirement("anthropic._resource", "AsyncAPIResource", "_client", "server.address/port"),
        Requirement("anthropic._base_client", "BaseClient", "_base_url", "server.address/port"),
        Requirement("anthropic._base_client", "BaseClient", "_tracer", "enriching the SDK's own span"),
        Requirement(
            "anthropic.lib.streaming._messages",
            "MessageStreamManager",
            "_MessageStreamManager__api_request",
            "spans of messages.stream()",
        ),
        Requirement(
            "anthropic.lib.streaming._messages",
            "AsyncMessageStreamManager",
            "_AsyncMessageStreamManager__api_request",
            "spans of messages.stream()",
        ),
    ),
}


def _known_names(cls: type) -> set[str]:
    """Names ``cls`` declares (class attributes, annotations) or its methods' code uses, over its MRO."""
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(vars(klass))
        names.update(vars(klass).get("__annotations__", {}))
        for value in vars(klass).values():
            function = getattr(value, "__func__", value)
            code = getattr(getattr(function, "fget", function), "__code__", None)
            if code is not None:
                names.update(code.co_names)
    return names


def missing(group: str) -> list[Requirement]:
    """The requirements of ``group`` the installed packages no longer meet (empty: all there)."""
    gone = []
    for requirement in REQUIREMENTS[group]:
        try:
            owner = getattr(importlib.import_module(requirement.module), requirement.owner)
        except (ImportError, AttributeError):
            gone.append(requirement)
            continue
        if requirement.attribute not in _known_names(owner):
            gone.append(requirement)
    return gone


@functools.cache
def check(group: str) -> bool:
    """Once per process: True when ``group``'s internals are all there; else say so once and return False."""
    gone = missing(group)
    if gone:
        record_internal_error(
            f"sdk_internals.{group}",
            AttributeError(
                f"the installed {group} lacks what spanmeter relies on, those features are off: "
                + "; ".join(map(str, gone))
            ),
        )
    return not gone


# --- OpenTelemetry SDK ----------------------------------------------------------------

_EMPTY: Mapping[str, Any] = {}


def span_core(span: Any) -> tuple[Mapping[str, Any], str, int, int, Any, Any, Any, Any]:
    """(attributes, name, start, end, status, context, parent, resource) of a finished span in
    one call: the attributes as a plain mapping, without the MappingProxy the public
    property builds (BoundedAttributes keeps a dict in ``_dict``)."""
    raw = span._attributes
    attributes = getattr(raw, "_dict", raw) or _EMPTY
    return (
        attributes, span._name, span._start_time, span._end_time, span._status, span._context, span._parent,
        span._resource,
    )  # fmt: skip


_COPIED_SPAN_FIELDS = (
    "_name", "_context", "_parent", "_resource", "_links", "_kind", "_instrumentation_info", "_status",
    "_start_time", "_end_time", "_instrumentation_scope",
)  # fmt: skip
"""What ``ReadableSpan.__init__`` stores besides attributes and events."""
_span_field_values = operator.itemgetter(*_COPIED_SPAN_FIELDS)


def copy_span_fields(source: Any, target: Any) -> None:
    """Set every field of ``source`` but attributes and events on ``target`` (a ReadableSpan
    not yet initialised): one C-level copy instead of ReadableSpan's keyword constructor,
    which costs about three times as much per enriched span."""
    vars(target).update(zip(_COPIED_SPAN_FIELDS, _span_field_values(vars(source))))


def span_events(span: Any) -> tuple[Any, ...]:
    """The span's events as stored (the public property copies them into a tuple each read)."""
    return span._events


def batch_queue(processor: Any) -> Any:
    """The bounded deque a BatchSpanProcessor queues ended spans in (the same object for its
    whole life, cleared after a fork). ``len(queue) == queue.maxlen`` means the next span is dropped."""
    return processor._batch_processor._queue


def batch_size(processor: Any) -> int:
    """The most spans a BatchSpanProcessor's worker exports at once (``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``)."""
    return processor._batch_processor._max_export_batch_size


def batch_emit(processor: Any) -> Any:
    """The bound ``emit`` of a BatchSpanProcessor's batcher: what its ``on_end`` calls once a
    span is known to be sampled (one frame and one check less on the app's thread)."""
    return processor._batch_processor.emit


def batch_export_in_progress(processor: Any) -> bool:
    """True while a BatchSpanProcessor's worker (or a flush) is exporting spans it took off the queue."""
    return processor._batch_processor._export_lock.locked()


def span_processors(provider: Any) -> tuple[Any, ...]:
    """The span processors of an SDK TracerProvider, in order."""
    return tuple(provider._active_span_processor._span_processors)


def replace_span_processors(provider: Any, processors: tuple[Any, ...]) -> None:
    """Make ``processors`` the provider's span processors, under the lock the SDK's add_span_processor takes."""
    chain = provider._active_span_processor
    with chain._lock:
        chain._span_processors = tuple(processors)


def detach_exporter(processor: Any, stand_in: Any) -> None:
    """Point a BatchSpanProcessor at ``stand_in``, so its shutdown stops its worker but not the real exporter."""
    processor._batch_processor._exporter = stand_in


def parent_based_delegates(sampler: Any) -> tuple[Any, ...]:
    """The samplers a ParentBased sampler delegates to (None for any it lacks)."""
    return tuple(getattr(sampler, name, None) for name in _PARENT_BASED)


def log_record_processors(provider: Any) -> tuple[Any, ...] | None:
    """The log record processors of an SDK LoggerProvider; None when they cannot be read."""
    processors = getattr(getattr(provider, "_multi_log_record_processor", None), "_log_record_processors", None)
    return None if processors is None else tuple(processors)


# --- provider SDKs (openai, anthropic) ------------------------------------------------


def resource_base_url(resource: Any) -> Any:
    """The base URL object of the client behind an SDK resource (``client.chat.completions``).

    The client's attribute rather than its public ``base_url`` property, which in openai runs
    an import statement on every read; the property when the attribute is gone. One call per
    LLM call, on its hot path. None when the resource has no client."""
    client = getattr(resource, "_client", None)
    url = getattr(client, "_base_url", None)
    return url if url is not None else getattr(client, "base_url", None)


def resource_client_tracer(resource: Any) -> Any:
    """The tracer of the anthropic client behind ``resource``; None when the client makes no spans."""
    return getattr(getattr(resource, "_client", None), "_tracer", None)


def openai_raw_response_class() -> type:
    """The class of what openai's ``with_raw_response`` methods return (a private module's)."""
    from openai._legacy_response import LegacyAPIResponse

    return LegacyAPIResponse


def openai_streamed_response_classes() -> tuple[type, type]:
    """The sync and async classes of what openai's ``with_streaming_response`` methods yield
    (a private module's)."""
    from openai._response import APIResponse, AsyncAPIResponse

    return APIResponse, AsyncAPIResponse


def set_parsed_result(raw: Any, value: Any) -> None:
    """Make ``raw.parse()`` of an openai ``with_raw_response`` result return ``value`` (e.g. a stream proxy)."""
    raw._parsed_by_type[raw._cast_to] = value


def raw_stream_of(helper: Any) -> Any:
    """The stream an openai stream helper (``ChatCompletionStream``, ...) reads from; None if unknown."""
    return getattr(helper, "_raw_stream", None)


def _request_attribute(manager: Any) -> str:
    """The name-mangled attribute holding the prepared request of anthropic's (Async)MessageStreamManager."""
    for cls in type(manager).__mro__:
        name = f"_{cls.__name__.lstrip('_')}__api_request"
        if hasattr(manager, name):
            return name
    raise AttributeError(f"{type(manager).__qualname__} keeps no prepared request spanmeter knows of")


def stream_manager_request(manager: Any) -> Any:
    """The request an anthropic stream manager sends when entered."""
    return getattr(manager, _request_attribute(manager))


def replace_stream_manager_request(manager: Any, request: Any) -> None:
    """Make an anthropic stream manager send ``request`` instead when entered."""
    setattr(manager, _request_attribute(manager), request)
