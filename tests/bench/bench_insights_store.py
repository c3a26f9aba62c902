"""Cost of the Insights store's latency sketches: on the batch worker (``on_outcome``) and per query.

    python tests/bench/bench_insights_store.py [--spans N] [--models N] [--buckets N]

Per span: µs of ``InsightsStore.on_outcome`` as shipped (a latency sketch per model, agent and
service row) and with the per-group sketches off (the baseline, what the store did before p95
was served), and their ratio. Per query: ms of one ``cost_summary`` by model over a store whose
``--buckets`` one-minute buckets are all filled (what ``spanmeter top`` asks every refresh), as
shipped and baseline. Best of 7, interleaved.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager

from spanmeter.pipeline import insights_store
from spanmeter.pipeline.insights_store import InsightsStore
from spanmeter.processing.outcome import SpanOutcome

NOW = 1_800_000_000 * 10**9
MINUTE = 60 * 10**9


def outcomes(count: int, models: int, buckets: int) -> list[SpanOutcome]:
    return [
        SpanOutcome(
            service=f"service-{i % 3}",
            span_name="chat",
            kind="llm",
            operation="chat",
            trace_id=i + 1,
            span_id=i + 1,
            end_time_ns=NOW - (i % buckets) * MINUTE,
            duration_s=0.05 + (i % 97) / 20,
            error_type="E" if i % 17 == 0 else None,
            provider="openai",
            model=f"model-{i % models}",
            agent=f"agent-{i % 4}",
            user=f"user-{i % 50}",
            input_tokens=100,
            output_tokens=10,
            cost_usd=0.001,
        )
        for i in range(count)
    ]


@contextmanager
def per_group_latency(on: bool):
    saved = insights_store.LATENCY_DIMENSIONS
    insights_store.LATENCY_DIMENSIONS = saved if on else ()
    try:
        yield
    finally:
        insights_store.LATENCY_DIMENSIONS = saved


def run_once(spans: list[SpanOutcome], buckets: int, on: bool) -> tuple[float, float]:
    """(µs per span, ms per query) of one fresh store."""
    with per_group_latency(on):
        store = InsightsStore(horizon_s=max(buckets, 1) * 60, clock=lambda: NOW)
        started = time.perf_counter()
        for outcome in spans:
            store.on_outcome(outcome)
        span_us = (time.perf_counter() - started) / len(spans) * 1e6
        started = time.perf_counter()
        summary = store.cost_summary("model")
        query_ms = (time.perf_counter() - started) * 1e3
    assert summary.total.calls == len(spans)
    assert (summary.rows[0][1].latency is not None) is on
    return span_us, query_ms


def measure(spans: list[SpanOutcome], buckets: int) -> dict[bool, tuple[float, float]]:
    """Best of 7 per variant, the two interleaved (this machine's load drifts)."""
    best = {False: (float("inf"), float("inf")), True: (float("inf"), float("inf"))}
    for _ in range(7):
        for on in (False, True):
            span_us, query_ms = run_once(spans, buckets, on)
            best[on] = (min(best[on][0], span_us), min(best[on][1], query_ms))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--buckets", type=int, default=360)
    args = parser.parse_args(argv)
    spans = outcomes(args.spans, args.models, args.buckets)
    best = measure(spans, args.buckets)
    (base_span, base_query), (span_us, query_ms) = best[False], best[True]
    print(f"insights store: {args.spans} spans over {args.buckets} one-minute buckets, {args.models} models")
    print(f"{'':<24}{'µs/span':>10}{'ms/query':>10}")
    print(f"{'baseline (no sketches)':<24}{base_span:>10.2f}{base_query:>10.2f}")
    print(f"{'latency sketches':<24}{span_us:>10.2f}{query_ms:>10.2f}")
    print(f"{'ratio':<24}{span_us / base_span:>10.2f}{query_ms / base_query:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
