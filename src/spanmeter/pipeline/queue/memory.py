"""The in-memory queue: a bounded deque of batches; what it holds is lost if the process dies."""

from __future__ import annotations

import collections
import threading

from spanmeter.pipeline.queue import Batch


class MemoryQueue:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: collections.deque[Batch] = collections.deque()
        self._ready = threading.Condition()
        self._in_flight = 0

    def put(self, batch: Batch) -> bool:
        """Append ``batch``; False (nothing kept) when the queue is full."""
        with self._ready:
            if len(self._items) >= self.capacity:
                return False
            self._items.append(batch)
            self._ready.notify()
            return True

    def get(self, timeout: float) -> Batch | None:
        with self._ready:
            if not self._items and not self._ready.wait(timeout):
                return None
            if not self._items:
                return None
            self._in_flight += 1
            return self._items.popleft()

    def ack(self, batch: Batch) -> None:
        with self._ready:
            self._in_flight -= 1

    def keep(self, batch: Batch) -> bool:
        """A batch taken but not sent at stop: nowhere to keep it (False: it is lost)."""
        with self._ready:
            self._in_flight -= 1
        return False

    def size(self) -> int:
        return len(self._items)

    def pending(self) -> int:
        """Batches not yet done: queued or being sent."""
        with self._ready:
            return len(self._items) + self._in_flight

    def has_room(self) -> bool:
        return len(self._items) < self.capacity

    def discard(self) -> list[Batch]:
        """Empty the queue at stop; the batches returned are lost (the caller counts them)."""
        with self._ready:
            batches = list(self._items)
            self._items.clear()
            return batches
