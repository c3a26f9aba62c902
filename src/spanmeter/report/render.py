"""``spanmeter report``'s outputs other than HTML: rich tables for a terminal, and the ``--json`` object."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group as RichGroup
from rich.table import Table

from spanmeter.report.analysis import DIMENSIONS, Analysis

TERMINAL_ROWS = 15
TERMINAL_TIME_ROWS = 12
CONVERSATION_HEADERS = ("conversation", "traces", "LLM calls", "errors", "cost USD", "duration s",
                        "first start (UTC)", "last start (UTC)")  # fmt: skip
UNITS = {
    "model": "LLM calls",
    "agent": "LLM calls of its runs (innermost agent), their cost",
    "tool": "tool calls",
    "user": "LLM calls attributed, their cost",
    "team": "LLM calls attributed, their cost",
    "source": "spans of a data source, cost incl. children",
    "service": "LLM calls, their cost",
}


def report_json(analysis: Analysis, recommendations: list[dict[str, Any]],
                trace_url: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The ``--json`` object: ``groups`` by dimension, ``totals``, ``recommendations``, ``timeline``
    (LLM calls, failures, p95 and cost per time bucket), ``conversations``, top traces with their
    span trees (and ``url`` when ``trace_url`` is given), skipped lines."""
    return {
        "groups": analysis.groups_json(),
        "totals": analysis.totals_json(),
        "recommendations": recommendations,
        "timeline": analysis.timeline.to_json(),
        "conversations": analysis.conversations_json(),
        "slowest_traces": _linked(analysis.traces_json(analysis.slowest), trace_url),
        "most_expensive_traces": _linked(analysis.traces_json(analysis.most_expensive), trace_url),
        "skipped": analysis.problems,
    }


def _linked(traces: list[dict[str, Any]], trace_url: str | None) -> list[dict[str, Any]]:
    if trace_url is None:
        return traces
    return [trace | {"url": trace_url.replace("{trace_id}", trace["trace_id"])} for trace in traces]


def _num(value: float | None, template: str) -> str:
    return "-" if value is None else template.format(value)


def _time(unix_nano: int | None) -> str:
    if unix_nano is None:
        return "-"
    return datetime.fromtimestamp(unix_nano / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def dimension_table(name: str, rows: list[dict[str, Any]], limit: int = TERMINAL_ROWS) -> Table:
    caption = f"{len(rows) - limit} more rows in --json" if len(rows) > limit else None
    table = Table(title=f"by {name} ({UNITS[name]})", caption=caption)
    for header in (name, "calls", "errors", "p50 s", "p90 s", "p95 s", "p99 s", "input tok", "output tok",
                   "cost USD", "USD/GB", "anomalies"):  # fmt: skip
        table.add_column(header, justify="left" if header == name else "right")
    for row in rows[:limit]:
        table.add_row(
            row["key"] or "-",
            f"{row['calls']:,}",
            f"{row['error_rate']:.1%}",
            *(_num(row[k], "{:.3f}") for k in ("p50_s", "p90_s", "p95_s", "p99_s")),
            f"{row['input_tokens']:,}",
            f"{row['output_tokens']:,}",
            _num(row["cost_usd"], "{:.6f}"),
            _num(row["cost_per_gb_usd"], "{:.4f}"),
            str(row["anomalies"]),
        )
    return table


def totals_table(totals: dict[str, Any]) -> Table:
    table = Table(title="totals", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    unpriced = totals["unpriced"]
    for label, value in (
        ("spans / traces", f"{totals['spans']:,} / {totals['traces']:,}"),
        ("from / to (UTC)", f"{_time(totals['start_unix_nano'])} / {_time(totals['end_unix_nano'])}"),
        ("LLM calls", f"{totals['llm_calls']:,}"),
        ("errors", f"{totals['errors']:,} ({totals['error_rate']:.1%})"),
        ("input / output tokens", f"{totals['input_tokens']:,} / {totals['output_tokens']:,}"),
        ("cost USD", f"{totals['cost_usd']:.6f}"),
        ("unpriced LLM calls", f"{totals['unpriced_calls']:,} (no_usage {unpriced['no_usage']:,}, no_price {unpriced['no_price']:,})"),
        ("data processed", f"{totals['data_bytes'] / 1e9:.3f} GB"),
        ("anomalies", f"{totals['anomalies']:,}"),
        ("percentiles", totals["percentiles"]),
        ("skipped lines", f"{totals['skipped']:,}"),
    ):  # fmt: skip
        table.add_row(label, value)
    return table


def traces_table(title: str, traces: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for header in ("trace id", "root span", "service", "start (UTC)", "duration s", "cost USD"):
        table.add_column(header, justify="right" if header in ("duration s", "cost USD") else "left")
    for trace in traces:
        table.add_row(trace["trace_id"], trace["root"], str(trace["service"] or "-"), _time(trace["start_unix_nano"]),
                      f"{trace['duration_s']:.3f}", _num(trace["cost_usd"], "{:.6f}"))  # fmt: skip
    return table


def conversations_table(rows: list[dict[str, Any]], limit: int = TERMINAL_ROWS) -> Table:
    caption = f"{len(rows) - limit} more rows in --json" if len(rows) > limit else None
    table = Table(title="conversations (gen_ai.conversation.id; traces that carry it)", caption=caption)
    for header in CONVERSATION_HEADERS:
        table.add_column(header, justify="left" if header in ("conversation", "first start (UTC)", "last start (UTC)")
                         else "right")  # fmt: skip
    for row in rows[:limit]:
        table.add_row(row["conversation"], f"{row['traces']:,}", f"{row['llm_calls']:,}", f"{row['errors']:,}",
                      _num(row["cost_usd"], "{:.6f}"), f"{row['duration_s']:.3f}",
                      _time(row["first_start_unix_nano"]), _time(row["last_start_unix_nano"]))  # fmt: skip
    return table


def recommendations_table(recommendations: list[dict[str, Any]]) -> Table:
    table = Table(title="recommendations")
    for header in ("kind", "recommendation", "evidence", "impact", "est. saving USD"):
        table.add_column(header, justify="right" if header.startswith("est.") else "left")
    for item in recommendations:
        table.add_row(
            item["kind"], item["message"], item["evidence"], item["impact"], _num(item["saving_usd"], "{:.6f}")
        )
    return table


def timeline_table(timeline: dict[str, Any]) -> Table:
    """LLM calls over time, a row per (merged) time bucket."""
    table = Table(title=f"LLM calls over time (per {timeline['bucket_s']:g} s)")
    for header in ("from (UTC)", "calls", "failed", "p95 s", "cost USD"):
        table.add_column(header, justify="left" if header.startswith("from") else "right")
    for row in timeline["buckets"]:
        table.add_row(_time(row["start_unix_nano"]), f"{row['calls']:,}", f"{row['errors']:,}",
                      _num(row["p95_s"], "{:.3f}"), f"{row['cost_usd']:.6f}")  # fmt: skip
    return table


def terminal_report(data: dict[str, Any], timeline: dict[str, Any] | None = None) -> RichGroup:
    """Every table of the report, for ``Console.print``; ``timeline``: the time buckets to show
    (fewer than ``--json``'s: :meth:`~spanmeter.report.analysis.Timeline.to_json` with ``max_rows``)."""
    parts: list[Any] = [totals_table(data["totals"])]
    if timeline and timeline["buckets"]:
        parts.append(timeline_table(timeline))
    for name in DIMENSIONS:
        if data["groups"][name]:
            parts.append(dimension_table(name, data["groups"][name]))
    if data["conversations"]:
        parts.append(conversations_table(data["conversations"]))
    if data["slowest_traces"]:
        parts.append(traces_table("slowest traces", data["slowest_traces"]))
    if data["most_expensive_traces"]:
        parts.append(traces_table("most expensive traces", data["most_expensive_traces"]))
    parts.append(recommendations_table(data["recommendations"]) if data["recommendations"]
                 else "no recommendations: every figure is within its threshold, or too little data to judge")  # fmt: skip
    return RichGroup(*parts)
