"""``spanmeter report --html``: one self-contained page, charts drawn as inline SVG here.

No script, font or stylesheet is fetched when the page is viewed (it works offline and
from a mail attachment). Charts: cost over time by model (stacked bars), latency
distribution per model (log-scale histograms from the report's sketches), cost per GB
per data source (bars), anomalies on a timeline (score against time). Then the tables.
Every ``<svg class="chart">`` holds the marks it plots; a chart without data says so instead.
A few lines of inline script record, once laid out, each chart's drawn size and mark count
on it (``data-rendered``, ``data-marks``), so a headless browser's DOM shows what rendered.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

from spanmeter.report.analysis import DIMENSIONS, Analysis
from spanmeter.report.render import UNITS

WIDTH, HEIGHT, PAD = 720, 260, 48
MAX_LATENCY_MODELS = 6
PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e", "#9498a0")
_STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child,.text td{text-align:left}th{background:#f4f4f4}
figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
.small{display:inline-block;margin-right:16px;vertical-align:top}.empty{color:#888}
svg text{font-size:11px;fill:#555}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _time(unix_nano: float) -> str:
    return datetime.fromtimestamp(unix_nano / 1e9, UTC).strftime("%m-%d %H:%M")


def _svg(body: list[str], width: int = WIDTH, height: int = HEIGHT, label: str = "") -> str:
    return (f'<svg class="chart" role="img" aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">' + "".join(body) + "</svg>")  # fmt: skip


def _axes(width: int, height: int, y_max: float, y_label: str, x_labels: tuple[str, str]) -> list[str]:
    bottom, right = height - PAD / 2, width - 8
    return [
        f'<line x1="{PAD}" y1="8" x2="{PAD}" y2="{bottom}" stroke="#999"/>',
        f'<line x1="{PAD}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#999"/>',
        f'<text x="4" y="16">{_e(f"{y_max:.3g}")}</text><text x="4" y="{bottom}">0</text>',
        f'<text x="4" y="{height / 2}">{_e(y_label)}</text>',
        f'<text x="{PAD}" y="{height - 4}">{_e(x_labels[0])}</text>',
        f'<text x="{right}" y="{height - 4}" text-anchor="end">{_e(x_labels[1])}</text>',
    ]


def _legend(names: list[str]) -> str:
    items = "".join(f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{_e(n)}</span>'
                    for i, n in enumerate(names))  # fmt: skip
    return f'<div class="legend">{items}</div>'


def _figure(chart_id: str, caption: str, content: str | None, empty: str) -> str:
    inner = content if content else f'<p class="empty">{_e(empty)}</p>'
    return f'<figure id="{chart_id}"><figcaption>{_e(caption)}</figcaption>{inner}</figure>'


def cost_over_time(analysis: Analysis) -> str | None:
    series = analysis.timeline.series()
    if not series:
        return None
    width_ns = analysis.timeline.width_ns
    models = sorted(series, key=lambda m: -sum(cost for _, cost in series[m]))
    stacks: dict[int, float] = {}
    for points in series.values():
        for start, cost in points:
            stacks[start] = stacks.get(start, 0.0) + cost
    first, last = min(stacks), max(stacks)
    slots = (last - first) // width_ns + 1
    bar_w = (WIDTH - PAD - 8) / slots
    y_max, plot_h = max(stacks.values()), HEIGHT - PAD / 2 - 8
    body = _axes(WIDTH, HEIGHT, y_max, "USD", (_time(first), _time(last + width_ns)))
    base: dict[int, float] = {}
    for index, model in enumerate(models):
        for start, cost in series[model]:
            h = cost / y_max * plot_h
            y = HEIGHT - PAD / 2 - base.get(start, 0.0) - h
            x = PAD + (start - first) // width_ns * bar_w
            base[start] = base.get(start, 0.0) + h
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.2f}" '
                        f'fill="{PALETTE[index % len(PALETTE)]}"><title>{_e(model)} {_time(start)}: '
                        f'${cost:.6f}</title></rect>')  # fmt: skip
    return _legend(models) + _svg(body, label="cost over time by model")


def latency_distributions(analysis: Analysis) -> str | None:
    rows = sorted(analysis.dimensions["model"].groups.items(), key=lambda item: -item[1].calls)[:MAX_LATENCY_MODELS]
    charts = []
    width, height = 340, 180
    for index, (model, group) in enumerate(rows):
        bins = group.latency.histogram(24)
        if not bins:
            continue
        top = max(count for _, _, count in bins)
        bar_w, plot_h = (width - PAD - 8) / len(bins), height - PAD / 2 - 8
        body = _axes(width, height, top, "calls", (f"{bins[0][0]:.3g} s", f"{bins[-1][1]:.3g} s (log)"))
        for position, (low, high, count) in enumerate(bins):
            h = count / top * plot_h
            body.append(f'<rect x="{PAD + position * bar_w:.1f}" y="{height - PAD / 2 - h:.1f}" '
                        f'width="{max(bar_w - 1, 1):.1f}" height="{h:.2f}" fill="{PALETTE[index % len(PALETTE)]}">'
                        f'<title>{low:.3g}-{high:.3g} s: {count} calls</title></rect>')  # fmt: skip
        charts.append(f'<div class="small"><div>{_e(model)}</div>{_svg(body, width, height, model)}</div>')
    return "".join(charts) or None


def cost_per_gb(analysis: Analysis) -> str | None:
    rows = [(key, group.cost_per_gb_usd) for key, group in analysis.dimensions["source"].rows()
            if group.cost_per_gb_usd is not None][:20]  # fmt: skip
    if not rows:
        return None
    bar_h, label_w = 22, 180
    height = bar_h * len(rows) + 16
    top = max(value for _, value in rows) or 1.0
    body = []
    for index, (source, value) in enumerate(rows):
        y = 8 + index * bar_h
        w = value / top * (WIDTH - label_w - 100)
        body.append(f'<text x="4" y="{y + 14}">{_e(source)}</text>'
                    f'<rect x="{label_w}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h - 4}" fill="{PALETTE[0]}">'
                    f'<title>{_e(source)}: ${value:.4f}/GB</title></rect>'
                    f'<text x="{label_w + w + 6:.1f}" y="{y + 14}">${value:.4g}/GB</text>')  # fmt: skip
    return _svg(body, WIDTH, height, "cost per GB per source")


def anomaly_timeline(analysis: Analysis) -> str | None:
    events = analysis.anomaly_events.items()
    if not events:
        return None
    times = [event["time_unix_nano"] for event in events]
    first, last = min(times), max(times)
    span_ns = max(last - first, 1)
    top = max(event["score"] for event in events) or 1.0
    reasons = sorted({(event["reasons"] or ["?"])[0] for event in events})
    plot_w, plot_h = WIDTH - PAD - 16, HEIGHT - PAD / 2 - 16
    body = _axes(WIDTH, HEIGHT, top, "score", (_time(first), _time(last)))
    for event in events:
        reason = (event["reasons"] or ["?"])[0]
        x = PAD + 8 + (event["time_unix_nano"] - first) / span_ns * plot_w
        y = HEIGHT - PAD / 2 - 4 - event["score"] / top * plot_h
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{PALETTE[reasons.index(reason) % len(PALETTE)]}">'
                    f'<title>{_e(event["span"])} {_e(",".join(event["reasons"]))} score {event["score"]:.1f} '
                    f'trace {_e(event["trace_id"])}</title></circle>')  # fmt: skip
    return _legend(reasons) + _svg(body, label="anomalies on a timeline")


def _table(headers: list[str], rows: list[list[Any]], css_class: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}"><tr>{head}</tr>{body}</table>'


def _fmt(value: Any, template: str) -> str:
    return "-" if value is None else template.format(value)


def _tables(data: dict[str, Any]) -> list[str]:
    parts = []
    for name in DIMENSIONS:
        rows = data["groups"][name]
        if not rows:
            continue
        parts.append(f"<h2>By {_e(name)} <small>({_e(UNITS[name])})</small></h2>")
        parts.append(_table(
            [name, "calls", "errors", "p50 s", "p90 s", "p95 s", "p99 s", "input tok", "output tok", "cost USD",
             "USD/GB", "anomalies"],
            [[r["key"], r["calls"], f"{r['error_rate']:.1%}", *(_fmt(r[k], "{:.3f}") for k in
              ("p50_s", "p90_s", "p95_s", "p99_s")), r["input_tokens"], r["output_tokens"],
              _fmt(r["cost_usd"], "{:.6f}"), _fmt(r["cost_per_gb_usd"], "{:.4f}"), r["anomalies"]] for r in rows],
        ))  # fmt: skip
    for title, key in (("Slowest traces", "slowest_traces"), ("Most expensive traces", "most_expensive_traces")):
        if data[key]:
            parts.append(f"<h2>{title}</h2>")
            parts.append(_table(["trace id", "root span", "service", "duration s", "cost USD"],
                                [[t["trace_id"], t["root"], t["service"] or "-", f"{t['duration_s']:.3f}",
                                  _fmt(t["cost_usd"], "{:.6f}")] for t in data[key]]))  # fmt: skip
    parts.append("<h2>Recommendations</h2>")
    parts.append(_table(["kind", "what the data says", "est. saving USD"],
                        [[r["kind"], r["message"], _fmt(r["saving_usd"], "{:.6f}")] for r in data["recommendations"]], "text")
                 if data["recommendations"] else "<p>Everything is within the thresholds.</p>")  # fmt: skip
    return parts


def html_report(analysis: Analysis, data: dict[str, Any], title: str) -> str:
    """The whole page: summary line, four charts, tables; the ``--json`` object embedded for scripts."""
    totals = data["totals"]
    charts = [
        _figure("cost-over-time", "Cost over time by model", cost_over_time(analysis), "no priced LLM calls"),
        _figure("latency-by-model", "Latency distribution per model", latency_distributions(analysis),
                "no LLM calls"),
        _figure("cost-per-gb", "Cost per GB per data source", cost_per_gb(analysis),
                "no span carries both data volume and a cost"),
        _figure("anomalies", "Anomalies on a timeline", anomaly_timeline(analysis), "no anomalies flagged"),
    ]  # fmt: skip
    summary = (f"{totals['spans']:,} spans, {totals['traces']:,} traces, {totals['llm_calls']:,} LLM calls, "
               f"${totals['cost_usd']:.6f}, {totals['unpriced_calls']:,} unpriced; percentiles: {totals['percentiles']}")  # fmt: skip
    embedded = json.dumps(data).replace("</", "<\\/")
    measure = ("for(const svg of document.querySelectorAll('svg.chart')){const box=svg.getBBox();"
               "svg.dataset.rendered=Math.round(box.width)+'x'+Math.round(box.height);"
               "svg.dataset.marks=svg.querySelectorAll('rect,circle').length}")  # fmt: skip
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{_STYLE}</style>"
        f"</head><body><h1>{_e(title)}</h1><p>{_e(summary)}</p>{''.join(charts)}{''.join(_tables(data))}"
        f'<script type="application/json" id="report-data">{embedded}</script><script>{measure}</script></body></html>'
    )
