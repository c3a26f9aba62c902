"""The only module that reads private attributes of OpenTelemetry SDK objects.

Each read is a small named accessor, so an SDK upgrade that renames a field breaks
here, in one place, and the rest of spanmeter only calls public-looking functions.
Why private reads at all: the batch worker reads every finished span, and the public
properties of ``ReadableSpan`` (``attributes`` wraps the dict in a MappingProxy on
each access; ``events`` copies) cost more per span than the enrichment itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

_EMPTY: Mapping[str, Any] = {}


def span_attribute_dict(span: ReadableSpan) -> Mapping[str, Any]:
    """A finished span's attributes as a plain mapping, without the MappingProxy the
    public property builds (BoundedAttributes keeps a dict in ``_dict``)."""
    raw = span._attributes
    return getattr(raw, "_dict", raw) or _EMPTY


def span_fields(span: ReadableSpan) -> dict[str, Any]:
    """The constructor arguments that rebuild ``span`` as another ``ReadableSpan``
    (attributes and events left to the caller)."""
    return {
        "name": span._name,
        "context": span._context,
        "parent": span._parent,
        "resource": span._resource,
        "links": span._links,
        "kind": span._kind,
        "instrumentation_info": span._instrumentation_info,
        "status": span._status,
        "start_time": span._start_time,
        "end_time": span._end_time,
        "instrumentation_scope": span._instrumentation_scope,
    }


def span_events(span: ReadableSpan) -> tuple[Any, ...]:
    """The span's events as stored (the public property copies them into a tuple each read)."""
    return span._events


def log_record_processors(provider: Any) -> Sequence[Any] | None:
    """The processors of an SDK LoggerProvider (None when this SDK version keeps them
    elsewhere): the public API cannot tell a provider that exports from one that drops."""
    return getattr(getattr(provider, "_multi_log_record_processor", None), "_log_record_processors", None)
