"""Which agent run each span belongs to: its own when it is an agent span (or names its
agent), else the innermost enclosing agent run -- for spans that arrive after they ended,
children before their parents, as the roll-up sees them (:mod:`.rollup`).

A span that names no agent waits, as an *item* (whatever the caller wants resolved: an
outcome, a cost measurement), in an entry keyed by its parent's span id. When the parent
ends, its waiting items join its own: an agent span resolves them with its name; any other
span passes them up to its own parent; a span without a local parent (a root, or one whose
parent is in another process) resolves them with None (no agent). So an LLM call inside a
LangGraph node inside an agent is the agent's, whatever vendor wrote the agent span, and
only the agent span needs ``gen_ai.agent.name``.

Out of order: a span whose parent already ended follows the ended spans upwards (``ended``:
span id -> parent id, the roll-up's own table when one is given; ``ended_agents``: agent
span id -> name) to the nearest agent or still-open ancestor.

Bounded: at most ``max_open`` waiting entries and ``max_items`` waiting items; past either,
the oldest entry (or the new item) is resolved at once with None and counted in ``evicted``.
An entry waits as long as its ancestor runs, up to :data:`MAX_WAIT_S` in a process that keeps
running (:meth:`expire`: an ancestor that never arrives -- dropped, or still running -- must
not hold back what its calls cost); :meth:`flush` resolves everything left (end of a file,
shutdown).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from spanmeter.processing.bounded import BoundedMap

_MAX_WALK = 64
MAX_WAIT_S = 900.0
"""How long a call waits for its agent run before it counts without one (and in ``expired``)."""
Resolved = list[tuple[Any, str | None]]


class AgentRuns:
    """Worker-thread-only state; every method is O(items resolved) (the walk is capped)."""

    def __init__(self, max_open: int = 100_000, max_items: int = 100_000, ended: BoundedMap | None = None):
        """``ended``: a table of ended spans (span id -> parent id) kept by the caller (the roll-up's),
        which then records each span there before calling :meth:`span_ended`."""
        self.waiting: OrderedDict[Hashable, list[Any]] = OrderedDict()  # oldest first: O(1) eviction
        self._since: dict[Hashable, float] = {}
        self._own_ended = ended is None
        self.ended = BoundedMap(max_open) if ended is None else ended
        self.ended_agents = BoundedMap(max_open)
        self.max_open, self.max_items = max_open, max_items
        self.items = 0
        self.evicted = self.expired = 0
        self.now = 0.0
        """The caller's clock (seconds) when entries are created; :meth:`expire` compares with it."""

    def span_ended(
        self, span_id: Hashable, parent_id: Hashable | None, agent: str | None, item: Any = None
    ) -> Resolved:
        """Record an ended span; ``agent``: the run it names itself (see ``rules.run_agent``).
        Returns the items resolved now, each with its agent run's name (None: no agent)."""
        items = self.waiting.pop(span_id, None)
        if items is not None:
            self.items -= len(items)
            del self._since[span_id]
        if item is not None:
            items = [*items, item] if items else [item]
        if self._own_ended:
            self.ended.put(span_id, parent_id)
        if agent is not None:
            self.ended_agents.put(span_id, agent)
        if not items:
            return []
        if agent is not None or not parent_id:
            return [(each, agent) for each in items]
        target, agent = self._open_ancestor(parent_id)
        if target is None:
            return [(each, agent) for each in items]
        return self._wait(target, items)

    def _open_ancestor(self, parent_id: Hashable) -> tuple[Hashable | None, str | None]:
        """(the nearest ancestor still open, None) or (None, the nearest ended agent's name or None)."""
        target, ended, agents = parent_id, self.ended, self.ended_agents
        for _ in range(_MAX_WALK):
            if target not in ended:
                return target, None
            agent = agents.get(target)
            if agent is not None:
                return None, agent
            target = ended[target]
            if not target:
                break
        return None, None

    def _wait(self, target: Hashable, items: list[Any]) -> Resolved:
        resolved: Resolved = []
        if self.items + len(items) > self.max_items:
            self.evicted += len(items)
            return [(each, None) for each in items]
        waiting = self.waiting.get(target)
        if waiting is None:
            if len(self.waiting) >= self.max_open:
                oldest, dropped = self.waiting.popitem(last=False)
                del self._since[oldest]
                self.items -= len(dropped)
                self.evicted += len(dropped)
                resolved = [(each, None) for each in dropped]
            waiting = self.waiting[target] = []
            self._since[target] = self.now
        waiting.extend(items)
        self.items += len(items)
        return resolved

    def expire(self, now: float, max_wait_s: float = MAX_WAIT_S) -> Resolved:
        """Set the clock to ``now``; the items of entries created over ``max_wait_s`` before, with None."""
        self.now = now
        resolved: Resolved = []
        waiting, since = self.waiting, self._since
        while waiting and since[next(iter(waiting))] < now - max_wait_s:
            oldest, items = waiting.popitem(last=False)
            del since[oldest]
            self.items -= len(items)
            self.expired += len(items)
            resolved += [(each, None) for each in items]
        return resolved

    def flush(self) -> Resolved:
        """Every waiting item, with None (its agent run never ended here)."""
        resolved = [(each, None) for items in self.waiting.values() for each in items]
        self.waiting.clear()
        self._since.clear()
        self.items = 0
        return resolved
