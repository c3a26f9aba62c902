"""A benchmark's result object, its recommendations, and the regression gate against a saved result.

Recommendations come from :func:`spanmeter.report.recommend.bench_recommendations`, the module the
report's come from (the rules, their thresholds and the minimum data each needs are documented there).

The gate (``--fail-on latency_s.p95:+10%,error_rate:+0.01``): each item names a metric by its
dotted path in the result, the direction that counts as a regression (``+``: rising, ``-``:
falling, e.g. ``requests_per_s:-20%``) and a tolerance, relative (``%``) or absolute. A path that
is not one of the result's figures (:func:`known_metrics`) is refused before the load runs.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Any

from spanmeter.bench.runner import Scenario, Tally
from spanmeter.bench.telemetry import SpanStats
from spanmeter.report.recommend import bench_recommendations

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
        "timeline": tally.timeline.to_json(),
    }
    result["recommendations"] = recommendations(result)
    return result


recommendations = bench_recommendations
"""The load-test rules, in :mod:`spanmeter.report.recommend` with the report's (one module, one shape)."""


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


_NOT_GATED = ("scenario", "error_types", "timeline", "recommendations")
"""Parts of a result that are its inputs or its detail, not figures to hold steady."""


def known_metrics() -> list[str]:
    """The dotted paths the gate can compare: every number of a result (read off an empty one)."""
    empty = bench_result("", Scenario(), Tally(), SpanStats(), 0.0)

    def paths(value: Any, prefix: str) -> list[str]:
        if isinstance(value, dict):
            return [path for key, item in value.items() for path in paths(item, f"{prefix}{key}.")]
        return [prefix[:-1]] if value is None or type(value) in (int, float) else []

    return sorted(paths({key: value for key, value in empty.items() if key not in _NOT_GATED}, ""))


def parse_fail_on(text: str) -> list[Tolerance]:
    """``metric:+10%,other:+0.01`` as tolerances; ValueError naming the item it cannot read, or the
    metric it does not know (with the known ones: a typo is not a regression)."""
    tolerances = []
    known = known_metrics()
    for item in text.split(","):
        match = _TOLERANCE.match(item)
        if not match:
            raise ValueError(f"{item.strip()!r}: expected metric:+N% or metric:-N (e.g. latency_s.p95:+10%)")
        metric, sign, amount, percent = match.groups()
        if metric not in known:
            raise ValueError(f"--fail-on: unknown metric {metric!r}; known metrics: {', '.join(known)}")
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
