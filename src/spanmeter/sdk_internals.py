"""The only module that reads private attributes of OpenTelemetry SDK objects.

Each read is a small named accessor, so an SDK upgrade that renames a field breaks
here, in one place, and the rest of spanmeter only calls public-looking functions.
Why private reads at all: the batch worker reads every finished span, and the public
properties of ``ReadableSpan`` (``attributes`` wraps the dict in a MappingProxy on
each access; ``events`` copies) cost more per span than the enrichment itself.
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_EMPTY: Mapping[str, Any] = {}


def span_core(span: ReadableSpan) -> tuple[Mapping[str, Any], str, int, int, Any, Any, Any, Any]:
    """(attributes, name, start, end, status, context, parent, resource) of a finished span in
    one call: the attributes as a plain mapping, without the MappingProxy the public
    property builds (BoundedAttributes keeps a dict in ``_dict``)."""
    raw = span._attributes
    attributes = getattr(raw, "_dict", raw) or _EMPTY
    return (
        attributes, span._name, span._start_time, span._end_time, span._status, span._context, span._parent,
        span._resource,
    )  # fmt: skip


_SPAN_FIELDS = (
    "_name", "_context", "_parent", "_resource", "_links", "_kind", "_instrumentation_info", "_status",
    "_start_time", "_end_time", "_instrumentation_scope",
)  # fmt: skip
"""What ``ReadableSpan.__init__`` stores besides attributes and events."""
_span_field_values = operator.itemgetter(*_SPAN_FIELDS)


def copy_span_fields(source: ReadableSpan, target: ReadableSpan) -> None:
    """Set every field of ``source`` but attributes and events on ``target`` (a ReadableSpan
    not yet initialised): one C-level copy instead of ReadableSpan's keyword constructor,
    which costs about three times as much per enriched span."""
    vars(target).update(zip(_SPAN_FIELDS, _span_field_values(vars(source))))


def span_events(span: ReadableSpan) -> tuple[Any, ...]:
    """The span's events as stored (the public property copies them into a tuple each read)."""
    return span._events


def log_record_processors(provider: Any) -> Sequence[Any] | None:
    """The processors of an SDK LoggerProvider (None when this SDK version keeps them
    elsewhere): the public API cannot tell a provider that exports from one that drops."""
    return getattr(getattr(provider, "_multi_log_record_processor", None), "_log_record_processors", None)


def batch_queue(processor: BatchSpanProcessor) -> collections.deque:
    """The bounded deque a BatchSpanProcessor queues ended spans in (the same object for its
    whole life, cleared after a fork). ``len(queue) == queue.maxlen`` means the next span is dropped."""
    return processor._batch_processor._queue


def batch_export_in_progress(processor: BatchSpanProcessor) -> bool:
    """True while a BatchSpanProcessor's worker (or a flush) is exporting spans it took off the queue."""
    return processor._batch_processor._export_lock.locked()
