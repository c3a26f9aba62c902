"""The one per-span fact record every view reads: the Insights API and ``spanmeter top``,
spanmeter's own alert rules, ``spanmeter report`` and ``demo``, and ``bench``.

The enricher builds one :class:`SpanOutcome` per work span (agent, tool, workflow, LLM
call, stage, or any span with token usage) after its stages ran, and hands it to each
registered :class:`OutcomeListener` in the batch worker once the agent run it belongs to
is known (:mod:`spanmeter.processing.agent_runs`: when that run ends, at once for spans
outside any). :mod:`spanmeter.processing.enriched` builds the same record from a span
enriched earlier (files, Jaeger) with the same rules. Listeners must be cheap and never
block (append to a bounded structure); a listener that raises is counted in
``spanmeter.internal.errors`` and the others still run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class SpanOutcome:
    """Plain values only (no SDK or protobuf objects), so listeners outlive the batch."""

    service: str | None
    span_name: str
    kind: str
    """One of ``spanmeter.rules.KINDS``: llm, agent, tool, workflow, stage, other."""
    operation: str | None
    trace_id: int
    span_id: int
    end_time_ns: int
    duration_s: float
    error_type: str | None
    """None when the span did not fail."""
    provider: str | None = None
    model: str | None = None
    agent: str | None = None
    """The agent run the span belongs to: an agent span's own, else the innermost enclosing one."""
    tool: str | None = None
    user: str | None = None
    team: str | None = None
    source: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cost_usd: float | None = None
    """This span's own LLM cost; None when it has usage but no known price, or no usage."""
    compute_usd: float | None = None
    """Compute cost of a stage (duration x SPANMETER_COMPUTE_USD_PER_HOUR)."""
    cost_source: str | None = None
    unpriced_reason: str | None = None
    """``no_price`` or ``no_usage`` for an LLM span that could not be priced, else None."""
    total_usd: float | None = None
    """Roll-up (own plus descendants') on agent, workflow and stage spans, and on spans with data."""
    data_bytes: int | None = None
    data_records: int | None = None
    per_gb_usd: float | None = None
    anomaly_reasons: tuple[str, ...] = ()
    anomaly_score: float = 0.0
    anomaly_values: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per fired reason: (the value seen, its baseline in the same unit)."""
    anomaly_incident: bool = False
    """True on the first flagged span of its trace: the one counted as the trace's incident."""
    quality: dict[str, float] = field(default_factory=dict)
    """Data-quality scores by dimension (stage spans)."""
    freshness_s: float | None = None
    parent_span_id: int = 0
    """0 for a root span."""
    start_time_ns: int = 0

    @property
    def own_usd(self) -> float | None:
        """What this span itself cost (LLM usage plus compute); None when neither is known."""
        if self.cost_usd is None and self.compute_usd is None:
            return None
        return (self.cost_usd or 0.0) + (self.compute_usd or 0.0)


class OutcomeListener(Protocol):
    def on_outcome(self, outcome: SpanOutcome) -> None:
        """Called in the batch worker for every work span; must not block or hold on to locks long."""
