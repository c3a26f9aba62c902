"""``spanmeter demo`` end to end: the real example under the real opentelemetry-instrument, then its summary."""

from __future__ import annotations

import shutil
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from spanmeter import semconv
from spanmeter.report import read_metric_requests, read_spans
from spanmeter.report.summary import span_kind
from support.metrics import metric_names

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
REQUESTS = 3  # examples/agent_pipeline.py REQUESTS
# Per request: the orchestrator's planner model is asked three times (two tool calls,
# then the hand-over), the analyst's model once, the LangGraph reviewer's twice (a tool
# call, then the verdict): one chat span per call, LangChain's and the SDK's in one.
EXPECTED_SPANS = {
    "invoke_workflow orders-analysis": REQUESTS,
    "invoke_agent orchestrator": REQUESTS,
    "invoke_agent analyst": REQUESTS,
    "invoke_agent reviewer": REQUESTS,
    "execute_tool run_pipeline": REQUESTS,
    "execute_tool aggregate_by_region": REQUESTS,
    "execute_tool sum_revenue": 4 * REQUESTS,  # one per region, in a thread pool
    "execute_tool region_total": REQUESTS,
    "run_stage extract": REQUESTS,
    "run_stage transform": REQUESTS,
    "chat gpt-4o-mini": 5 * REQUESTS,
    "chat gpt-4o": REQUESTS,
}


def test_demo_prints_the_summary_and_sends_to_the_otlp_endpoint(tmp_path, run_command, otlp_receiver):
    spanmeter_command = Path(sys.executable).with_name("spanmeter")

    run = run_command([str(spanmeter_command), "demo"], tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.url)

    assert "Traceback" not in run.stdout + run.stderr
    assert "OTEL_TRACES_EXPORTER=spanmeter_file,otlp" in run.stdout
    table = {line.split("│")[1].strip(): line for line in run.stdout.splitlines() if line.count("│") > 5}
    assert {"workflow", "agent", "tool", "stage", "llm", "all"} <= table.keys()
    assert "other" not in table  # one span per LLM call: no peer instrumentor's spans beside spanmeter's
    for kind in ("workflow", "agent", "stage", "llm", "all"):
        assert " - " not in table[kind].split("│")[7], f"{kind} row has no cost: {table[kind]}"
    assert {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"} <= table.keys()  # LLM cost by model

    spans = list(read_spans(tmp_path / "spanmeter-traces.jsonl"))
    assert Counter(span.name for span in spans) == EXPECTED_SPANS
    by_id = {span.span_id: span for span in spans}
    for span in spans:
        if span.name in ("invoke_agent reviewer", "execute_tool region_total"):
            parent = by_id[span.parent_span_id]
            assert parent.name == (
                "invoke_workflow orders-analysis" if "agent" in span.name else "invoke_agent reviewer"
            )
    by_kind: dict[str, list] = {}
    for span in spans:
        by_kind.setdefault(span_kind(span), []).append(span)
    for llm in by_kind["llm"]:
        assert llm.scope.startswith("spanmeter")
        assert llm.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] > 0
        assert llm.attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
    llm_usd = sum(llm.attributes[semconv.COST_USD] for llm in by_kind["llm"])
    stage_usd = sum(stage.attributes[semconv.COST_COMPUTE_USD] for stage in by_kind["stage"])
    workflow_usd = sum(workflow.attributes[semconv.COST_TOTAL_USD] for workflow in by_kind["workflow"])
    assert workflow_usd == pytest.approx(llm_usd + stage_usd)
    for stage in by_kind["stage"]:
        assert stage.attributes[semconv.DATA_BYTES] > 0
        assert stage.attributes[semconv.COST_PER_GB_USD] > 0
    names = metric_names(read_metric_requests(tmp_path / "spanmeter-metrics.jsonl"))
    assert {semconv.METRIC_COST, semconv.METRIC_DATA_PROCESSED, semconv.METRIC_COST_PER_GB} <= names

    assert {span.span_id.hex() for span in otlp_receiver.spans()} == {span.span_id for span in spans}
    assert otlp_receiver.metric_requests


def test_packaged_example_is_found_without_the_repository(tmp_path, run_command):
    """Lay the package out as the wheel does (pyproject's mapping), away from the repository."""
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    site = tmp_path / "site-packages"
    for package in wheel["packages"]:
        shutil.copytree(REPO / package, site / Path(package).name)
    for source, target in wheel["force-include"].items():
        (site / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / source, site / target)

    run = run_command(
        [sys.executable, "-c", "from spanmeter.cli import example_path; print(example_path())"],
        tmp_path, PYTHONPATH=str(site),
    )  # fmt: skip

    found = Path(run.stdout.strip())
    assert found == site / "spanmeter" / "examples" / "agent_pipeline.py"
    assert found.is_file()
