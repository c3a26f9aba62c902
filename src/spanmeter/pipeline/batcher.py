"""The ``batch`` processor, with the Collector's meaning: requests are held until
``send_batch_size`` items wait or ``timeout`` has passed since the first of them, then sent on
as one request, split into requests of at most ``send_batch_max_size`` items (0: unsplit).

As in the Collector, the sender is answered when its data joins a batch: what a batch holds is
lost if the process dies before it is sent (at most ``timeout`` of data); a stop sends it on.
Spans and log records are counted and split one by one; metrics by metric (a metric's data
points stay together).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from google.protobuf.message import Message

from spanmeter.otlp.protocol import REQUESTS
from spanmeter.pipeline.config import BatchSettings
from spanmeter.pipeline.telemetry import log_event

# signal -> (resource list, scope list, item list) field names of its export request
_LEVELS = {
    "traces": ("resource_spans", "scope_spans", "spans"),
    "metrics": ("resource_metrics", "scope_metrics", "metrics"),
    "logs": ("resource_logs", "scope_logs", "log_records"),
}


def _weight(signal: str, item: Message) -> int:
    """Items one element counts for: a metric its data points, a span or log record one."""
    if signal != "metrics":
        return 1
    kind = item.WhichOneof("data")
    return len(getattr(item, kind).data_points) if kind else 0


def merge(signal: str, requests: list[Message]) -> Message:
    merged = REQUESTS[signal]()
    resources = getattr(merged, _LEVELS[signal][0])
    for request in requests:
        resources.extend(getattr(request, _LEVELS[signal][0]))
    return merged


def split(signal: str, request: Message, max_items: int) -> list[tuple[Message, int]]:
    """``request`` as requests of at most ``max_items`` items each (0: as it is), with their counts."""
    resource_field, scope_field, item_field = _LEVELS[signal]
    if not max_items:
        items = (item for r in getattr(request, resource_field) for s in getattr(r, scope_field)
                 for item in getattr(s, item_field))  # fmt: skip
        return [(request, sum(_weight(signal, item) for item in items))]
    chunks: list[tuple[Message, int]] = []
    current, size, target = REQUESTS[signal](), 0, None
    for resource in getattr(request, resource_field):
        for scope in getattr(resource, scope_field):
            target = None  # a new scope: new containers in the current chunk
            for item in getattr(scope, item_field):
                weight = _weight(signal, item)
                if size and size + weight > max_items:
                    chunks.append((current, size))
                    current, size, target = REQUESTS[signal](), 0, None
                if target is None:
                    target = _containers(current, resource, scope, resource_field, scope_field)
                getattr(target, item_field).add().CopyFrom(item)
                size += weight
    if size:
        chunks.append((current, size))
    return chunks


def _containers(request: Message, resource: Message, scope: Message, resource_field: str, scope_field: str) -> Message:
    """A copy of ``resource`` and ``scope`` without their items, appended to ``request``: the scope."""
    new_resource = getattr(request, resource_field).add(schema_url=resource.schema_url)
    new_resource.resource.CopyFrom(resource.resource)
    new_scope = getattr(new_resource, scope_field).add(schema_url=scope.schema_url)
    new_scope.scope.CopyFrom(scope.scope)
    return new_scope


# send(request, items) -> a problem description when it could not be handed on, else None
Send = Callable[[Message, int], object]


class Batcher:
    def __init__(self, name: str, settings: BatchSettings, signal: str, send: Send):
        self.name, self.settings, self.signal, self._send = name, settings, signal, send
        self._pending: list[Message] = []
        self._items = 0
        self._deadline = 0.0
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"spanmeter-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, request: Message, items: int) -> None:
        """Hold ``request``; send the batch now (on this thread) when it reached ``send_batch_size``."""
        with self._ready:
            if not self._pending:
                self._deadline = time.monotonic() + self.settings.timeout
                self._ready.notify()
            self._pending.append(request)
            self._items += items
            taken = self._take() if self._items >= self.settings.send_batch_size else None
        if taken:
            self._flush(taken)

    def _take(self) -> list[Message]:
        taken, self._pending, self._items = self._pending, [], 0
        return taken

    def _run(self) -> None:
        """Send a batch once ``timeout`` has passed since its first request."""
        while True:
            with self._ready:
                if self._stopped:
                    return
                wait = self._deadline - time.monotonic() if self._pending else None
                if wait is None or wait > 0:
                    self._ready.wait(wait if wait is not None else 1.0)
                    continue
                taken = self._take()
            self._flush(taken)

    def _flush(self, requests: list[Message]) -> None:
        merged = merge(self.signal, requests) if len(requests) > 1 else requests[0]
        for part, items in split(self.signal, merged, self.settings.send_batch_max_size):
            problem = self._send(part, items)
            if problem is not None:
                log_event("batch_not_delivered", logging.WARNING, processor=self.name, signal=self.signal,
                          items=items, error=str(problem))  # fmt: skip

    def stop(self) -> None:
        """Send what is held, then stop the timer."""
        with self._ready:
            self._stopped = True
            taken = self._take()
            self._ready.notify()
        if taken:
            self._flush(taken)
        self._thread.join(timeout=2)
