"""``spanmeter report`` on generated traces: groupings, percentiles, costs and recommendations checked
against figures computed here independently (sorted lists, genai-prices), plus the file handling:
globs, gzip, filters, malformed and truncated lines.
"""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from genai_prices import Usage, calc_price
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from spanmeter import semconv
from spanmeter.cli import main
from spanmeter.processing.sketch import EXACT_LIMIT, RELATIVE_ERROR, LatencySketch
from spanmeter.report.analysis import Analysis
from spanmeter.report.recommend import is_sibling, recommend, sibling_models
from support.report_runs import write_short_run
from support.traces import BASE_NS, Call, nearest_rank, otlp_span, request_line, write_with_sdk

S = 10**9
ROW_KEYS = {"key", "calls", "error_rate", "p50_s", "p90_s", "p95_s", "p99_s", "input_tokens", "output_tokens",
            "cost_usd", "cost_per_gb_usd", "anomalies", "errors", "unpriced_calls", "data_bytes"}  # fmt: skip
MODELS = {  # provider, request model, response model
    "openai": ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    "anthropic": ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
}


def llm(provider: str, start: int, duration: int, tokens: tuple[int, int], **extra) -> Call:
    request, response = MODELS[provider]
    return Call(f"chat {request}", start, duration, {
        semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: provider,
        semconv.GEN_AI_REQUEST_MODEL: request, semconv.GEN_AI_RESPONSE_MODEL: response,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: tokens[0], semconv.GEN_AI_USAGE_OUTPUT_TOKENS: tokens[1], **extra,
    }, error=extra.pop("error", False))  # fmt: skip


def generated_traces(seed: int = 7) -> tuple[list[Call], dict]:
    """60 traces: agent -> (LLM call, tool call); every 4th also runs a stage over a data source."""
    rng = random.Random(seed)
    roots, expected = [], {"llm": [], "stage": []}
    for index in range(60):
        provider = "openai" if index % 3 else "anthropic"
        start = index * 10 * S
        duration = rng.randint(50_000_000, 3 * S)
        tokens = (rng.randint(100, 900), rng.randint(20, 300))
        user, team = ("ana", "finance") if index % 2 else ("ben", "growth")
        error = index % 10 == 0
        attribution = {semconv.USER_ID: user, semconv.TEAM: team}
        call = llm(provider, start + 1000, duration, tokens, **attribution)
        call.error = error
        expected["llm"].append({"provider": provider, "duration": duration, "tokens": tokens, "user": user,
                                "error": error})  # fmt: skip
        children = [call, Call("execute_tool search", start + duration + 2000, 5_000_000, {
            semconv.GEN_AI_OPERATION_NAME: "execute_tool", semconv.GEN_AI_TOOL_NAME: "search", **attribution})]  # fmt: skip
        if index % 4 == 0:
            size = rng.randint(10**6, 10**8)
            children.append(Call("run_stage extract", start + duration + 10_000_000, S // 2, {
                semconv.SPANMETER_OPERATION_NAME: "run_stage", semconv.DATA_SOURCE: "orders",
                semconv.DATA_BYTES: size, **attribution}))  # fmt: skip
            expected["stage"].append({"bytes": size, "duration": S // 2})
        roots.append(Call("invoke_agent planner", start, duration + 2 * S, {
            semconv.GEN_AI_OPERATION_NAME: "invoke_agent", semconv.GEN_AI_AGENT_NAME: "planner", **attribution,
        }, children=children))  # fmt: skip
    return roots, expected


def genai_price(provider: str, tokens: tuple[int, int], model: str | None = None) -> float:
    model = model or MODELS[provider][1]
    return float(calc_price(Usage(input_tokens=tokens[0], output_tokens=tokens[1]), model_ref=model,
                            provider_id=provider, genai_request_timestamp=datetime.fromtimestamp(BASE_NS / 1e9, UTC),
                            ).total_price)  # fmt: skip


def run_report(*args: str) -> tuple[dict, str]:
    result = CliRunner().invoke(main, ["report", "--json", *args])
    assert result.exit_code == 0, result.output + str(result.exception)
    return json.loads(result.stdout), result.stderr


@pytest.fixture(scope="module")
def sdk_report(tmp_path_factory):
    path = tmp_path_factory.mktemp("sdk") / "traces.jsonl"
    roots, expected = generated_traces()
    write_with_sdk(path, roots, service="shop", compute_usd_per_hour=3.6)
    data, _ = run_report(str(path))
    return data, expected


def rows(data: dict, dimension: str) -> dict[str, dict]:
    return {row["key"]: row for row in data["groups"][dimension]}


def test_model_rows_match_independent_percentiles_costs_and_counts(sdk_report):
    data, expected = sdk_report
    models = rows(data, "model")
    assert set(models) == {response for _, response in MODELS.values()}
    for provider, (_, response) in MODELS.items():
        calls = [call for call in expected["llm"] if call["provider"] == provider]
        row = models[response]
        assert set(row) == ROW_KEYS
        assert row["calls"] == len(calls)
        assert row["error_rate"] == pytest.approx(sum(c["error"] for c in calls) / len(calls))
        durations = [call["duration"] / 1e9 for call in calls]
        for key, fraction in (("p50_s", 0.5), ("p90_s", 0.9), ("p95_s", 0.95), ("p99_s", 0.99)):
            assert row[key] == pytest.approx(nearest_rank(durations, fraction)), key
        assert row["input_tokens"] == sum(call["tokens"][0] for call in calls)
        assert row["output_tokens"] == sum(call["tokens"][1] for call in calls)
        assert row["cost_usd"] == pytest.approx(sum(genai_price(provider, call["tokens"]) for call in calls))
        assert row["cost_per_gb_usd"] is None  # LLM calls carry no data volume
    assert data["totals"]["percentiles"].startswith("exact")


def test_other_dimensions_group_their_own_unit_of_work(sdk_report):
    data, expected = sdk_report
    llm_cost = sum(genai_price(call["provider"], call["tokens"]) for call in expected["llm"])
    compute_cost = sum(stage["duration"] / 1e9 / 3600 * 3.6 for stage in expected["stage"])
    assert data["totals"]["cost_usd"] == pytest.approx(llm_cost + compute_cost)
    assert data["totals"]["traces"] == 60
    agent = rows(data, "agent")["planner"]  # every LLM call runs inside a planner run
    assert agent["calls"] == len(expected["llm"])
    assert agent["input_tokens"] == sum(call["tokens"][0] for call in expected["llm"])
    assert agent["cost_usd"] == pytest.approx(llm_cost)  # what its calls cost
    assert rows(data, "tool")["search"]["calls"] == 60
    source = rows(data, "source")["orders"]
    total_bytes = sum(stage["bytes"] for stage in expected["stage"])
    assert source["calls"] == len(expected["stage"])
    assert source["cost_per_gb_usd"] == pytest.approx(compute_cost / (total_bytes / 1e9))
    users = rows(data, "user")
    for user in ("ana", "ben"):
        mine = [call for call in expected["llm"] if call["user"] == user]
        assert users[user]["input_tokens"] == sum(call["tokens"][0] for call in mine)
    assert sum(row["cost_usd"] for row in users.values()) == pytest.approx(llm_cost)
    assert set(rows(data, "team")) == {"finance", "growth"}
    assert rows(data, "service")["shop"]["calls"] == data["totals"]["llm_calls"] == len(expected["llm"])


def test_slowest_and_most_expensive_traces_are_the_top_roots(sdk_report):
    data, expected = sdk_report
    durations = sorted((call["duration"] + 2 * S) / 1e9 for call in expected["llm"])
    assert [trace["duration_s"] for trace in data["slowest_traces"]] == pytest.approx(durations[::-1][:10])
    assert all(len(trace["trace_id"]) == 32 for trace in data["slowest_traces"])
    costs = [trace["cost_usd"] for trace in data["most_expensive_traces"]]
    assert costs == sorted(costs, reverse=True) and len(costs) == 10


def test_sketch_stays_within_its_stated_error_past_the_exact_limit():
    rng = random.Random(3)
    values = [rng.lognormvariate(-1, 1.5) for _ in range(EXACT_LIMIT * 5)]
    sketch, left, right = LatencySketch(), LatencySketch(), LatencySketch()
    for index, value in enumerate(values):
        sketch.add(value)
        (left if index % 2 else right).add(value)
    left.merge(right)
    assert not sketch.is_exact
    for fraction in (0.5, 0.9, 0.95, 0.99):
        truth = nearest_rank(values, fraction)
        assert abs(sketch.quantile(fraction) - truth) <= RELATIVE_ERROR * truth
        assert left.quantile(fraction) == sketch.quantile(fraction)
    small = LatencySketch()
    for value in values[:100]:
        small.add(value)
    assert small.is_exact and small.quantile(0.9) == nearest_rank(values[:100], 0.9)


def write_lines(path, lines: list[str]) -> None:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as file:
        file.writelines(lines)


def chat(trace: int, span: int, start: int, duration: int, model: str = "gpt-4o", **attributes) -> dict:
    return otlp_span(trace, span, None, f"chat {model}", start, duration, {
        semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: model, **attributes})  # fmt: skip


def test_malformed_and_truncated_lines_are_reported_with_file_and_line_and_skipped(tmp_path):
    path = tmp_path / "traces.jsonl"
    good = request_line([chat(1, 1, 0, S)])
    truncated = request_line([chat(3, 3, 0, S)])[:-40]  # a writer killed mid-line: no newline at the end
    write_lines(path, [good, "not json\n", '{"resourceSpans": 5}\n', request_line([chat(2, 2, 0, S)]), truncated])

    data, stderr = run_report(str(path))

    assert data["totals"]["spans"] == 2
    assert data["totals"]["skipped"] == 3
    assert f"{path}:2: not an OTLP/JSON ExportTraceServiceRequest" in stderr
    assert f"{path}:3: not an OTLP/JSON" in stderr
    assert f"{path}:5: not an OTLP/JSON" in stderr and "truncated" in stderr
    assert "Traceback" not in stderr


def test_several_files_globs_and_gzip_are_read_as_one(tmp_path):
    write_lines(tmp_path / "a.jsonl", [request_line([chat(1, 1, 0, S)])])
    write_lines(tmp_path / "b.jsonl.gz", [request_line([chat(2, 2, 0, 2 * S), chat(3, 3, 0, 3 * S)])])
    write_lines(tmp_path / "c.jsonl", [request_line([chat(4, 4, 0, 4 * S)], service="other")])

    data, _ = run_report(str(tmp_path / "*.jsonl*"))
    assert data["totals"]["spans"] == 4
    data, _ = run_report(str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl.gz"))
    assert data["groups"]["model"][0]["p50_s"] == 2.0


def test_service_and_time_filters(tmp_path):
    path = tmp_path / "t.jsonl"
    write_lines(path, [request_line([chat(1, 1, 0, S), chat(2, 2, 3600 * S, S)]),
                       request_line([chat(3, 3, 0, S)], service="other")])  # fmt: skip
    data, _ = run_report(str(path), "--service", "svc")
    assert data["totals"]["spans"] == 2
    middle = datetime.fromtimestamp(BASE_NS / 1e9 + 1800, UTC).isoformat()
    data, _ = run_report(str(path), "--since", middle)
    assert data["totals"]["spans"] == 1
    data, _ = run_report(str(path), "--until", middle.replace("+00:00", ""))
    assert data["totals"]["spans"] == 2


def test_unpriced_calls_are_counted_with_their_reason(tmp_path):
    path = tmp_path / "t.jsonl"
    unknown = {semconv.COST_SOURCE: semconv.COST_SOURCE_UNKNOWN}
    write_lines(path, [request_line([
        chat(1, 1, 0, S, **unknown),  # a stream without usage
        chat(2, 2, 0, S, model="private-model", **unknown, **{semconv.GEN_AI_USAGE_INPUT_TOKENS: 10,
                                                            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5}),
        chat(3, 3, 0, S, **{semconv.GEN_AI_USAGE_PROMPT_TOKENS: 10, semconv.COST_USD: 0.001,
                           semconv.COST_SOURCE: semconv.COST_SOURCE_GENAI_PRICES}),  # older names, priced
    ])])  # fmt: skip

    data, _ = run_report(str(path))

    assert data["totals"]["unpriced"] == {"no_usage": 1, "no_price": 1}
    assert data["totals"]["input_tokens"] == 20
    unpriced = next(r for r in data["recommendations"] if r["kind"] == "unpriced_calls")
    assert unpriced["numbers"] == {"no_usage": 1, "no_price": 1}


def test_terminal_output_lists_the_tables(tmp_path):
    path = tmp_path / "t.jsonl"
    write_lines(path, [request_line([chat(1, 1, 0, S, **{semconv.COST_USD: 0.25})])])
    result = CliRunner().invoke(main, ["report", str(path)])
    assert result.exit_code == 0, result.output
    model_row = next(line for line in result.stdout.splitlines() if "│ gpt-4o " in line)
    assert "0.250000" in model_row
    assert "slowest traces" in result.stdout and "00000000000000000000000000000001" in result.stdout


def test_no_spans_and_missing_files_fail_with_one_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("not json\n")
    result = CliRunner().invoke(main, ["report", str(path)])
    assert result.exit_code == 1 and "no spans to report on" in result.output
    result = CliRunner().invoke(main, ["report", str(tmp_path / "missing-*.jsonl")])
    assert result.exit_code == 1 and "no such file" in result.output


def test_siblings_are_smaller_variants_of_the_same_family():
    assert is_sibling("gpt-4o", "gpt-4o-mini") and is_sibling("claude-sonnet-4-5", "claude-haiku-4-5")
    assert not is_sibling("gpt-4o", "gpt-4o-audio-preview") and not is_sibling("gpt-4o-mini", "gpt-4o")
    assert "gpt-4o-mini" in sibling_models("openai", "gpt-4o-2024-08-06")


def recommendation_spans() -> list[dict]:
    """gpt-4o: 40 small calls, 5 failed, a few slow, one prompt size repeated; gpt-4o-mini: 10 long prompts."""
    spans, span_id = [], 0
    for index in range(40):
        span_id += 1
        tokens = {semconv.GEN_AI_USAGE_INPUT_TOKENS: 300 if index % 2 else 200 + index,
                  semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 50}  # fmt: skip
        cost = genai_price("openai", (tokens[semconv.GEN_AI_USAGE_INPUT_TOKENS], 50), "gpt-4o")
        duration = 10 * S if index % 10 == 9 else S
        span = chat(span_id, span_id, index * S, duration, **tokens, **{semconv.COST_USD: cost})
        if index < 5:
            span["status"] = {"code": 2}
        spans.append(span)
    for index in range(10):
        span_id += 1
        tokens = {semconv.GEN_AI_USAGE_INPUT_TOKENS: 5000, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 100}
        spans.append(chat(span_id, span_id, index * S, S, model="gpt-4o-mini", **tokens,
                          **{semconv.COST_USD: genai_price("openai", (5000, 100), "gpt-4o-mini")}))  # fmt: skip
    return spans


def test_recommendations_carry_their_numbers_and_savings(tmp_path):
    path = tmp_path / "t.jsonl"
    spans = recommendation_spans()
    write_lines(path, [request_line(spans)])
    data, _ = run_report(str(path))
    found = {item["kind"]: item for item in data["recommendations"]}

    big = [s for s in spans if s["name"] == "chat gpt-4o"]
    tokens = [(int(s["attributes"][3]["value"]["intValue"]), 50) for s in big]
    observed = sum(genai_price("openai", t, "gpt-4o") for t in tokens)
    in_mini = float(calc_price(Usage(input_tokens=sum(t[0] for t in tokens), output_tokens=50 * len(tokens)),
                               model_ref="gpt-4o-mini", provider_id="openai").total_price)  # fmt: skip
    assert found["cheaper_model"]["numbers"]["sibling"] == "gpt-4o-mini"
    assert found["cheaper_model"]["saving_usd"] == pytest.approx(observed - in_mini)
    assert "dominant_model" not in found  # cheaper_model already routes gpt-4o's (small) calls
    assert found["error_rate"]["numbers"]["errors"] == 5
    assert found["error_rate"]["saving_usd"] == pytest.approx(
        sum(genai_price("openai", t, "gpt-4o") for t in tokens[:5])
    )
    assert found["latency_outliers"]["numbers"]["p95_s"] == 10.0
    long = found["long_prompts"]
    assert long["numbers"]["model"] == "gpt-4o-mini" and long["numbers"]["avg_input_tokens"] == 5000
    assert long["saving_usd"] == pytest.approx(
        float(calc_price(Usage(input_tokens=3000 * 10, output_tokens=0), model_ref="gpt-4o-mini",
                         provider_id="openai").total_price))  # fmt: skip
    caching = {item["numbers"]["model"]: item for item in data["recommendations"] if item["kind"] == "prompt_caching"}
    assert set(caching) == {"gpt-4o-mini"}  # gpt-4o's repeated prompts are too small to be cached
    assert caching["gpt-4o-mini"]["numbers"]["repeated_tokens"] == 5000 * 9  # 10 calls: the first is new
    uncached = calc_price(Usage(input_tokens=5000 * 9, output_tokens=0), model_ref="gpt-4o-mini", provider_id="openai")
    cached = calc_price(Usage(input_tokens=5000 * 9, cache_read_tokens=5000 * 9, output_tokens=0),
                        model_ref="gpt-4o-mini", provider_id="openai")  # fmt: skip
    assert caching["gpt-4o-mini"]["saving_usd"] == pytest.approx(float(uncached.total_price - cached.total_price))
    assert all(isinstance(item["message"], str) and item["message"] for item in data["recommendations"])


def test_nothing_to_recommend_on_healthy_data():
    analysis = Analysis()
    assert recommend(analysis) == []


@pytest.mark.parametrize("ids", ["hex", "base64", "snake_case"])
def test_the_fast_json_decoder_reads_what_protobuf_reads(tmp_path, ids):
    from google.protobuf import json_format
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from spanmeter.otlp.json_codec import to_json_line
    from spanmeter.report.reader import read_spans, read_trace_requests, spans_of

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    values = {"s": "x", "i": 7, "f": 0.5, "b": True, "ss": ["a", "b"], "ii": [1, 2], "ff": [0.1], "bb": [False]}
    with tracer.start_as_current_span("root", attributes=values), tracer.start_as_current_span("child") as child:
        child.set_status(Status(StatusCode.ERROR, "boom"))
    request = encode_spans(memory.get_finished_spans())
    path = tmp_path / "t.jsonl"
    if ids == "hex":
        path.write_text(to_json_line(request))
    else:
        path.write_text(json.dumps(json_format.MessageToDict(request, preserving_proto_field_name=ids == "snake_case")))

    fast = list(read_spans(path))
    slow = [span for request in read_trace_requests(path) for span in spans_of(request)]
    assert fast == slow
    assert [span.is_error for span in fast] == [True, False]
    assert fast[1].attributes == values


def test_keys_past_the_bound_share_one_overflow_row_which_is_counted():
    from spanmeter.report.analysis import OVERFLOW_KEY
    from spanmeter.report.reader import spans_of_json

    analysis = Analysis(max_keys=2)
    spans = [chat(i, i, i * S, S, model=f"model-{i}", **{semconv.COST_USD: 0.01}) for i in range(1, 6)]
    for span in spans_of_json(json.loads(request_line(spans))):
        analysis.add(span)

    models = {row["key"]: row for row in analysis.groups_json()["model"]}
    assert set(models) == {"model-1", "model-2", OVERFLOW_KEY}
    assert models[OVERFLOW_KEY]["calls"] == 3
    assert models[OVERFLOW_KEY]["cost_usd"] == pytest.approx(0.03)
    assert analysis.totals_json()["overflowed_keys"] == {"model": 3}
    timeline = analysis.timeline.to_json()["buckets"]
    assert {model for bucket in timeline for model in bucket["cost_by_model"]} == {"model-1", "model-2", OVERFLOW_KEY}


def test_repeated_prompts_are_the_captured_messages_when_there_are_some_else_the_size():
    from spanmeter.report.analysis import PromptRepeats

    by_size, by_text = PromptRepeats(), PromptRepeats()
    for text in ("a", "b", "a", "c", "a"):
        by_size.add(2000, None)
        by_text.add(2000, f'[{{"role": "user", "content": "{text}"}}]')
    by_size.add(500, None)
    by_size.add(500, None)  # under the cacheable size: never counted
    assert (by_size.repeated_calls, by_size.repeated_input_tokens) == (4, 8000)
    assert (by_text.repeated_calls, by_text.repeated_input_tokens) == (2, 4000)


def test_failed_calls_and_calls_without_an_operation_count_where_the_enricher_counts_them(tmp_path):
    """A failed call is its model's error (not a "?" row, not unpriced, no include_usage advice); a span
    with usage and no operation name is an LLM call; the overflow row is the OpenTelemetry one."""
    path = tmp_path / "t.jsonl"
    priced = {semconv.COST_USD: 0.5, semconv.COST_SOURCE: semconv.COST_SOURCE_GENAI_PRICES}
    failed = otlp_span(1, 2, None, "chat gpt-4o", 0, S, {
        semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "gpt-4o", semconv.ERROR_TYPE: "429",
    }, error=True)  # fmt: skip
    bare = otlp_span(3, 4, None, "llm", 0, S, {
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o", semconv.GEN_AI_USAGE_INPUT_TOKENS: 10, **priced,
    })  # fmt: skip
    write_lines(path, [request_line([failed, bare])])
    data, _ = run_report(str(path))
    models = rows(data, "model")
    assert set(models) == {"gpt-4o"}
    assert (models["gpt-4o"]["calls"], models["gpt-4o"]["errors"], models["gpt-4o"]["unpriced_calls"]) == (2, 1, 0)
    assert data["totals"]["llm_calls"] == 2 and data["totals"]["unpriced_calls"] == 0
    assert "unpriced_calls" not in {item["kind"] for item in data["recommendations"]}
    from spanmeter.report.analysis import OVERFLOW_KEY

    assert OVERFLOW_KEY == "otel.metric.overflow"


@pytest.mark.parametrize(("seconds", "bucket_s", "at_least"), [(40, 1, 40), (600, 10, 55), (2 * 3600, 60, 110)])
def test_time_buckets_are_sized_to_the_data(tmp_path, seconds, bucket_s, at_least):
    path = tmp_path / "t.jsonl"
    step = max(1, seconds // 40)
    write_lines(path, [request_line([chat(i + 1, 1, i * step * S, S, **{semconv.COST_USD: 0.01})])
                       for i in range(seconds // step)])  # fmt: skip
    data, _ = run_report(str(path))
    timeline = data["timeline"]
    assert timeline["bucket_s"] == bucket_s
    assert at_least <= len(timeline["buckets"]) <= 120
    assert sum(bucket["calls"] for bucket in timeline["buckets"]) == seconds // step
    assert sum(bucket["cost_usd"] for bucket in timeline["buckets"]) == pytest.approx(0.01 * (seconds // step))


def test_a_short_agent_run_has_errors_p95_conversations_and_span_trees(tmp_path):
    path = tmp_path / "run.jsonl"
    write_short_run(path, seconds=40)
    data, _ = run_report(str(path), "--trace-url", "http://127.0.0.1:16686/trace/{trace_id}")
    buckets = data["timeline"]["buckets"]
    assert len(buckets) >= 10
    assert sum(bucket["errors"] for bucket in buckets) == 4  # the error burst
    assert max(bucket["p95_s"] or 0 for bucket in buckets) == pytest.approx(2.4)  # the slow phase
    conversations = {row["conversation"]: row for row in data["conversations"]}
    assert set(conversations) == {f"conversation-{n}" for n in range(4)}
    assert all(row["traces"] == 10 and row["llm_calls"] == 20 for row in conversations.values())
    assert sum(row["cost_usd"] for row in conversations.values()) == pytest.approx(data["totals"]["cost_usd"])
    top = data["most_expensive_traces"][0]
    assert top["url"] == f"http://127.0.0.1:16686/trace/{top['trace_id']}"
    tree = top["tree"]["spans"]
    assert [(span["depth"], span["name"]) for span in tree] == [
        (0, "invoke_agent planner"),
        (1, "chat gpt-4o"),
        (1, "execute_tool search"),
        (1, "chat gpt-4o-mini"),
    ]
    root, calls = tree[0], [span for span in tree if span["kind"] == "llm"]
    assert (
        root["rolled_up_usd"] == pytest.approx(sum(span["own_usd"] for span in calls)) == pytest.approx(top["cost_usd"])
    )
    assert all(span["rolled_up_usd"] == span["own_usd"] for span in calls)


def test_no_spans_fails_with_and_without_json(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("")
    for args in ([], ["--json"]):
        result = CliRunner().invoke(main, ["report", str(path), *args])
        assert result.exit_code == 1 and "no spans to report on" in result.output, args


@pytest.mark.parametrize("url", ["http://jaeger:16686/trace/", "http://jaeger/{trace}", "jaeger/{trace_id}",
                                 "http://jaeger/{trace_id}/{0}"])  # fmt: skip
def test_a_trace_url_without_the_placeholder_is_a_usage_error(tmp_path, url):
    path = tmp_path / "t.jsonl"
    write_lines(path, [request_line([chat(1, 1, 0, S)])])
    result = CliRunner().invoke(main, ["report", str(path), "--trace-url", url])
    assert result.exit_code == 2 and "--trace-url" in result.output, result.output


def test_the_terminal_shows_the_timeline_merged_to_a_dozen_rows(tmp_path):
    path = tmp_path / "run.jsonl"
    write_short_run(path, seconds=40)
    result = CliRunner().invoke(main, ["report", str(path)])
    assert result.exit_code == 0, result.output
    table = result.stdout[result.stdout.index("LLM calls over time (per 4 s)") :]
    rows = [line.split("│") for line in table.splitlines()[3:] if line.startswith("│")][:11]
    assert len(rows) == 11  # 41 one-second buckets, 4 to a row
    assert sum(int(row[3]) for row in rows) == 4 and sum(int(row[2]) for row in rows) == 80
    assert max(float(row[4]) for row in rows) == 2.4  # the slow phase's p95, from the merged sketches
