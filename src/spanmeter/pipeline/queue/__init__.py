"""The bounded queue between processing and one exporter: in memory, or on disk (``file_storage``).

Both hold :class:`Batch` es (an encoded export request and how many items it carries),
refuse a batch when full (the receiver then answers "retry later"), hand batches to
consumers with :meth:`get` and forget them on :meth:`ack`. Their settings are an exporter's
``sending_queue`` block (:class:`Queue`).
"""

from __future__ import annotations

import dataclasses

from spanmeter.pipeline.yaml_reading import Section, boolean, integer_at_least, text


@dataclasses.dataclass
class Batch:
    signal: str  # traces, metrics, logs
    payload: bytes  # a serialized Export*ServiceRequest
    items: int  # spans, metric points or log records in it
    key: int = 0  # the queue's handle for ack


@dataclasses.dataclass(frozen=True)
class Queue:
    """The Collector's ``sending_queue``: ``queue_size`` counts requests (batches)."""

    enabled: bool = True
    queue_size: int = 1000
    num_consumers: int = 10
    storage: str | None = None


def read_queue(section: Section) -> Queue:
    """An exporter's ``sending_queue`` block (the defaults when absent)."""
    if not section.has("sending_queue"):
        return Queue()
    queue = section.section("sending_queue")
    defaults = Queue()
    value = Queue(
        enabled=queue.get("enabled", boolean, "true or false", defaults.enabled),
        queue_size=queue.get("queue_size", integer_at_least(1), "a whole number >= 1", defaults.queue_size),
        num_consumers=queue.get("num_consumers", integer_at_least(1), "a whole number >= 1", defaults.num_consumers),
        storage=queue.get("storage", text, "the name of a file_storage extension"),
    )
    queue.done()
    return value
