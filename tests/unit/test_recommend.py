"""Recommendations earn their place (issue 24): each states evidence and impact, none is made
below its minimum of data or where it cannot apply (no cheaper sibling, failed calls, a run of
one request, a run of failures). One module serves ``report`` and ``bench``."""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from spanmeter import semconv
from spanmeter.report import recommend as rec
from spanmeter.report.analysis import Analysis
from spanmeter.report.reader import spans_of_json
from spanmeter.report.recommend import bench_recommendations, recommend
from support.traces import otlp_span, request_line

S = 10**9


def chat(span: int, model: str, tokens: tuple[int, int] | None, *, failed: bool = False, seconds: float = 1.0,
         **attributes) -> dict:  # fmt: skip
    usage = {} if tokens is None else {semconv.GEN_AI_USAGE_INPUT_TOKENS: tokens[0],
                                       semconv.GEN_AI_USAGE_OUTPUT_TOKENS: tokens[1]}  # fmt: skip
    if tokens is not None:
        attributes.setdefault(semconv.COST_USD, price(model, tokens[0], tokens[1]))
    span_json = otlp_span(span, 1, None, f"chat {model}", span * S, int(seconds * S), {
        semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: model, **usage, **attributes})  # fmt: skip
    if failed:
        span_json["status"] = {"code": 2}
    return span_json


def price(model: str, input_tokens: int, output_tokens: int) -> float:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return float(calc_price(usage, model_ref=model, provider_id="openai").total_price)


def analysed(spans: list[dict]) -> Analysis:
    analysis = Analysis()
    for span in spans_of_json(request_line(spans)):
        analysis.add(span)
    analysis.finish()
    return analysis


def kinds(found: list[dict]) -> list[str]:
    return [item["kind"] for item in found]


def test_every_recommendation_states_evidence_impact_and_numbers():
    spans = [chat(i, "gpt-4o", (300, 50), failed=i < 4) for i in range(1, 31)]
    found = recommend(analysed(spans))
    assert {"cheaper_model", "error_rate"} <= set(kinds(found))
    for item in found:
        assert item["evidence"] and item["impact"] and item["message"] and item["numbers"], item
    errors = next(item for item in found if item["kind"] == "error_rate")
    assert "3 of 30 calls failed" in errors["evidence"]


def test_one_model_without_a_cheaper_sibling_gets_no_routing_advice():
    # gpt-4o-mini takes 100 % of the spend; openai lists nothing smaller in its family
    spans = [chat(i, "gpt-4o-mini", (300, 50)) for i in range(1, 31)]
    assert rec.sibling_models("openai", "gpt-4o-mini") == []
    assert kinds(recommend(analysed(spans))) == []


def test_a_dominant_model_with_a_cheaper_sibling_gets_the_saving_genai_prices_gives():
    # big calls: not "small calls" (cheaper_model), but gpt-4o takes 100 % and gpt-4o-mini exists
    spans = [chat(i, "gpt-4o", (1500 + i, 600)) for i in range(1, 31)]  # sizes differ: no repeats
    found = {item["kind"]: item for item in recommend(analysed(spans))}
    assert set(found) == {"dominant_model"}
    dominant = found["dominant_model"]
    paid = sum(price("gpt-4o", 1500 + i, 600) for i in range(1, 31))
    assert dominant["numbers"]["sibling"] == "gpt-4o-mini"
    assert dominant["saving_usd"] == pytest.approx(paid - price("gpt-4o-mini", 1500 * 30 + 465, 600 * 30))
    assert "100%" in dominant["message"]


def test_failed_calls_never_get_the_streaming_usage_advice():
    unknown = {semconv.COST_SOURCE: semconv.COST_SOURCE_UNKNOWN}
    failed = [chat(i, "gpt-4o", None, failed=True, **unknown) for i in range(1, 12)]
    analysis = analysed(failed)
    assert analysis.totals.unpriced == {"no_usage": 0, "no_price": 0}
    assert "unpriced_calls" not in kinds(recommend(analysis))
    streamed = analysed([*failed, chat(20, "gpt-4o", None, **unknown)])  # one successful stream without usage
    advice = next(item for item in recommend(streamed) if item["kind"] == "unpriced_calls")
    assert advice["numbers"] == {"no_usage": 1, "no_price": 0} and "include_usage" in advice["message"]


def test_too_little_data_makes_no_recommendation():
    # 9 calls: half failed, one 20x slower, small calls on a model with a cheaper sibling
    spans = [chat(i, "gpt-4o", (300, 50), failed=i % 2 == 0, seconds=20.0 if i == 9 else 1.0) for i in range(1, 10)]
    assert kinds(recommend(analysed(spans))) == []
    # the same shape over enough calls: each rule speaks
    spans = [chat(i, "gpt-4o", (300, 50), failed=i % 2 == 0, seconds=20.0 if i % 10 == 9 else 1.0)
             for i in range(1, 41)]  # fmt: skip
    assert {"cheaper_model", "latency_outliers", "error_rate"} <= set(kinds(recommend(analysed(spans))))


def test_latency_outliers_are_not_judged_over_calls_that_all_failed():
    spans = [chat(i, "gpt-4o", (300, 50), failed=True, seconds=30.0 if i % 10 == 0 else 1.0) for i in range(1, 41)]
    found = kinds(recommend(analysed(spans)))
    assert "error_rate" in found and "latency_outliers" not in found


def bench_result(**overrides) -> dict:
    base = {"latency_s": {"avg": 1.0, "p95": 1.5}, "requests": 100, "errors": 0, "timeouts": 0, "error_rate": 0.0,
            "requests_per_s": 5.0, "peak_rss_mb": 200.0, "input_tokens": 1000, "output_tokens": 100,
            "tokens_per_s": 500.0, "cpu_percent": 20.0}  # fmt: skip
    return base | overrides


def test_bench_rules_need_enough_requests():
    one = bench_result(requests=1, requests_per_s=0.2, cpu_percent=99.0, latency_s={"avg": 6.0, "p95": 30.0})
    assert kinds(bench_recommendations(one)) == ["within_range"]
    many = bench_result(requests=100, requests_per_s=0.5, cpu_percent=99.0)
    assert {"high_cpu", "low_throughput"} <= set(kinds(bench_recommendations(many)))


def test_bench_latency_rules_are_not_made_on_a_run_of_failures():
    failures = bench_result(errors=100, error_rate=1.0, latency_s={"avg": 6.0, "p95": 30.0})
    assert kinds(bench_recommendations(failures)) == ["error_rate"]
    item = bench_recommendations(failures)[0]
    assert item["evidence"].startswith("100 of 100 requests failed") and item["impact"]


def test_report_and_bench_recommendations_have_one_shape():
    report_item = recommend(analysed([chat(i, "gpt-4o", (300, 50), failed=i < 5) for i in range(1, 31)]))[0]
    bench_item = bench_recommendations(bench_result(cpu_percent=95.0))[0]
    assert report_item.keys() == bench_item.keys() == {"kind", "message", "evidence", "impact", "saving_usd",
                                                       "numbers"}  # fmt: skip
