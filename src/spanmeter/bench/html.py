"""``spanmeter bench --html``: one self-contained result page, charts drawn by the report's builders.

Latency (p50 and p95) and requests (succeeded, failed, timed out) over the run's time buckets, the
figures, the recommendations, and the result object embedded for scripts. Charts come from
:mod:`spanmeter.report.html` (plain data in, one ``<svg class="chart">`` out), so the two pages draw,
format and lay out numbers alike; nothing is fetched when the page is viewed.
"""

from __future__ import annotations

import html
from typing import Any

from spanmeter.report.html import FAILED, PALETTE, SUCCEEDED, fmt_value, page, time_bars, time_line

_OUTCOMES = {"succeeded": SUCCEEDED, "failed": FAILED, "timed out": PALETTE[1]}


def _e(value: Any) -> str:
    return html.escape(str(value))


def _figure(chart_id: str, caption: str, content: str | None) -> str:
    inner = content or '<p class="empty">no data</p>'
    return f'<figure id="{chart_id}"><figcaption>{_e(caption)}</figcaption>{inner}</figure>'


def charts(result: dict[str, Any]) -> list[str]:
    """Latency and requests over the run's time buckets."""
    timeline = result["timeline"]
    buckets, bucket_s = timeline["buckets"], timeline["bucket_s"]
    p95 = time_line([(b["start_unix_nano"], b["p95_s"]) for b in buckets], bucket_s, "s", "p95 latency")
    p50 = time_line([(b["start_unix_nano"], b["p50_s"]) for b in buckets], bucket_s, "s", "p50 latency", PALETTE[3])
    outcomes = [(b["start_unix_nano"], {"succeeded": b["requests"] - b["errors"] - b["timeouts"],
                                        "failed": b["errors"], "timed out": b["timeouts"]}) for b in buckets]  # fmt: skip
    requests = time_bars(outcomes, bucket_s, "count", "requests", _OUTCOMES)
    return [
        _figure(
            "latency-over-time",
            f"latency over time ({bucket_s} s buckets): p95, then p50",
            (p95 or "") + (p50 or "") or None,
        ),
        _figure("requests-over-time", "requests over time", requests),  # time_bars draws its legend
    ]


def _figures(result: dict[str, Any]) -> str:
    latency, share = result["latency_s"], result["time_share"]
    rows = [
        ("requests / errors / timeouts", f"{result['requests']:,} / {result['errors']:,} / {result['timeouts']:,}"),
        ("error rate / timeout rate", f"{result['error_rate']:.1%} / {result['timeout_rate']:.1%}"),
        ("requests/s", f"{result['requests_per_s']:.2f}"),
        *((f"latency {key}", fmt_value(latency[key], "s")) for key in ("avg", "p50", "p90", "p95", "p99")),
        ("tokens/s", f"{result['tokens_per_s']:.1f}"),
        (
            "cost (per request)",
            f"{fmt_value(result['cost_usd'], 'usd')} ({fmt_value(result['cost_per_request_usd'], 'usd')})",
        ),
        ("peak RSS MB / CPU %", f"{result['peak_rss_mb']:.0f} / {result['cpu_percent']:.0f}"),
        ("time in llm / tool / other", f"{share['llm']:.0%} / {share['tool']:.0%} / {share['other']:.0%}"),
    ]
    body = "".join(f'<tr><td>{_e(label)}</td><td class="n">{_e(value)}</td></tr>' for label, value in rows)
    return f"<h2>Figures</h2><table>{body}</table>"


def _recommendations(items: list[dict[str, Any]]) -> str:
    rows = "".join(f"<tr><td>{_e(item['kind'])}</td><td>{_e(item['message'])}</td><td>{_e(item.get('evidence', ''))}"
                   f"</td></tr>" for item in items)  # fmt: skip
    return (
        f"<h2>Recommendations</h2><table><tr><th>kind</th><th>recommendation</th><th>evidence</th></tr>{rows}</table>"
    )


def bench_page(result: dict[str, Any]) -> str:
    """The whole page for one ``spanmeter bench`` result (the ``--json`` object)."""
    title = f"spanmeter bench {result['target']}" + (" (interrupted)" if result["interrupted"] else "")
    body = (f"<p>{_e(result['timestamp'])}: {result['scenario']['users']} user(s)</p>"
            f"{''.join(charts(result))}{_figures(result)}{_recommendations(result['recommendations'])}")  # fmt: skip
    return page(title, body, result, "bench-data")
