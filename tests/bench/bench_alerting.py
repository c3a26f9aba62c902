"""Cost of spanmeter's own alert rules on the batch worker (``on_outcome``) and on the timer (``evaluate``).

    python tests/bench/bench_alerting.py [--spans N] [--groups N]

Per span: the engine with no rules (the lock and the call: the baseline), with the default
rule table (8 rules, 7 fed by spans), and with the defaults plus 8 filtered rules (``where``
on a tool name), as µs per span and as a ratio to the baseline. Spans spread over ``--groups``
services. Per evaluation: ms for one ``evaluate`` over every group's full window. Best of 5.
"""

from __future__ import annotations

import argparse
import sys
import time

from spanmeter.alerting.engine import AlertEngine
from spanmeter.alerting.rules import AlertConfig, Rule, default_rules
from spanmeter.processing.outcome import SpanOutcome


def outcomes(count: int, groups: int) -> list[SpanOutcome]:
    return [
        SpanOutcome(
            service=f"service-{i % groups}",
            span_name="execute_tool search",
            kind="tool",
            operation="execute_tool",
            trace_id=i + 1,
            span_id=i + 1,
            end_time_ns=0,
            duration_s=0.05 * (i % 40),
            error_type="E" if i % 17 == 0 else None,
            tool=f"tool-{i % 8}",
            cost_usd=0.001,
            quality={"completeness": 0.99} if i % 5 == 0 else {},
        )
        for i in range(count)
    ]


def filtered_rules() -> tuple[Rule, ...]:
    return tuple(
        Rule(
            name=f"tool-{i}-errors",
            metric="error_rate",
            threshold=0.5,
            above=True,
            window_s=300.0,
            window="5m",
            where=(("tool", frozenset({f"tool-{i}"})),),
            group_by=("service", "tool"),
        )
        for i in range(8)
    )


def engine(rules: tuple[Rule, ...]) -> AlertEngine:
    now = [1_000_000.0]
    return AlertEngine(AlertConfig(rules=rules), clock=lambda: now[0])


def per_span_us(rules: tuple[Rule, ...], spans: list[SpanOutcome]) -> tuple[float, AlertEngine]:
    best, last = float("inf"), None
    for _ in range(5):
        last = engine(rules)
        on_outcome = last.on_outcome
        start = time.perf_counter()
        for item in spans:
            on_outcome(item)
        best = min(best, (time.perf_counter() - start) / len(spans) * 1e6)
    return best, last


def evaluate_ms(filled: AlertEngine) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        filled.evaluate()
        best = min(best, (time.perf_counter() - start) * 1e3)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--groups", type=int, default=50)
    args = parser.parse_args(argv)
    spans = outcomes(args.spans, args.groups)
    baseline, _ = per_span_us((), spans)
    print(f"{'rules':<28}{'µs per span':>12}{'x baseline':>12}{'ms per evaluate':>17}")
    print("-" * 69)
    print(f"{'none (baseline)':<28}{baseline:>12.2f}{1.0:>12.2f}{'-':>17}")
    for label, rules in (
        ("defaults (8)", default_rules()),
        ("defaults + 8 filtered", default_rules() + filtered_rules()),
    ):
        cost, filled = per_span_us(rules, spans)
        print(f"{label:<28}{cost:>12.2f}{cost / baseline:>12.2f}{evaluate_ms(filled):>17.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
