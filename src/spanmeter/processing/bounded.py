"""The one bounded map every growing table in processing/ uses, so overflow is always counted."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class BoundedMap(OrderedDict):
    """A map of at most ``capacity`` entries: adding past it drops the least recently
    put entry and counts it in ``evicted``.

    An OrderedDict rather than a dict because dropping the oldest must stay O(1)
    however many entries came and went (a plain dict's ``next(iter(d))`` slows down
    as deleted slots pile up at its front).
    """

    def __init__(self, capacity: int):
        super().__init__()
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.evicted = 0

    def put(self, key: Any, value: Any) -> None:
        """Insert or replace ``key``, making it the newest entry; evict the oldest if full."""
        if key in self:
            self.move_to_end(key)
        self[key] = value
        if len(self) > self.capacity:
            self.popitem(last=False)
            self.evicted += 1
