"""The reader of spans enriched earlier (files, Jaeger): the same :class:`SpanOutcome` the
enricher hands its listeners, built from the attributes it wrote, by the same rules
(:mod:`spanmeter.rules`) and the same agent-run attribution
(:class:`~spanmeter.processing.agent_runs.AgentRuns`).

Spans are plain records (``spanmeter.report.SpanRecord`` or anything with its fields): hex
ids, attribute and resource dicts. Feed them in file order with :meth:`OutcomeReader.read`;
:meth:`OutcomeReader.flush` at the end resolves calls whose agent run is not in the input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from spanmeter import conventions, rules, semconv
from spanmeter.processing.agent_runs import AgentRuns
from spanmeter.processing.bounded import BoundedMap
from spanmeter.processing.outcome import SpanOutcome

_text = rules.text


class EnrichedSpan(Protocol):
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_unix_nano: int
    end_unix_nano: int
    is_error: bool
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]


def _count(value: Any) -> int | None:
    """A token or byte count: a non-negative int, else None."""
    return value if type(value) is int and value >= 0 else None


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


def _reasons(value: Any) -> tuple[str, ...]:
    """``spanmeter.anomaly.reasons`` as strings (a producer may write one string)."""
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value) if isinstance(value, (list, tuple)) else ()


def _quality(attributes: Mapping[str, Any]) -> dict[str, float]:
    prefix = semconv.DATA_QUALITY_PREFIX
    return {
        key[len(prefix) :]: value
        for key, value in attributes.items()
        if key.startswith(prefix) and type(value) in (int, float)
    }


def _own_llm_cost(cost: float | None, source: str | None) -> float | None:
    """``spanmeter.cost.usd``; 0 for a priced span without it; None for an unpriced one."""
    if source == semconv.COST_SOURCE_UNKNOWN:
        return None
    return 0.0 if cost is None and source is not None else cost


def _unpriced_reason(is_llm: bool, source: str | None, has_usage: bool, model: str | None, failed: bool) -> str | None:
    """As the enricher judges it: a call without usage is ``no_usage`` only where
    :func:`spanmeter.rules.marks_no_usage` says so (a failed call billed nothing), whatever an
    older enricher wrote on the span."""
    if not is_llm or (not has_usage and not rules.marks_no_usage(is_llm, model, failed, None)):
        return None
    return rules.unpriced_reason(source, has_usage)


def outcome_of(span: EnrichedSpan) -> tuple[SpanOutcome, bool]:
    """(the span's facts, whether it is a work span); ``agent`` is the run it names itself."""
    get = conventions.reader(span.attributes.get)
    op = rules.operation(get)
    source = _text(get(semconv.COST_SOURCE))
    input_raw, output_raw = rules.input_tokens_raw(get), rules.output_tokens_raw(get)
    has_usage = input_raw is not None or output_raw is not None
    is_llm = rules.is_llm_call(op, has_usage)
    kind = rules.work_kind(op, is_llm, source)
    if source == semconv.COST_SOURCE_DESCENDANT:  # the call's usage is counted on its inner span
        input_raw = output_raw = None
    outcome = SpanOutcome(
        service=_text(span.resource.get("service.name")), span_name=span.name, kind=kind, operation=op,
        trace_id=int(span.trace_id or "0", 16), span_id=int(span.span_id or "0", 16),
        end_time_ns=span.end_unix_nano, duration_s=(span.end_unix_nano - span.start_unix_nano) / 1e9,
        error_type=rules.span_error_type(get(semconv.ERROR_TYPE), span.is_error),
        provider=rules.provider(get), model=rules.model(get), agent=rules.run_agent(kind, get(semconv.GEN_AI_AGENT_NAME), span.name),
        tool=_text(get(semconv.GEN_AI_TOOL_NAME)), user=_text(get(semconv.USER_ID)), team=_text(get(semconv.TEAM)),
        source=_text(get(semconv.DATA_SOURCE)), input_tokens=_count(input_raw), output_tokens=_count(output_raw),
        cache_read_tokens=_count(rules.cache_read_tokens_raw(get)) if input_raw is not None else None,
        cost_usd=_own_llm_cost(_number(get(semconv.COST_USD)), source),
        compute_usd=_number(get(semconv.COST_COMPUTE_USD)), cost_source=source,
        unpriced_reason=_unpriced_reason(is_llm, source, has_usage, rules.model(get), span.is_error or get(semconv.ERROR_TYPE) is not None),
        total_usd=_number(get(semconv.COST_TOTAL_USD)), data_bytes=_count(get(semconv.DATA_BYTES)),
        data_records=_count(get(semconv.DATA_RECORDS)), per_gb_usd=_number(get(semconv.COST_PER_GB_USD)),
        anomaly_reasons=_reasons(get(semconv.ANOMALY_REASONS)) if get(semconv.ANOMALY) is True else (),
        anomaly_score=_number(get(semconv.ANOMALY_SCORE)) or 0.0,
        quality=_quality(span.attributes) if kind == "stage" else {},
        freshness_s=_number(get(semconv.DATA_FRESHNESS_S)), parent_span_id=int(span.parent_span_id or "0", 16),
        start_time_ns=span.start_unix_nano,
    )  # fmt: skip
    return outcome, rules.is_work(op, is_llm)


RECENT_ENDED = 10_000
"""Ended spans remembered for children that come after their parent (in a file they come soon after)."""


class OutcomeReader:
    """Outcomes of enriched spans with their agent run resolved, as the enricher resolves it."""

    def __init__(self, max_open: int = 100_000):
        self.agent_runs = AgentRuns(max_open, max_open, ended=BoundedMap(RECENT_ENDED))
        self._ended = self.agent_runs.ended

    def read(self, span: EnrichedSpan) -> tuple[SpanOutcome, list[SpanOutcome]]:
        """(this span's facts, the work spans' outcomes whose agent run is known now)."""
        outcome, work = outcome_of(span)
        self._ended.put(span.span_id, span.parent_span_id or None)
        resolved = self.agent_runs.span_ended(
            span.span_id, span.parent_span_id or None, outcome.agent, outcome if work else None
        )
        return outcome, _with_agents(resolved)

    def flush(self) -> list[SpanOutcome]:
        """The outcomes still waiting for an agent run that never ended in the input (agent None)."""
        return _with_agents(self.agent_runs.flush())


def _with_agents(resolved: list[tuple[SpanOutcome, str | None]]) -> list[SpanOutcome]:
    for outcome, agent in resolved:
        outcome.agent = agent
    return [outcome for outcome, _ in resolved]
