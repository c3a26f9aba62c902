"""Roll-up: each span's cost plus everything its descendants cost, and whether some span
below it failed or was flagged (the trace facts a root span carries for tail sampling);
compute cost.

Children usually end (and reach the worker) before their parent, so when a span
ends its total and trace flags are added to an *open-parent* entry keyed by the parent's
span id; when the parent ends it takes that sum (and the flags, or-ed) as its
descendants'. Both tables are bounded (``SPANMETER_ROLLUP_MAX_OPEN_SPANS``):

* ``open``: parent span id -> (descendants' cost so far, their flags). Entries of parents that never
  end here (dropped, unsampled, still running for hours) are the least recently
  touched and are evicted first, counted in ``evicted``.
* ``ended``: span id -> parent span id of spans that already ended, so a child that
  ends *after* its parent was exported (out of order) can still be attributed.

Out-of-order rule: a late child's total and flags go to the nearest ancestor that has
not ended yet, found by walking ``ended`` upwards, and are counted in ``late_attributed``.
If every known ancestor has ended (the trace root was exported already), they cannot be
rolled up anywhere: counted in ``late_lost``; the child still carries its own cost and
flags, and the metrics still count them. So a root carries what its descendants
reported before it ended: in process every child of a finished trace (they end first);
in the pipeline, the children that arrived before it (same request or earlier ones).

Costs never cross process boundaries: a span whose parent is remote starts a new
roll-up here (the remote parent's process rolls up its own spans), and is the root that
carries the trace facts of this process's part of the trace.
"""

from __future__ import annotations

from typing import Any

from spanmeter.processing.bounded import BoundedMap

_MIXED = object()  # calls of more than one library beneath a span
_MAX_WALK = 64  # ancestors followed for a late child; deeper trees stop here
TRACE_FAILED = 1
"""Flag: some span of the subtree failed (error status or error.type)."""
TRACE_FLAGGED = 2
"""Flag: some span of the subtree was flagged anomalous."""
_NOTHING = (0.0, 0)


class CostRollup:
    """Worker-thread-only roll-up state; every method is O(1) (the walk is capped)."""

    def __init__(self, max_open_spans: int = 100_000):
        self.open = BoundedMap(max_open_spans)
        self.ended = BoundedMap(max_open_spans)
        self.late_attributed = 0
        self.late_lost = 0
        self.calls_below = BoundedMap(max_open_spans)

    def call_below(self, span_id: int, parent_id: int | None, call_scope: str | None) -> Any:
        """Record an ended span (``call_scope``: the library that made it, when it is an LLM
        call); return which library's LLM calls ended beneath it: its scope name, a marker
        for several libraries, or None.

        Priced once per call: a framework's model span over a provider SDK's span (any mix of
        libraries) is one call, priced on the innermost span. Call it for every span, in end
        order like :meth:`span_ended`, so the mark climbs through the spans in between."""
        calls = self.calls_below
        below = calls.pop(span_id, None)
        if parent_id and (call_scope is not None or below is not None):
            mark = call_scope if call_scope is not None else below
            known = calls.get(parent_id)
            if known is None:
                calls.put(parent_id, mark)
            elif known != mark:
                calls[parent_id] = _MIXED
        return below

    @property
    def evicted(self) -> int:
        """Open parents whose descendants' cost was dropped because the table was full."""
        return self.open.evicted

    def take(self, span_id: object) -> tuple[float, int]:
        """(descendants' cost, their flags) rolled up to an ending span so far; its entry is
        removed (the span hands its own total on with :meth:`span_ended`)."""
        return self.open.pop(span_id, _NOTHING)

    def span_ended(self, span_id: object, parent_id: object | None, total_usd: float, flags: int = 0) -> None:
        """Record an ended span; add its total (own cost + :meth:`take`'s) and flags to its parent."""
        self.ended.put(span_id, parent_id)
        if parent_id and (total_usd > 0.0 or flags):
            ended = self.ended
            target = parent_id
            if target in ended:
                for _ in range(_MAX_WALK):
                    target = ended.get(target)
                    if not target or target not in ended:
                        break
                if not target or target in ended:
                    self.late_lost += 1
                    return
                self.late_attributed += 1
            found = self.open.get(target)
            self.open.put(target, (found[0] + total_usd, found[1] | flags) if found else (total_usd, flags))


def compute_usd(duration_s: float, usd_per_hour: float | None) -> float | None:
    """Price of compute time at ``SPANMETER_COMPUTE_USD_PER_HOUR`` (None: rate not set)."""
    if usd_per_hour is None:
        return None
    return max(duration_s, 0.0) * usd_per_hour / 3600.0
