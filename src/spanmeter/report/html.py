"""``spanmeter report --html``: one self-contained page, charts drawn as inline SVG here.

No script, font or stylesheet is fetched when the page is viewed (it works offline and from a
mail attachment); it reads at 800 px wide (charts are at most 720 px, wide tables scroll in their
own box). Charts: LLM cost, calls and failures, and p95 latency over time (the same time buckets,
sized to the data), latency distribution per model (log-scale histograms sharing one x range),
cost per GB per data source, anomalies on a timeline. Then the tables: breakdowns, conversations,
the slowest and most expensive traces (start times, links to a trace viewer with ``--trace-url``)
each with its span tree, own and rolled-up cost per span (the drill-down), and the recommendations.

The chart builders (:func:`time_bars`, :func:`time_line`, :func:`histograms`,
:func:`horizontal_bars`, :func:`time_scatter`) take plain data, not an Analysis, so other pages
(``spanmeter bench``'s) draw with them; each returns one ``<svg class="chart">`` (None without
data). Units (``unit``) are ``usd``, ``s``, ``count`` or ``usd_per_gb``: axes and labels format
numbers by them (:func:`fmt_value`), never in exponent notation. A few lines of inline script
record, once laid out, each chart's drawn size and mark count on it (``data-rendered``,
``data-marks``), so a headless browser's DOM shows what rendered.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from spanmeter import rules
from spanmeter.report.analysis import DIMENSIONS, Analysis
from spanmeter.report.render import CONVERSATION_HEADERS, UNITS

WIDTH, HEIGHT = 720, 220
LEFT, TOP, RIGHT, BOTTOM = 64, 24, 14, 26
"""Plot margins: y tick labels in LEFT, the y unit label above the plot in TOP, time labels in BOTTOM."""
SMALL_WIDTH, SMALL_HEIGHT = 340, 170
MAX_LATENCY_MODELS = 6
HISTOGRAM_BINS = 20
MIN_TICK_GAP_PX = 110
TIME_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
                604800, 2592000)  # fmt: skip
PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e", "#9498a0")
NOTHING_TO_RECOMMEND = "<p>Nothing to recommend: every figure is within its threshold, or too little data to judge.</p>"
FAILED, SUCCEEDED = "#d62728", "#b8c4d6"
_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}h3{font-size:14px;margin:12px 0 4px}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:3px 6px;font-size:13px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td:first-child{white-space:nowrap}td.d{white-space:nowrap}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{max-width:100%;height:auto;display:block}
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
.small{display:inline-block;margin-right:16px;vertical-align:top;max-width:100%}.empty{color:#888}
svg text{font-size:11px;fill:#555}code{font-size:12px}details{margin:4px 0}summary{cursor:pointer}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def fmt_value(value: float | None, unit: str) -> str:
    """A number for an axis or a cell: ``usd`` as money, ``s`` as ms or s, ``count`` with thousands
    separators, ``usd_per_gb`` as money per GB; three significant digits, never ``1.35e+03``."""
    if value is None:
        return "-"
    if unit == "usd":
        return rules.format_usd(value)
    if unit == "usd_per_gb":
        return rules.format_usd(value) + "/GB"
    if unit == "s":
        return f"{_plain(value * 1e3)} ms" if 0 < abs(value) < 1 else f"{_plain(value)} s"
    return _plain(value)


def _plain(value: float) -> str:
    """Three significant digits in positional notation, thousands separated."""
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 99.95:
        return f"{value:,.0f}"
    places = max(0, 2 - math.floor(math.log10(size)))
    return f"{value:.{places}f}".rstrip("0").rstrip(".") if places else f"{value:.0f}"


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and ``count`` round steps (1, 2, 2.5, 5 x 10^k) reaching at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


def _time_format(span_ns: int) -> str:
    if span_ns < 3600 * 10**9:
        return "%H:%M:%S"
    return "%H:%M" if span_ns < 86400 * 10**9 else "%m-%d %H:%M"


def _clock(unix_nano: float, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.fromtimestamp(unix_nano / 1e9, UTC).strftime(pattern)


class _Frame:
    """A chart's plot area and axes: y from 0 to a round top, x from ``x0`` to ``x1`` (time in ns, or a log range)."""

    def __init__(self, width: int, height: int, y_top: float, unit: str, y_label: str):
        self.width, self.height, self.unit = width, height, unit
        self.ticks = nice_ticks(y_top)
        self.top = self.ticks[-1]
        self.left, self.right, self.plot_top, self.bottom = LEFT, width - RIGHT, TOP, height - BOTTOM
        self.body = [f'<text x="4" y="14">{_e(y_label)}</text>']
        for tick in self.ticks:
            y = self.y(tick)
            self.body.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" stroke="#eee"/>'
                             f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                             f"{_e(fmt_value(tick, unit))}</text>")  # fmt: skip
        self.body.append(f'<line x1="{self.left}" y1="{self.plot_top}" x2="{self.left}" y2="{self.bottom}" stroke="#999"/>'
                         f'<line x1="{self.left}" y1="{self.bottom}" x2="{self.right}" y2="{self.bottom}" stroke="#999"/>')  # fmt: skip

    @property
    def plot_width(self) -> float:
        return self.right - self.left

    def y(self, value: float) -> float:
        return self.bottom - value / self.top * (self.bottom - self.plot_top)

    def x_labels(self, labels: Sequence[tuple[float, str]]) -> None:
        """Labels under the x axis at plot x offsets; the first starts, the last ends there, so none leaves the chart."""
        for index, (offset, text) in enumerate(labels):
            anchor = "start" if index == 0 else "end" if index == len(labels) - 1 else "middle"
            self.body.append(f'<text x="{self.left + offset:.1f}" y="{self.height - 8}" text-anchor="{anchor}">'
                             f"{_e(text)}</text>")  # fmt: skip

    def time_axis(self, first_ns: int, end_ns: int) -> None:
        """Time labels at round times (multiples of a step from TIME_STEPS_S), at least MIN_TICK_GAP_PX apart."""
        span_ns = max(end_ns - first_ns, 1)
        room = max(1, int(self.plot_width // MIN_TICK_GAP_PX))
        step_ns = next((step * 10**9 for step in TIME_STEPS_S if step * 10**9 * room >= span_ns), span_ns)
        pattern = _time_format(span_ns)
        tick = -(-first_ns // step_ns) * step_ns
        labels = []
        while tick <= end_ns:
            labels.append(((tick - first_ns) / span_ns * self.plot_width, _clock(tick, pattern)))
            tick += step_ns
        labels = labels or [(0.0, _clock(first_ns, pattern))]
        for offset, text in labels:
            anchor = "start" if offset < 30 else "end" if offset > self.plot_width - 30 else "middle"
            self.body.append(f'<line x1="{self.left + offset:.1f}" y1="{self.bottom}" x2="{self.left + offset:.1f}" '
                             f'y2="{self.bottom + 4}" stroke="#999"/><text x="{self.left + offset:.1f}" '
                             f'y="{self.height - 8}" text-anchor="{anchor}">{_e(text)}</text>')  # fmt: skip

    def svg(self, label: str) -> str:
        return _svg(self.body, self.width, self.height, label)


def _svg(body: list[str], width: int, height: int, label: str) -> str:
    return (f'<svg class="chart" role="img" aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">' + "".join(body) + "</svg>")  # fmt: skip


def _bucket_label(bucket_s: float) -> str:
    return (
        f"{bucket_s:g} s"
        if bucket_s < 60
        else f"{bucket_s / 60:g} min"
        if bucket_s < 3600
        else f"{bucket_s / 3600:g} h"
    )


def time_bars(buckets: Sequence[tuple[int, dict[str, float]]], bucket_s: float, unit: str, label: str,
              colors: dict[str, str] | None = None) -> str | None:  # fmt: skip
    """Stacked bars over time. ``buckets``: (bucket start in unix ns, {series: value}) in time order,
    one per bucket of ``bucket_s`` seconds (empty buckets may be left out); ``colors`` per series
    (else the palette, in order of total). The y label says ``label`` per bucket width."""
    totals = {start: sum(values.values()) for start, values in buckets}
    if not totals or not any(totals.values()):
        return None
    bucket_ns = int(bucket_s * 1e9)
    first, end = min(totals), max(totals) + bucket_ns
    order = _series_order(buckets)
    colors = colors or {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(order)}
    frame = _Frame(WIDTH, HEIGHT, max(totals.values()), unit, f"{label} per {_bucket_label(bucket_s)}")
    bar_w = frame.plot_width * bucket_ns / (end - first)
    for start, values in buckets:
        base, x = 0.0, frame.left + (start - first) / bucket_ns * bar_w
        parts = ", ".join(f"{name} {fmt_value(values[name], unit)}" for name in order if values.get(name))
        for name in order:
            value = values.get(name) or 0.0
            if value <= 0:
                continue
            y_low, y_high = frame.y(base), frame.y(base + value)
            base += value
            frame.body.append(f'<rect x="{x + 0.5:.1f}" y="{y_high:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                              f'height="{max(y_low - y_high, 0.5):.2f}" fill="{colors[name]}"><title>'
                              f"{_clock(start)}: {_e(parts)}</title></rect>")  # fmt: skip
    frame.time_axis(first, end)
    return _legend(order, colors) + frame.svg(label)


def _series_order(buckets: Sequence[tuple[int, dict[str, float]]]) -> list[str]:
    sums: dict[str, float] = {}
    for _, values in buckets:
        for name, value in values.items():
            sums[name] = sums.get(name, 0.0) + (value or 0.0)
    return sorted(sums, key=lambda name: (-sums[name], name))


def time_line(points: Sequence[tuple[int, float | None]], bucket_s: float, unit: str, label: str,
              color: str = PALETTE[0]) -> str | None:  # fmt: skip
    """A line over time through each bucket's middle. ``points``: (bucket start in unix ns, value or
    None for a bucket without data: the line breaks there) in time order."""
    known = [(start, value) for start, value in points if value is not None]
    if not known:
        return None
    bucket_ns = int(bucket_s * 1e9)
    first, end = points[0][0], points[-1][0] + bucket_ns
    frame = _Frame(WIDTH, HEIGHT, max(value for _, value in known), unit, label)
    runs: list[list[str]] = [[]]
    for start, value in points:
        if value is None:
            runs.append([])
            continue
        x = frame.left + (start + bucket_ns / 2 - first) / (end - first) * frame.plot_width
        runs[-1].append(f"{x:.1f},{frame.y(value):.1f}")
        frame.body.append(f'<circle cx="{x:.1f}" cy="{frame.y(value):.1f}" r="2.5" fill="{color}"><title>'
                          f"{_clock(start)}: {_e(fmt_value(value, unit))}</title></circle>")  # fmt: skip
    for run in runs:
        if len(run) > 1:
            frame.body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    frame.time_axis(first, end)
    return frame.svg(label)


def histograms(rows: Sequence[tuple[str, Sequence[tuple[float, float, int]]]], unit: str = "s") -> str | None:
    """Small histograms side by side, one per (name, bins); every row's bins must share the same
    edges (one x range for all, log-spaced), so the charts compare at a glance."""
    charts = []
    for index, (name, bins) in enumerate(rows):
        if not bins:
            continue
        frame = _Frame(SMALL_WIDTH, SMALL_HEIGHT, max(count for _, _, count in bins), "count", "calls")
        bar_w = frame.plot_width / len(bins)
        for position, (low, high, count) in enumerate(bins):
            if count:
                y = frame.y(count)
                frame.body.append(f'<rect x="{frame.left + position * bar_w + 0.5:.1f}" y="{y:.1f}" '
                                  f'width="{max(bar_w - 1, 1):.1f}" height="{frame.bottom - y:.2f}" '
                                  f'fill="{PALETTE[index % len(PALETTE)]}"><title>{_e(fmt_value(low, unit))} - '
                                  f"{_e(fmt_value(high, unit))}: {count:,} calls</title></rect>")  # fmt: skip
        low, high = bins[0][0], bins[-1][1]
        frame.x_labels([(0, fmt_value(low, unit)), (frame.plot_width, fmt_value(high, unit) + " (log)")])
        charts.append(f'<div class="small"><div>{_e(name)}</div>{frame.svg(name)}</div>')
    return "".join(charts) or None


def horizontal_bars(rows: Sequence[tuple[str, float]], unit: str, label: str) -> str | None:
    """One bar per (name, value), names left of the bars and values right of them."""
    if not rows:
        return None
    bar_h, label_w, value_w = 22, 200, 110
    height = bar_h * len(rows) + 8
    top = max(value for _, value in rows) or 1.0
    body = []
    for index, (name, value) in enumerate(rows):
        y = 4 + index * bar_h
        w = value / top * (WIDTH - label_w - value_w)
        shown = name if len(name) <= 30 else name[:29] + "…"
        body.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{_e(shown)}</text>'
                    f'<rect x="{label_w}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h - 6}" fill="{PALETTE[0]}">'
                    f"<title>{_e(name)}: {_e(fmt_value(value, unit))}</title></rect>"
                    f'<text x="{label_w + w + 6:.1f}" y="{y + 14}">{_e(fmt_value(value, unit))}</text>')  # fmt: skip
    return _svg(body, WIDTH, height, label)


def time_scatter(points: Sequence[tuple[int, float, str, str]], unit: str, label: str,
                 time_range: tuple[int, int] | None = None) -> str | None:  # fmt: skip
    """Dots over time: (unix ns, value, series, tooltip); one color per series; x over ``time_range``
    (unix ns; e.g. the other charts' range) or the points' own."""
    if not points:
        return None
    series = sorted({point[2] for point in points})
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    first, last = min(point[0] for point in points), max(point[0] for point in points)
    end = last + max((last - first) // 50, 10**9)
    if time_range is not None:
        first, end = min(first, time_range[0]), max(end, time_range[1])
    frame = _Frame(WIDTH, HEIGHT, max(point[1] for point in points), unit, label)
    for time_ns, value, name, title in points:
        x = frame.left + 4 + (time_ns - first) / (end - first) * (frame.plot_width - 8)
        frame.body.append(f'<circle cx="{x:.1f}" cy="{frame.y(value):.1f}" r="4" fill="{colors[name]}">'
                          f"<title>{_e(title)}</title></circle>")  # fmt: skip
    frame.time_axis(first, end)
    return _legend(series, colors) + frame.svg(label)


def _legend(names: list[str], colors: dict[str, str]) -> str:
    items = "".join(f'<span><i style="background:{colors[n]}"></i>{_e(n)}</span>' for n in names)
    return f'<div class="legend">{items}</div>'


def _figure(chart_id: str, caption: str, content: str | None, empty: str) -> str:
    inner = content if content else f'<p class="empty">{_e(empty)}</p>'
    return f'<figure id="{chart_id}"><figcaption>{_e(caption)}</figcaption>{inner}</figure>'


def _report_charts(analysis: Analysis, data: dict[str, Any]) -> list[str]:
    timeline = data["timeline"]
    buckets, bucket_s = timeline["buckets"], timeline["bucket_s"]
    cost = [(b["start_unix_nano"], b["cost_by_model"]) for b in buckets]
    calls = [(b["start_unix_nano"], {"failed": b["errors"], "succeeded": b["calls"] - b["errors"]}) for b in buckets]
    p95 = [(b["start_unix_nano"], b["p95_s"]) for b in buckets]
    anomalies = [(e["time_unix_nano"], e["score"], (e["reasons"] or ["?"])[0],
                  f"{e['span']} {','.join(e['reasons'])} score {e['score']:.1f} trace {e['trace_id']}")
                 for e in analysis.anomaly_events.items()]  # fmt: skip
    per_gb = [(row["key"], row["cost_per_gb_usd"]) for row in data["groups"]["source"]
              if row["cost_per_gb_usd"] is not None][:20]  # fmt: skip
    return [
        _figure("cost-over-time", "LLM cost over time by model", time_bars(cost, bucket_s, "usd", "USD"),
                "no priced LLM calls"),
        _figure("calls-over-time", "LLM calls and failures over time",
                time_bars(calls, bucket_s, "count", "calls", {"failed": FAILED, "succeeded": SUCCEEDED}), "no LLM calls"),
        _figure("p95-over-time", "p95 LLM call latency over time", time_line(p95, bucket_s, "s", "p95 latency"),
                "no LLM calls"),
        _figure("latency-by-model", "Latency distribution per model (one x range)", latency_histograms(analysis),
                "no LLM calls"),
        _figure("cost-per-gb", "Cost per GB per data source", horizontal_bars(per_gb, "usd_per_gb", "cost per GB"),
                "no span carries both data volume and a cost"),
        _figure("anomalies", "Anomalies on a timeline (score)", time_scatter(anomalies, "count", "score", _time_range(timeline)),
                "no anomalies flagged"),
    ]  # fmt: skip


def _time_range(timeline: dict[str, Any]) -> tuple[int, int] | None:
    """The time charts' x range: from the first bucket's start to the last one's end."""
    buckets = timeline["buckets"]
    if not buckets:
        return None
    return buckets[0]["start_unix_nano"], buckets[-1]["start_unix_nano"] + timeline["bucket_s"] * 10**9


def latency_histograms(analysis: Analysis) -> str | None:
    """The busiest models' latency sketches, binned over the range they span together."""
    rows = sorted(analysis.dimensions["model"].groups.items(), key=lambda item: -item[1].calls)[:MAX_LATENCY_MODELS]
    sketches = [(model, group.latency) for model, group in rows if group.latency is not None]
    bounds = [found for _, sketch in sketches if (found := sketch.bounds()) is not None]
    if not bounds:
        return None
    shared = (min(low for low, _ in bounds), max(high for _, high in bounds))
    return histograms([(model, sketch.histogram(HISTOGRAM_BINS, shared)) for model, sketch in sketches])


def _cell(value: Any, column: str) -> str:
    return f'<td class="n">{_e(value)}</td>' if column == "n" else f'<td class="{column}">{value}</td>'


def _table(headers: Sequence[str], rows: list[list[Any]], columns: str) -> str:
    """``columns`` has one letter per column: ``t`` text (cells already escaped HTML, left-aligned),
    ``d`` a time (left, unbroken), ``n`` a number (right-aligned)."""
    head = "".join(f'<th class="{c}">{_e(h)}</th>' for h, c in zip(headers, columns, strict=True))
    body = "".join("<tr>" + "".join(_cell(cell, c) for cell, c in zip(row, columns, strict=True)) + "</tr>"
                   for row in rows)  # fmt: skip
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _trace_link(trace: dict[str, Any]) -> str:
    url = trace.get("url")
    code = f"<code>{_e(trace['trace_id'])}</code>"
    return f'<a class="trace" href="{_e(url)}">{code}</a>' if url else code


def _dimension_tables(data: dict[str, Any]) -> list[str]:
    parts = []
    headers = ["calls", "errors", "p50", "p95", "p99", "in tokens", "out tokens", "cost", "cost/GB", "anomalies"]
    for name in DIMENSIONS:
        rows = data["groups"][name]
        if rows:
            parts.append(f"<h2>By {_e(name)} <small>({_e(UNITS[name])})</small></h2>")
            parts.append(_table([name, *headers], [[_e(r["key"] or "-"), fmt_value(r["calls"], "count"),
                f"{r['error_rate']:.1%}", *(fmt_value(r[k], "s") for k in ("p50_s", "p95_s", "p99_s")),
                fmt_value(r["input_tokens"], "count"), fmt_value(r["output_tokens"], "count"),
                fmt_value(r["cost_usd"], "usd"), fmt_value(r["cost_per_gb_usd"], "usd_per_gb"),
                fmt_value(r["anomalies"], "count")] for r in rows], "t" + "n" * len(headers)))  # fmt: skip
    return parts


def _start_times(totals: dict[str, Any]) -> tuple[str, str]:
    """(strftime pattern, column note) for start times: the time of day when the data spans one UTC day
    (its date goes in the column header), else date and time."""
    start, end = totals["start_unix_nano"], totals["end_unix_nano"]
    if start and _clock(start, "%Y-%m-%d") == _clock(end, "%Y-%m-%d"):
        return "%H:%M:%S", f"UTC, {_clock(start, '%Y-%m-%d')}"
    return "%Y-%m-%d %H:%M:%S", "UTC"


def _conversations(rows: list[dict[str, Any]], times: tuple[str, str]) -> list[str]:
    if not rows:
        return []
    pattern, note = times
    headers = [*CONVERSATION_HEADERS[:-2], f"first start ({note})", f"last start ({note})"]
    table = _table(headers, [[_e(r["conversation"]), fmt_value(r["traces"], "count"),
        fmt_value(r["llm_calls"], "count"), fmt_value(r["errors"], "count"), fmt_value(r["cost_usd"], "usd"),
        fmt_value(r["duration_s"], "s"), _e(_clock(r["first_start_unix_nano"], pattern)), _e(_clock(r["last_start_unix_nano"], pattern))]
        for r in rows], "tnnnnndd")  # fmt: skip
    return ["<h2>Conversations <small>(gen_ai.conversation.id; the traces that carry it)</small></h2>", table]


def _span_tree(trace: dict[str, Any]) -> str:
    tree = trace["tree"]
    rows = [[f'<span style="padding-left:{14 * s["depth"]}px">{_e(s["name"])}</span>', _e(s["kind"]),
             fmt_value((s["start_unix_nano"] - trace["start_unix_nano"]) / 1e9, "s"), fmt_value(s["duration_s"], "s"),
             fmt_value(s["own_usd"], "usd"), fmt_value(s["rolled_up_usd"], "usd"), "failed" if s["error"] else ""]
            for s in tree["spans"]]  # fmt: skip
    more = f"<p>{tree['spans_not_shown']:,} more spans not kept</p>" if tree["spans_not_shown"] else ""
    return _table(["span", "kind", "starts at", "duration", "own cost", "rolled-up cost", "status"], rows,
                  "ttnnnnt") + more  # fmt: skip


def _traces(data: dict[str, Any], times: tuple[str, str]) -> list[str]:
    parts, (pattern, note) = [], times
    for title, key, anchor in (("Slowest traces", "slowest_traces", "slowest"),
                               ("Most expensive traces", "most_expensive_traces", "most-expensive")):  # fmt: skip
        traces = data[key]
        if not traces:
            continue
        parts.append(f'<h2 id="{anchor}">{title}</h2>')
        parts.append(_table(["trace id", "root span", "service", "conversation", f"start ({note})", "duration", "cost"],
                            [[_trace_link(t), _e(t["root"]), _e(t["service"] or "-"), _e(t["conversation"] or "-"),
                              _e(_clock(t["start_unix_nano"], pattern)), fmt_value(t["duration_s"], "s"),
                              fmt_value(t["cost_usd"], "usd")] for t in traces],
                            "ttttdnn"))  # fmt: skip
        parts.append("<h3>Span trees: own and rolled-up cost per span</h3>")
        for index, trace in enumerate(traces):
            summary = (f"{_trace_link(trace)} {_e(trace['root'])}: {_e(fmt_value(trace['duration_s'], 's'))}, "
                       f"{_e(fmt_value(trace['cost_usd'], 'usd'))}")  # fmt: skip
            parts.append(f'<details class="tree"{" open" if index == 0 else ""}><summary>{summary}</summary>'
                         f"{_span_tree(trace)}</details>")  # fmt: skip
    return parts


def _recommendations(items: list[dict[str, Any]]) -> list[str]:
    if not items:
        return ["<h2>Recommendations</h2>", NOTHING_TO_RECOMMEND]
    return ["<h2>Recommendations</h2>", _table(["kind", "recommendation", "evidence", "impact", "est. saving"],
            [[_e(r["kind"]), _e(r["message"]), _e(r["evidence"]), _e(r["impact"]), fmt_value(r["saving_usd"], "usd")]
             for r in items], "ttttn")]  # fmt: skip


def _length(seconds: float) -> str:
    """How long a run lasted: seconds below 2 minutes, else hours and minutes."""
    if seconds < 120:
        return fmt_value(seconds, "s")
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _summary(totals: dict[str, Any]) -> str:
    start, end = totals["start_unix_nano"], totals["end_unix_nano"]
    when = f"{_clock(start)} to {_clock(end)} UTC ({_length((end - start) / 1e9)}); " if start else ""
    return (f"{when}{totals['spans']:,} spans, {totals['traces']:,} traces, {totals['llm_calls']:,} LLM calls "
            f"({totals['error_rate']:.1%} of spans failed), {fmt_value(totals['cost_usd'], 'usd')} spent, "
            f"{totals['unpriced_calls']:,} calls unpriced; percentiles: {totals['percentiles']}")  # fmt: skip


_MEASURE = (  # once laid out, each chart's drawn size and mark count, so a headless browser's DOM shows them
    "for(const svg of document.querySelectorAll('svg.chart')){const box=svg.getBoundingClientRect();"
    "svg.dataset.rendered=Math.round(box.width)+'x'+Math.round(box.height);"
    "svg.dataset.marks=svg.querySelectorAll('rect,circle').length}"
)


def page(title: str, body: str, data: dict[str, Any], data_id: str) -> str:
    """One self-contained page (the report's and bench's): title, ``body``, and ``data`` embedded as
    JSON under ``data_id`` for scripts; nothing is fetched when it is viewed."""
    embedded = json.dumps(data).replace("</", "<\\/")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body><h1>{_e(title)}</h1>{body}"
        f'<script type="application/json" id="{data_id}">{embedded}</script><script>{_MEASURE}</script></body></html>'
    )


def html_report(analysis: Analysis, data: dict[str, Any], title: str) -> str:
    """The whole page: summary line, charts, tables; the ``--json`` object embedded for scripts."""
    times = _start_times(data["totals"])
    sections = [*_report_charts(analysis, data), *_recommendations(data["recommendations"]),
                *_dimension_tables(data), *_conversations(data["conversations"], times), *_traces(data, times)]  # fmt: skip
    return page(title, f"<p>{_e(_summary(data['totals']))}</p>{''.join(sections)}", data, "report-data")
