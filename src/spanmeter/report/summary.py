"""The summary ``spanmeter demo`` prints: spans by kind, then the report's own tables (LLM
calls by model and by agent, :mod:`spanmeter.report.render`) and the anomalies flagged by
span name and reason. Every figure comes from the per-span fact record
(:func:`spanmeter.processing.enriched.outcome_of`), as in ``spanmeter report``.

Kinds follow :func:`spanmeter.rules.work_kind`: ``agent`` / ``tool`` / ``workflow`` from the GenAI
``gen_ai.operation.name``, ``stage`` from spanmeter's ``run_stage``, ``llm`` for model
calls (chat, text_completion, generate_content, embeddings, or any span reporting usage),
``other`` for the rest.

Cost answers "what did this kind of work cost":

* ``llm`` (and ``tool``, ``other``): the spans' own cost (``spanmeter.cost.usd`` plus
  ``spanmeter.cost.compute_usd``);
* ``workflow``, ``agent``, ``stage``: their roll-up, ``spanmeter.cost.total_usd`` (own cost plus
  every descendant's), summed over the outermost spans of the kind only, so an agent
  called by an agent is not counted twice;
* ``all``: every span's own cost once, i.e. the total spend in the file.

Tokens are the LLM calls': for ``workflow``, ``agent`` and ``stage``, those of the calls inside
them (what their roll-up cost paid for); cost per GB is the ratio of sums over the spans carrying ``spanmeter.cost.per_gb_usd``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from rich.table import Table

from spanmeter import rules
from spanmeter.processing.enriched import outcome_of
from spanmeter.processing.outcome import SpanOutcome
from spanmeter.processing.sketch import LatencySketch
from spanmeter.report.analysis import Analysis
from spanmeter.report.reader import SpanRecord
from spanmeter.report.render import dimension_table
from spanmeter.settings import SETTINGS

KINDS = rules.KINDS
ROLLUP_KINDS = rules.ROLLUP_KINDS


def span_kind(span: SpanRecord) -> str:
    """agent, tool, workflow, stage, llm or other."""
    return outcome_of(span)[0].kind


def _sum(values: Iterable[float | int | None]) -> float | None:
    """Sum of the known values; None when none is known."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None


@dataclasses.dataclass(frozen=True)
class KindSummary:
    kind: str
    spans: int
    errors: int
    p50_ms: float
    p95_ms: float
    tokens: int | None
    cost_usd: float | None
    cost_per_gb_usd: float | None
    anomalies: int


def _outermost(outcomes: list[SpanOutcome], kind: str) -> list[SpanOutcome]:
    """The spans of ``kind`` with no ancestor of that kind in the file."""
    by_id = {outcome.span_id: outcome for outcome in outcomes}

    def nested(outcome: SpanOutcome) -> bool:
        seen, parent = set(), outcome.parent_span_id
        while parent in by_id and parent not in seen:
            if by_id[parent].kind == kind:
                return True
            seen.add(parent)
            parent = by_id[parent].parent_span_id
        return False

    return [outcome for outcome in outcomes if outcome.kind == kind and not nested(outcome)]


def _tokens(outcome: SpanOutcome) -> int | None:
    if outcome.input_tokens is None and outcome.output_tokens is None:
        return None
    return (outcome.input_tokens or 0) + (outcome.output_tokens or 0)


def _tokens_within(outcomes: list[SpanOutcome]) -> dict[str, int | None]:
    """Per roll-up kind, the tokens of the LLM calls inside a span of that kind: what its roll-up
    cost paid for (each call once per kind, however deeply nested)."""
    by_id = {outcome.span_id: outcome for outcome in outcomes}
    found: dict[str, int | None] = {}
    for outcome in outcomes:
        tokens = _tokens(outcome) if outcome.kind == "llm" else None
        if tokens is None:
            continue
        seen, kinds, parent = set(), set(), outcome.parent_span_id
        while parent in by_id and parent not in seen:
            seen.add(parent)
            kinds.add(by_id[parent].kind)
            parent = by_id[parent].parent_span_id
        for kind in kinds & ROLLUP_KINDS:
            found[kind] = (found.get(kind) or 0) + tokens
    return found


def _summarize_kind(kind: str, outcomes: list[SpanOutcome], cost_usd: float | None, tokens: int | None) -> KindSummary:
    latency = LatencySketch()
    for outcome in outcomes:
        latency.add(outcome.duration_s * 1e3)
    priced = [outcome for outcome in outcomes if outcome.per_gb_usd is not None and outcome.data_bytes]
    return KindSummary(
        kind=kind,
        spans=len(outcomes),
        errors=sum(outcome.error_type is not None for outcome in outcomes),
        p50_ms=latency.quantile(0.50),
        p95_ms=latency.quantile(0.95),
        tokens=tokens,
        cost_usd=cost_usd,
        cost_per_gb_usd=rules.per_gb_usd(_sum(o.total_usd for o in priced), sum(o.data_bytes for o in priced)),
        anomalies=sum(bool(outcome.anomaly_reasons) for outcome in outcomes),
    )


def summarize(spans: Iterable[SpanRecord]) -> list[KindSummary]:
    """One row per kind present, in KINDS order, then an ``all`` row. Tokens of a roll-up kind
    (workflow, agent, stage) are those of the LLM calls inside it, next to its roll-up cost."""
    outcomes = [outcome_of(span)[0] for span in spans]
    by_kind: dict[str, list[SpanOutcome]] = {}
    for outcome in outcomes:
        by_kind.setdefault(outcome.kind, []).append(outcome)
    within = _tokens_within(outcomes)
    rows = []
    for kind in KINDS:
        if kind in by_kind:
            if kind in ROLLUP_KINDS:
                cost = _sum(outcome.total_usd for outcome in _outermost(outcomes, kind))
                tokens = within.get(kind)
            else:
                cost = _sum(outcome.own_usd for outcome in by_kind[kind])
                tokens = _sum(_tokens(outcome) for outcome in by_kind[kind] if outcome.kind == "llm")
            rows.append(_summarize_kind(kind, by_kind[kind], cost, tokens))
    if outcomes:
        llm_tokens = _sum(_tokens(outcome) for outcome in outcomes if outcome.kind == "llm")
        rows.append(_summarize_kind("all", outcomes, _sum(outcome.own_usd for outcome in outcomes), llm_tokens))
    return rows


def _show(value: float | None, template: str) -> str:
    return "-" if value is None else template.format(value)


def render_summary(rows: list[KindSummary], title: str = "spanmeter summary") -> Table:
    """The rows as a rich table, with a caption saying what the cost column adds up."""
    table = Table(
        title=title,
        caption="cost USD: own for llm/tool/other, roll-up for workflow/agent/stage, total spend for all",
    )
    for header in ("kind", "spans", "errors", "p50 ms", "p95 ms", "tokens", "cost USD",
                   "USD/GB", "anomalies"):  # fmt: skip
        table.add_column(header, justify="left" if header == "kind" else "right")
    for row in rows:
        if row.kind == "all":
            table.add_section()
        table.add_row(
            row.kind,
            str(row.spans),
            str(row.errors),
            f"{row.p50_ms:.1f}",
            f"{row.p95_ms:.1f}",
            _show(row.tokens, "{:,}"),
            _show(row.cost_usd, "{:.6f}"),
            _show(row.cost_per_gb_usd, "{:.4f}"),
            str(row.anomalies),
        )
    return table


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    model: str
    calls: int
    tokens: int
    cost_usd: float | None  # None when no call of the model was priced
    unpriced: int  # calls with spanmeter.cost.source = unknown (no_usage or no_price)


def summarize_models(spans: Iterable[SpanRecord]) -> list[ModelSummary]:
    """LLM calls by (response, else request) model, most expensive first: the report's model rows."""
    analysis = _analysis(spans)
    return [
        ModelSummary(model=key, calls=group.calls, tokens=group.input_tokens + group.output_tokens,
                     cost_usd=group.cost_usd, unpriced=group.unpriced_calls)
        for key, group in analysis.dimensions["model"].rows()
    ]  # fmt: skip


def _analysis(spans: Iterable[SpanRecord]) -> Analysis:
    analysis = Analysis()
    for span in spans:
        analysis.add(span)
    analysis.finish()
    return analysis


@dataclasses.dataclass(frozen=True)
class AnomalySummary:
    name: str  # span name
    reason: str
    spans: int
    max_score: float


def summarize_anomalies(spans: Iterable[SpanRecord]) -> list[AnomalySummary]:
    """Flagged spans counted by (span name, reason), most frequent first."""
    counts: dict[tuple[str, str], list[float]] = {}
    for span in spans:
        outcome = outcome_of(span)[0]
        for reason in outcome.anomaly_reasons:
            counts.setdefault((span.name, reason), []).append(outcome.anomaly_score)
    rows = [AnomalySummary(name, reason, len(scores), max(scores)) for (name, reason), scores in counts.items()]
    return sorted(rows, key=lambda row: (-row.spans, row.name, row.reason))


def render_models(rows: list[ModelSummary]) -> Table:
    table = Table(title="LLM cost by model")
    for header in ("model", "calls", "tokens", "cost USD", "unpriced"):
        table.add_column(header, justify="left" if header == "model" else "right")
    for row in rows:
        table.add_row(row.model, str(row.calls), f"{row.tokens:,}", _show(row.cost_usd, "{:.6f}"), str(row.unpriced))
    return table


def render_anomalies(rows: list[AnomalySummary]) -> Table:
    table = Table(title="anomalies by span and reason")
    for header in ("span", "reason", "spans", "max score"):
        table.add_column(header, justify="left" if header in ("span", "reason") else "right")
    for row in rows:
        table.add_row(row.name, row.reason, str(row.spans), f"{row.max_score:.1f}")
    return table


def render_report(spans: list[SpanRecord], title: str) -> list[Table | str]:
    """What ``spanmeter demo`` prints: the kind table, the report's model and agent tables, anomalies."""
    parts: list[Table | str] = [render_summary(summarize(spans), title=title)]
    groups = _analysis(spans).groups_json()
    for name in ("model", "agent"):
        if groups[name]:
            parts.append(dimension_table(name, groups[name]))
    anomalies = summarize_anomalies(spans)
    parts.append(
        render_anomalies(anomalies) if anomalies
        else f"no anomalies flagged (each span name and model needs {SETTINGS['anomaly_min_samples'].env} samples first)"
    )  # fmt: skip
    return parts
