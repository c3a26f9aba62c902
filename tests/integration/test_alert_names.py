"""The metric and label names the alert rules query (spanmeter.alerting.names) are the names the
real OpenTelemetry Prometheus exporter produces for spanmeter's derived metrics, scraped over HTTP."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from spanmeter import semconv
from spanmeter.alerting import names
from support.exposition import InstrumentedApp

HISTOGRAMS = {
    semconv.METRIC_SPAN_DURATION, semconv.GEN_AI_CLIENT_OPERATION_DURATION,
    semconv.GEN_AI_CLIENT_TOKEN_USAGE, semconv.METRIC_COST_PER_GB,
}  # fmt: skip
CHAT = {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200,
}  # fmt: skip


def _scrape() -> dict[str, list]:
    with InstrumentedApp(budget_daily_usd=1.0, anomaly_min_samples=5) as app:
        agent, end = app.span(
            "invoke_agent planner", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}
        )
        app.record("chat gpt-4o-mini", CHAT, parent=agent)
        app.record("chat gpt-4o-mini", CHAT, parent=agent, error="RateLimitError")
        app.record("execute_tool search", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
                   parent=agent, error="TimeoutError")  # fmt: skip
        agent.end(end_time=end)
        stage_attributes = {
            "spanmeter.operation.name": "run_stage", "spanmeter.data.bytes": 2 * 10**9, "spanmeter.data.source": "s3",
            "spanmeter.data.quality.completeness": 0.9, "spanmeter.data.freshness_s": 30.0,
        }  # fmt: skip
        stage, end = app.span("load", stage_attributes)
        app.record("chat gpt-4o-mini", CHAT, parent=stage)
        stage.end(end_time=end)
        for duration in [0.01] * 10 + [5.0]:  # the last one is far off its baseline: an anomaly
            app.record("execute_tool lookup", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
                       duration_s=duration)  # fmt: skip
        app.flush()
        with urllib.request.urlopen(app.serve() + "/metrics", timeout=5) as response:
            text = response.read().decode()
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample.labels)
    return samples


def test_every_family_and_label_the_rules_use_is_exported():
    samples = _scrape()
    for otel_name, family in names.FAMILIES.items():
        sample = f"{family}_bucket" if otel_name in HISTOGRAMS else family
        assert sample in samples, f"{otel_name} is not exported as {sample}: {sorted(samples)}"

    def labels(sample: str) -> set[tuple[str, str]]:
        return {item for labels in samples[sample] for item in labels.items()}

    span_buckets = labels(f"{names.SPAN_DURATION}_bucket")
    assert {(names.AGENT, "planner"), (names.TOOL, "search"), (names.ERROR_TYPE, "TimeoutError")} <= span_buckets
    assert (names.LE, names.le(30.0)) in span_buckets and (names.LE, names.le(float("inf"))) in span_buckets
    assert (names.OPERATION, "invoke_agent") in span_buckets
    llm = labels(f"{names.LLM_DURATION}_count")
    assert {(names.ERROR_TYPE, "RateLimitError"), (names.MODEL, "gpt-4o-mini"), (names.PROVIDER, "openai")} <= llm
    assert (names.TOKEN_TYPE, "input") in labels(f"{names.TOKEN_USAGE}_sum")
    assert (names.MODEL, "gpt-4o-mini") in labels(names.COST)
    assert {(names.SOURCE, "s3"), (names.DIMENSION, "completeness")} <= labels(names.DATA_QUALITY)
    assert (names.SOURCE, "s3") in labels(names.DATA_FRESHNESS) and (names.SOURCE, "s3") in labels(
        f"{names.COST_PER_GB}_sum"
    )
    assert (names.WINDOW, "day") in labels(names.BUDGET_UTILIZATION)
    assert (names.REASON, "latency") in labels(names.ANOMALIES)
    assert (names.REASON, "latency") in labels(names.ANOMALY_INCIDENTS)
