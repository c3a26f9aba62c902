"""The ``spanmeter`` command's report and demo entry checks, and the summary they print."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest
from click.testing import CliRunner
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter import semconv
from spanmeter.cli import main
from spanmeter.otlp.json_codec import to_json_line
from spanmeter.report import SpanRecord, summarize, summarize_anomalies, summarize_models


def hex_id(name: str) -> str:
    """A span id (16 hex digits) for a readable name; "" stays "" (a root)."""
    return name.encode().hex()[:16].rjust(16, "0") if name else ""


def record(span_id: str, parent: str, operation: str | None, **attributes) -> SpanRecord:
    if operation == semconv.OPERATION_RUN_STAGE:
        attributes[semconv.SPANMETER_OPERATION_NAME] = operation
    elif operation:
        attributes[semconv.GEN_AI_OPERATION_NAME] = operation
    return SpanRecord(
        trace_id="1" * 32, span_id=hex_id(span_id), parent_span_id=hex_id(parent), name=span_id,
        start_unix_nano=0, end_unix_nano=1_000_000, is_error=False,
        attributes=attributes, resource={}, scope="test",
    )  # fmt: skip


def test_cost_is_roll_up_of_outermost_agents_and_own_cost_of_llm_calls():
    """An agent inside an agent is not counted twice; ``all`` is every span's own cost once."""
    spans = [
        record("w", "", "invoke_workflow", **{semconv.COST_TOTAL_USD: 3.5}),
        record("outer", "w", "invoke_agent", **{semconv.COST_TOTAL_USD: 3.0}),
        record("inner", "outer", "invoke_agent", **{semconv.COST_TOTAL_USD: 2.0}),
        record("llm1", "outer", "chat", **{semconv.COST_USD: 1.0, semconv.GEN_AI_USAGE_INPUT_TOKENS: 10}),
        record("llm2", "inner", "chat", **{semconv.COST_USD: 2.0, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5}),
        record("s", "w", semconv.OPERATION_RUN_STAGE, **{
            semconv.COST_COMPUTE_USD: 0.5, semconv.COST_TOTAL_USD: 0.5,
            semconv.DATA_BYTES: 250_000_000, semconv.COST_PER_GB_USD: 2.0,
        }),
        record("t", "outer", "execute_tool"),
    ]  # fmt: skip

    rows = {row.kind: row for row in summarize(spans)}

    assert list(rows) == ["workflow", "agent", "tool", "stage", "llm", "all"]
    assert rows["workflow"].cost_usd == 3.5
    assert rows["agent"].cost_usd == 3.0
    assert rows["stage"].cost_usd == 0.5
    assert rows["stage"].cost_per_gb_usd == pytest.approx(2.0)
    assert rows["llm"].cost_usd == 3.0
    assert rows["llm"].tokens == 15
    assert rows["agent"].tokens == rows["workflow"].tokens == 15  # the calls their roll-up cost paid for
    assert rows["stage"].tokens is None and rows["tool"].tokens is None
    assert rows["tool"].cost_usd is None
    assert rows["all"].cost_usd == 3.5
    assert rows["all"].spans == 7


def test_llm_cost_by_model_counts_unpriced_calls():
    llm = semconv.Operation.CHAT.value
    spans = [
        record("a", "", llm, **{semconv.GEN_AI_RESPONSE_MODEL: "m-big", semconv.COST_USD: 0.5,
                                semconv.GEN_AI_USAGE_INPUT_TOKENS: 100, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 20}),
        record("b", "", llm, **{semconv.GEN_AI_REQUEST_MODEL: "m-own", semconv.GEN_AI_USAGE_INPUT_TOKENS: 7,
                                semconv.COST_SOURCE: semconv.COST_SOURCE_UNKNOWN}),
        record("c", "", llm, **{semconv.GEN_AI_RESPONSE_MODEL: "m-big", semconv.COST_USD: 0.25}),
        record("d", "", "invoke_agent", **{semconv.GEN_AI_REQUEST_MODEL: "m-big"}),
    ]  # fmt: skip

    big, own = summarize_models(spans)

    assert (big.model, big.calls, big.tokens, big.cost_usd, big.unpriced) == ("m-big", 2, 120, 0.75, 0)
    assert (own.model, own.calls, own.tokens, own.cost_usd, own.unpriced) == ("m-own", 1, 7, None, 1)


def test_anomalies_by_span_name_and_reason():
    def flagged(span_id, name, reasons, score):
        span = record(span_id, "", "chat", **{
            semconv.ANOMALY: True, semconv.ANOMALY_REASONS: reasons, semconv.ANOMALY_SCORE: score,
        })  # fmt: skip
        return dataclasses.replace(span, name=name)

    spans = [
        flagged("1", "chat m", ["latency", "cost"], 4.0),
        flagged("2", "chat m", ["latency"], 6.5),
        flagged("3", "run_stage load", ["throughput"], 3.2),
        record("4", "", "chat"),
    ]

    rows = [(r.name, r.reason, r.spans, r.max_score) for r in summarize_anomalies(spans)]

    assert rows == [
        ("chat m", "latency", 2, 6.5),
        ("chat m", "cost", 1, 4.0),
        ("run_stage load", "throughput", 1, 3.2),
    ]


def write_traces(path, encoding: str) -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("invoke_agent a", attributes={
        semconv.GEN_AI_OPERATION_NAME: "invoke_agent", semconv.COST_TOTAL_USD: 0.25,
    }), tracer.start_as_current_span("chat m", attributes={
        semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "m", semconv.COST_USD: 0.25,
        semconv.COST_SOURCE: semconv.COST_SOURCE_GENAI_PRICES,
        semconv.ANOMALY: True, semconv.ANOMALY_REASONS: ("latency",), semconv.ANOMALY_SCORE: 5.0,
    }):  # fmt: skip
        pass
    request = encode_spans(memory.get_finished_spans())
    if encoding == "hex":
        path.write_text(to_json_line(request))
    else:  # protobuf's own JSON: base64 ids
        path.write_text(json.dumps(json_format.MessageToDict(request)) + "\n")


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_report_prints_the_summary_of_a_traces_file(tmp_path, encoding):
    path = tmp_path / "traces.jsonl"
    write_traces(path, encoding)

    result = CliRunner().invoke(main, ["report", str(path)])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    by_agent = lines[next(i for i, line in enumerate(lines) if "by agent" in line) :]
    agent_row = next(line for line in by_agent if "│ invoke_agent a " in line)  # the call's agent run
    cells = [cell.strip() for cell in agent_row.split("│")[1:-1]]
    assert cells[0] == "invoke_agent a" and cells[9] == "0.250000" and cells[11] == "1"  # cost, anomalies
    trace_id = write_traces_trace_id(path)
    assert trace_id in result.output  # slowest traces: the id decoded alike from hex and base64


def write_traces_trace_id(path) -> str:
    line = json.loads(path.read_text())
    raw = line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    return raw if len(raw) == 32 else base64.b64decode(raw).hex()


def test_report_on_a_file_that_is_not_otlp_says_where_without_a_traceback(tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text("not json\n")

    result = CliRunner().invoke(main, ["report", str(path)])

    assert result.exit_code == 1
    assert "traces.jsonl:1: not an OTLP/JSON ExportTraceServiceRequest" in result.output
    assert "Traceback" not in result.output


def test_demo_rejects_a_bad_setting_before_starting_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("SPANMETER_ANOMALY_SIGMA", "-1")

    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path)])

    assert result.exit_code == 1
    assert "SPANMETER_ANOMALY_SIGMA: invalid value '-1' (must be > 0)" in result.output
    assert not list(tmp_path.iterdir())


def test_config_prints_each_setting_its_origin_and_exits_0_without_problems(tmp_path):
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text("processors:\n  spanmeter:\n    anomaly_sigma: 4\n")
    env = {"SPANMETER_ANOMALY_SIGMA": "5", "SPANMETER_BUDGET_DAILY_USD": "12.5"}

    result = CliRunner().invoke(main, ["config", "--config", str(pipeline)], env=env)

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in result.output.splitlines()[1:-1]}
    assert rows["SPANMETER_ANOMALY_SIGMA"] == ["4.0", f"{pipeline}: processors.spanmeter: key 'anomaly_sigma'"]
    assert rows["SPANMETER_BUDGET_DAILY_USD"] == ["12.5", "environment variable SPANMETER_BUDGET_DAILY_USD"]
    assert rows["SPANMETER_ANOMALY_MIN_SAMPLES"] == ["30", "default"]
    assert result.output.splitlines()[-1] == "no problems"


def test_config_lists_problems_and_exits_1(tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text("openai: [\n")
    env = {"SPANMETER_ANOMALY_SIGMA": "abc", "SPANMETER_PRICES_FILE": str(prices)}

    result = CliRunner().invoke(main, ["config"], env=env)

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-3:] == [
        "2 problem(s):",
        (
            "  environment variable SPANMETER_ANOMALY_SIGMA: invalid value 'abc' (could not convert string to float:"
            " 'abc'); using the default 3.0"
        ),
        (
            f"  price file {prices} (SPANMETER_PRICES_FILE): not valid YAML (line 2, column 1: expected the node"
            " content, but found '<stream end>'); using no price overrides"
        ),
    ]


def test_config_reads_a_pipeline_file_as_the_pipeline_does(tmp_path):
    """`${env:...}` is expanded and the Insights endpoint is not taken for a setting."""
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "processors:\n  spanmeter:\n    anomaly_sigma: ${env:SIGMA:-2.5}\n    insights:\n      endpoint: 127.0.0.1:0\n"
    )

    result = CliRunner().invoke(main, ["config", "--config", str(pipeline)], env={"SIGMA": "4.5"})

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in result.output.splitlines()[1:-1]}
    assert rows["SPANMETER_ANOMALY_SIGMA"] == ["4.5", f"{pipeline}: processors.spanmeter: key 'anomaly_sigma'"]


@pytest.mark.parametrize("command", [[], ["report"], ["bench"], ["pipeline"], ["pipeline", "validate"], ["config"]])
def test_dash_h_and_help_show_the_same_help_as_dash_dash_help(command):
    runner = CliRunner()
    expected = runner.invoke(main, [*command, "--help"], prog_name="spanmeter")
    assert expected.exit_code == 0 and expected.output.startswith("Usage: spanmeter")
    for args in ([*command, "-h"], ["help", *command]):
        result = runner.invoke(main, args, prog_name="spanmeter")
        assert (result.exit_code, result.output) == (0, expected.output), args


def test_help_of_an_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["help", "nope"])
    assert result.exit_code == 2 and "no such command: nope" in result.output
