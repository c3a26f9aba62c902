"""The one place spanmeter reads private attributes of OpenTelemetry SDK objects.

Each read is a small named function, so an SDK upgrade that renames a field breaks here,
in one file, with a name that says what spanmeter needed.
"""

from __future__ import annotations

import collections

from opentelemetry.sdk.trace.export import BatchSpanProcessor


def batch_queue(processor: BatchSpanProcessor) -> collections.deque:
    """The bounded deque a BatchSpanProcessor queues ended spans in (the same object for its
    whole life, cleared after a fork). ``len(queue) == queue.maxlen`` means the next span is dropped."""
    return processor._batch_processor._queue


def batch_export_in_progress(processor: BatchSpanProcessor) -> bool:
    """True while a BatchSpanProcessor's worker (or a flush) is exporting spans it took off the queue."""
    return processor._batch_processor._export_lock.locked()
