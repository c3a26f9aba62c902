"""A benchmark's result object, its recommendations, and the regression gate against a saved result.

Recommendations are the load-test recipe's rules spanmeter grew out of: average latency over 5 s;
p95 over 2 x the average; under 1 request/s; error rate over 5 %; peak memory over 1,000 MB; under
10 tokens/s (when the target made LLM calls); CPU over 80 %. Otherwise "within range".

The gate (``--fail-on latency_s.p95:+10%,error_rate:+0.01``): each item names a metric by its
dotted path in the result, the direction that counts as a regression (``+``: rising, ``-``:
falling, e.g. ``requests_per_s:-20%``) and a tolerance, relative (``%``) or absolute.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Any

from spanmeter.bench.runner import Scenario, Tally
from spanmeter.bench.telemetry import SpanStats

SLOW_AVG_S = 5.0
P95_OVER_AVG = 2.0
LOW_REQUESTS_PER_S = 1.0
HIGH_ERROR_RATE = 0.05
HIGH_MEMORY_MB = 1000.0
LOW_TOKENS_PER_S = 10.0
HIGH_CPU_PERCENT = 80.0
DEFAULT_FAIL_ON = "latency_s.p95:+10%,error_rate:+0.01"
_TOLERANCE = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*:\s*([+-])\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


def bench_result(target: str, scenario: Scenario, tally: Tally, stats: SpanStats, peak_rss_mb: float,
                 spans_dropped: int = 0) -> dict[str, Any]:  # fmt: skip
    """The ``--json`` object (also what ``--baseline`` reads back). ``spans_dropped``: spans the queue
    could not take, missing from the span totals (tokens, cost, time share)."""
    measured = tally.requests - tally.timeouts
    wall = tally.wall_s or 1e-9
    p50, p90, p95, p99 = tally.latency.quantiles((0.5, 0.9, 0.95, 0.99))
    result = {
        "target": target,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenario": {k: v for k, v in dataclasses.asdict(scenario).items() if k != "inputs"}
        | {"inputs": len(scenario.inputs)},
        "interrupted": tally.interrupted,
        "requests": tally.requests,
        "errors": tally.errors,
        "timeouts": tally.timeouts,
        "error_rate": tally.errors / tally.requests if tally.requests else 0.0,
        "timeout_rate": tally.timeouts / tally.requests if tally.requests else 0.0,
        "requests_per_s": tally.requests / wall,
        "latency_s": {
            "avg": tally.latency_sum_s / measured if measured else None,
            "p50": p50,
            "p90": p90,
            "p95": p95,
            "p99": p99,
        },
        "tokens_per_s": (stats.input_tokens + stats.output_tokens) / wall,
        "input_tokens": stats.input_tokens,
        "output_tokens": stats.output_tokens,
        "cost_usd": stats.cost_usd,
        "cost_per_request_usd": stats.cost_usd / tally.requests if tally.requests else None,
        "llm_calls": stats.llm.calls,
        "llm_errors": stats.llm.errors,
        "unpriced_calls": stats.llm.unpriced_calls,
        "cost_per_gb_usd": stats.llm.cost_per_gb_usd,
        "spans_dropped": spans_dropped,
        "peak_rss_mb": peak_rss_mb,
        "cpu_percent": 100.0 * tally.cpu_s / wall,
        "time_share": stats.time_share(tally.busy_s),
        "error_types": tally.error_types,
    }
    result["recommendations"] = recommendations(result)
    return result


def recommendations(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The recipe's rules over a result; one "within_range" item when none fires."""
    found = []
    avg, p95 = result["latency_s"]["avg"], result["latency_s"]["p95"]

    def add(kind: str, message: str) -> None:
        found.append({"kind": kind, "message": message})

    if avg is not None and avg > SLOW_AVG_S:
        add("slow_average", f"average response {avg:.2f} s is over {SLOW_AVG_S:g} s: add caching or shorten prompts")
    if avg and p95 is not None and p95 > P95_OVER_AVG * avg:
        add("latency_outliers", f"p95 {p95:.2f} s is over {P95_OVER_AVG:g} x the average {avg:.2f} s: "
                                "look for outliers and timeouts")  # fmt: skip
    if result["requests"] and result["requests_per_s"] < LOW_REQUESTS_PER_S:
        add("low_throughput", f"{result['requests_per_s']:.2f} requests/s is under {LOW_REQUESTS_PER_S:g}: "
                              "use connection pooling or async calls")  # fmt: skip
    if result["error_rate"] > HIGH_ERROR_RATE:
        add("error_rate", f"{result['error_rate']:.1%} of requests failed (over {HIGH_ERROR_RATE:.0%}): "
                          "add retries and error handling")  # fmt: skip
    if result["peak_rss_mb"] > HIGH_MEMORY_MB:
        add("high_memory", f"peak memory {result['peak_rss_mb']:.0f} MB is over {HIGH_MEMORY_MB:.0f} MB")
    tokens = result["input_tokens"] + result["output_tokens"]
    if tokens and result["tokens_per_s"] < LOW_TOKENS_PER_S:
        add("low_tokens_per_s", f"{result['tokens_per_s']:.1f} tokens/s is under {LOW_TOKENS_PER_S:g}: "
                                "try a faster model or shorter prompts")  # fmt: skip
    if result["cpu_percent"] > HIGH_CPU_PERCENT:
        add("high_cpu", f"CPU {result['cpu_percent']:.0f} % is over {HIGH_CPU_PERCENT:g} %: scale out")
    return found or [{"kind": "within_range", "message": "all figures within range: keep monitoring"}]


@dataclasses.dataclass(frozen=True)
class Tolerance:
    metric: str  # dotted path in the result
    rising: bool  # True: an increase is the regression
    amount: float
    relative: bool

    def limit(self, baseline: float) -> float:
        step = baseline * self.amount if self.relative else self.amount
        return baseline + step if self.rising else baseline - step

    def __str__(self) -> str:
        return f"{self.metric}:{'+' if self.rising else '-'}{self.amount * 100 if self.relative else self.amount:g}" + (
            "%" if self.relative else ""
        )


def parse_fail_on(text: str) -> list[Tolerance]:
    """``metric:+10%,other:+0.01`` as tolerances; ValueError naming the item it cannot read."""
    tolerances = []
    for item in text.split(","):
        match = _TOLERANCE.match(item)
        if not match:
            raise ValueError(f"{item.strip()!r}: expected metric:+N% or metric:-N (e.g. latency_s.p95:+10%)")
        metric, sign, amount, percent = match.groups()
        tolerances.append(Tolerance(metric, sign == "+", float(amount) / (100 if percent else 1), bool(percent)))
    return tolerances


def metric(result: dict[str, Any], path: str) -> float:
    """The number at ``path`` (``latency_s.p95``); KeyError naming the path when there is none."""
    value: Any = result
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(path)
        value = value[part]
    if type(value) not in (int, float):
        raise KeyError(path)
    return float(value)


@dataclasses.dataclass(frozen=True)
class Check:
    tolerance: Tolerance
    baseline: float | None
    current: float | None

    @property
    def failed(self) -> bool:
        if self.baseline is None or self.current is None:
            return True  # a metric that cannot be compared does not pass silently
        limit = self.tolerance.limit(self.baseline)
        return self.current > limit if self.tolerance.rising else self.current < limit


def compare(current: dict[str, Any], baseline: dict[str, Any], tolerances: list[Tolerance]) -> list[Check]:
    checks = []
    for tolerance in tolerances:
        values = []
        for result in (baseline, current):
            try:
                values.append(metric(result, tolerance.metric))
            except KeyError:
                values.append(None)
        checks.append(Check(tolerance, *values))
    return checks
