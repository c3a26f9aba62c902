"""The summary tables of a traces file: spans by kind (latency, tokens, cost, cost per GB,
anomalies), LLM cost by model, and the anomalies flagged by span name and reason.

Kinds follow the span's operation: ``agent`` / ``tool`` / ``workflow`` from the GenAI
``gen_ai.operation.name``, ``stage`` from spanmeter's ``run_stage``, ``llm`` for model
calls (chat, text_completion, generate_content, embeddings), ``other`` for the rest.

Cost answers "what did this kind of work cost":

* ``llm`` (and ``tool``, ``other``): the spans' own cost (``spanmeter.cost.usd`` plus
  ``spanmeter.cost.compute_usd``);
* ``workflow``, ``agent``, ``stage``: their roll-up, ``spanmeter.cost.total_usd`` (own cost plus
  every descendant's), summed over the outermost spans of the kind only, so an agent
  called by an agent is not counted twice;
* ``all``: every span's own cost once, i.e. the total spend in the file.

Cost per GB is roll-up cost over data volume of the spans carrying
``spanmeter.cost.per_gb_usd``. A column shows "-" when no span of the kind carries
its attribute (e.g. tokens on agents, or cost before prices are known).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from rich.table import Table

from spanmeter import rules, semconv
from spanmeter.report.reader import SpanRecord
from spanmeter.settings import SETTINGS

KINDS = rules.KINDS
ROLLUP_KINDS = rules.ROLLUP_KINDS
_OWN_COST = (semconv.COST_USD, semconv.COST_COMPUTE_USD)


def span_kind(span: SpanRecord) -> str:
    """agent, tool, workflow, stage, llm or other."""
    return rules.kind_of(rules.operation(span.attributes.get))


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty sorted list."""
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def _total(spans: list[SpanRecord], *keys: str) -> float | None:
    """Sum of ``keys`` over the spans carrying any of them; None when none does."""
    values = [span.attributes[key] for span in spans for key in keys if key in span.attributes]
    return sum(values) if values else None


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


def _outermost(spans: list[SpanRecord], kind: str, kinds: dict[str, str]) -> list[SpanRecord]:
    """The spans of ``kind`` with no ancestor of that kind in the file (``kinds``: span id -> kind)."""
    parents = {span.span_id: span.parent_span_id for span in spans}

    def nested(span: SpanRecord) -> bool:
        seen, parent = set(), span.parent_span_id
        while parent in parents and parent not in seen:
            if kinds[parent] == kind:
                return True
            seen.add(parent)
            parent = parents[parent]
        return False

    return [span for span in spans if kinds[span.span_id] == kind and not nested(span)]


def _summarize_kind(kind: str, spans: list[SpanRecord], cost_usd: float | None) -> KindSummary:
    durations = sorted(span.duration_ms for span in spans)
    tokens = _total(spans, semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
    priced = [span for span in spans if semconv.COST_PER_GB_USD in span.attributes]
    data_bytes = _total(priced, semconv.DATA_BYTES)
    return KindSummary(
        kind=kind,
        spans=len(spans),
        errors=sum(span.is_error for span in spans),
        p50_ms=_percentile(durations, 0.50),
        p95_ms=_percentile(durations, 0.95),
        tokens=None if tokens is None else int(tokens),
        cost_usd=cost_usd,
        cost_per_gb_usd=(_total(priced, semconv.COST_TOTAL_USD) / (data_bytes / 1e9) if data_bytes else None),
        anomalies=sum(bool(span.attributes.get(semconv.ANOMALY)) for span in spans),
    )


def summarize(spans: Iterable[SpanRecord]) -> list[KindSummary]:
    """One row per kind present, in KINDS order, then an ``all`` row."""
    spans = list(spans)
    kinds = {span.span_id: span_kind(span) for span in spans}
    by_kind: dict[str, list[SpanRecord]] = {}
    for span in spans:
        by_kind.setdefault(kinds[span.span_id], []).append(span)
    rows = []
    for kind in KINDS:
        if kind in by_kind:
            if kind in ROLLUP_KINDS:
                cost = _total(_outermost(spans, kind, kinds), semconv.COST_TOTAL_USD)
            else:
                cost = _total(by_kind[kind], *_OWN_COST)
            rows.append(_summarize_kind(kind, by_kind[kind], cost))
    if spans:
        rows.append(_summarize_kind("all", spans, _total(spans, *_OWN_COST)))
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
    unpriced: int  # calls with spanmeter.cost.source = unknown


def summarize_models(spans: Iterable[SpanRecord]) -> list[ModelSummary]:
    """LLM calls by (response, else request) model, most expensive first."""
    by_model: dict[str, list[SpanRecord]] = {}
    for span in spans:
        if span_kind(span) == "llm":
            attributes = span.attributes
            model = attributes.get(semconv.GEN_AI_RESPONSE_MODEL) or attributes.get(semconv.GEN_AI_REQUEST_MODEL)
            by_model.setdefault(str(model or "?"), []).append(span)
    rows = [
        ModelSummary(
            model=model,
            calls=len(calls),
            tokens=int(_total(calls, semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS) or 0),
            cost_usd=_total(calls, semconv.COST_USD),
            unpriced=sum(c.attributes.get(semconv.COST_SOURCE) == semconv.COST_SOURCE_UNKNOWN for c in calls),
        )
        for model, calls in by_model.items()
    ]
    return sorted(rows, key=lambda row: (-(row.cost_usd or 0.0), row.model))


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
        if span.attributes.get(semconv.ANOMALY):
            score = float(span.attributes.get(semconv.ANOMALY_SCORE, 0.0))
            for reason in span.attributes.get(semconv.ANOMALY_REASONS) or ["?"]:
                counts.setdefault((span.name, reason), []).append(score)
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
    """What ``spanmeter report`` and ``spanmeter demo`` print: the kind table, cost by model, anomalies."""
    parts: list[Table | str] = [render_summary(summarize(spans), title=title)]
    models = summarize_models(spans)
    if models:
        parts.append(render_models(models))
    anomalies = summarize_anomalies(spans)
    parts.append(
        render_anomalies(anomalies) if anomalies
        else f"no anomalies flagged (each span name and model needs {SETTINGS['anomaly_min_samples'].env} samples first)"
    )  # fmt: skip
    return parts
