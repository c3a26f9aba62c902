"""Every view shows the same numbers for the same spans.

One corpus (tests/support/span_trees.py: a LangGraph agent with tools, ``create_agent``, an Agno
team, another vendor's bare ``invoke_agent`` span, failed calls, a stream without usage, stages with
data volume) goes through spanmeter in process (SpanmeterProcessor into a traces file, read by
``spanmeter report --json`` and the demo's summary, and into ``bench``'s SpanStats) and through
the pipeline's processor (its Insights API over gRPC and its Prometheus exposition). For every key
two views share, they agree on calls, errors, tokens, cost, unpriced calls and cost per GB.
"""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from prometheus_client.parser import text_string_to_metric_families

from spanmeter.alerting.metrics import METRICS
from spanmeter.bench.results import bench_result
from spanmeter.bench.runner import Scenario, Tally
from spanmeter.bench.telemetry import SpanStats
from spanmeter.cli import main
from spanmeter.export.otlp_file import OTLPFileSpanExporter
from spanmeter.pipeline.stage import SpanmeterStage
from spanmeter.processing import SpanmeterProcessor
from spanmeter.report import read_spans, summarize_models
from spanmeter.settings import Settings
from spanmeter.v1 import insights_pb2 as pb
from support.insights import served
from support.span_trees import SECOND, TreeBuilder

pytestmark = pytest.mark.integration
SETTINGS = {"compute_usd_per_hour": 3.6, "anomaly_min_samples": 1000}
GROUP_BY = {"model": pb.GROUP_BY_MODEL, "agent": pb.GROUP_BY_AGENT, "service": pb.GROUP_BY_SERVICE,
            "source": pb.GROUP_BY_DATA_SOURCE}  # fmt: skip
FIELDS = ("calls", "errors", "input_tokens", "output_tokens", "cost_usd", "unpriced_calls", "data_bytes")


@pytest.fixture(scope="module")
def corpus():
    """Raw (not yet enriched) spans of two services, ending a minute ago (inside the Insights horizon)."""
    start = time.time_ns() - 60 * SECOND
    shop, etl = TreeBuilder("shop"), TreeBuilder("etl")
    shop.start = etl.start = start
    shop.agents()
    etl.tree()
    return shop.spans() + etl.spans()


@pytest.fixture(scope="module")
def in_process(corpus, tmp_path_factory):
    """The corpus through a SpanmeterProcessor: the traces file, and bench's SpanStats."""
    path = tmp_path_factory.mktemp("consistency") / "traces.jsonl"
    stats = SpanStats()
    processor = SpanmeterProcessor(OTLPFileSpanExporter(path), settings=Settings.load(SETTINGS, environ={}))
    processor.enricher.add_listener(stats)
    for span in corpus:
        processor.on_end(span)
    processor.shutdown()
    return path, stats


@pytest.fixture(scope="module")
def report(in_process):
    result = CliRunner().invoke(main, ["report", "--json", str(in_process[0])])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return {name: {row["key"]: row for row in rows} for name, rows in data["groups"].items()}, data


@pytest.fixture(scope="module")
def pipeline(corpus):
    """The corpus through the pipeline's processor: Insights rows by dimension, Prometheus samples."""
    stage = SpanmeterStage(Settings.load(SETTINGS, environ={}), with_insights=True)
    outcomes = Outcomes()
    stage.enricher.add_listener(outcomes)
    stage.process(encode_spans(corpus))
    with served(stage.insights) as (stub, _):
        insights = {
            name: {row.key: row for row in stub.GetCostSummary(pb.GetCostSummaryRequest(group_by=value)).rows}
            for name, value in GROUP_BY.items()
        }
    samples = [
        sample
        for family in text_string_to_metric_families(stage.metrics.prometheus_text())
        for sample in family.samples
        if sample.name.endswith("_total")
    ]
    return insights, samples, outcomes.seen


class Outcomes:
    def __init__(self):
        self.seen = []

    def on_outcome(self, outcome):
        self.seen.append(outcome)


def _prometheus_by(samples, label: str, fallback: str | None = None) -> dict[str, float]:
    """LLM cost summed by a label (``fallback``'s value when the series lacks it)."""
    found: dict[str, float] = {}
    for sample in samples:
        if sample.name != "spanmeter_cost_USD_total" or sample.labels.get("spanmeter_cost_kind") != "llm":
            continue
        key = sample.labels.get(label) or (sample.labels.get(fallback) if fallback else None) or ""
        found[key] = found.get(key, 0.0) + sample.value
    return found


def _same(left: dict, right: dict, fields=FIELDS) -> None:
    for field in fields:
        assert left[field] == pytest.approx(right[field]), field


def test_the_corpus_has_every_kind_of_agent_run(report):
    groups, data = report
    agents = groups["agent"]
    assert {"support-graph", "writer", "research team", "weather agent", "triage", "planner"} <= set(agents)
    assert agents["support-graph"]["calls"] == 2 and agents["support-graph"]["input_tokens"] == 2700
    assert agents["weather agent"]["calls"] == 2 and agents["research team"]["calls"] == 2  # innermost run
    assert (agents["triage"]["calls"], agents["triage"]["errors"], agents["triage"]["unpriced_calls"]) == (3, 1, 1)
    assert agents["triage"]["input_tokens"] == 700  # the LLM span without an operation name counts
    assert data["totals"]["unpriced"] == {"no_usage": 2, "no_price": 1}
    assert "?" not in groups["model"]  # failed calls count in their model's row


def test_report_and_insights_agree_by_model_agent_service_and_source(report, pipeline):
    groups, _ = report
    insights, _, _ = pipeline
    for name in GROUP_BY:
        assert set(insights[name]) == set(groups[name]), name
        for key, row in groups[name].items():
            mine = insights[name][key]
            _same(row | {"cost_usd": row["cost_usd"] or 0.0}, {field: getattr(mine, field) for field in FIELDS})
            if row["cost_per_gb_usd"] is None:
                assert not mine.HasField("cost_per_gb_usd")
            else:
                assert mine.cost_per_gb_usd == pytest.approx(row["cost_per_gb_usd"])
    assert groups["source"]["s3://events"]["cost_per_gb_usd"] > 0


def test_prometheus_cost_by_model_and_agent_is_the_reports(report, pipeline):
    groups, _ = report
    _, samples, _ = pipeline
    by_model = _prometheus_by(samples, "gen_ai_response_model", "gen_ai_request_model")
    by_agent = _prometheus_by(samples, "gen_ai_agent_name")
    assert by_model == pytest.approx({key: row["cost_usd"] for key, row in groups["model"].items() if row["cost_usd"]})
    assert by_agent == pytest.approx({key: row["cost_usd"] for key, row in groups["agent"].items() if row["cost_usd"]})


def test_the_demo_summary_is_the_reports(report, in_process):
    groups, _ = report
    models = summarize_models(read_spans(in_process[0]))
    assert {row.model for row in models} == set(groups["model"])
    for row in models:
        mine = groups["model"][row.model]
        assert (row.calls, row.tokens, row.unpriced) == (
            mine["calls"], mine["input_tokens"] + mine["output_tokens"], mine["unpriced_calls"],
        )  # fmt: skip
        assert row.cost_usd == pytest.approx(mine["cost_usd"])


def test_a_bench_result_counts_what_the_report_counts(report, in_process):
    groups, data = report
    totals = data["totals"]
    result = bench_result("corpus", Scenario(users=1, requests=1), Tally(requests=1, wall_s=1.0), in_process[1], 0.0)
    assert (result["llm_calls"], result["input_tokens"], result["output_tokens"]) == (
        totals["llm_calls"], totals["input_tokens"], totals["output_tokens"],
    )  # fmt: skip
    assert result["unpriced_calls"] == totals["unpriced_calls"]
    assert result["llm_errors"] == sum(row["errors"] for row in groups["model"].values())
    assert result["cost_usd"] == pytest.approx(totals["cost_usd"])
    services = list(groups["service"].values())
    data_cost = sum(row["cost_per_gb_usd"] * row["data_bytes"] / 1e9 for row in services if row["cost_per_gb_usd"])
    assert result["cost_per_gb_usd"] == pytest.approx(data_cost / (sum(row["data_bytes"] for row in services) / 1e9))


def test_alerts_compute_cost_per_gb_as_the_report_does(report, pipeline):
    """spanmeter's alert engine and the Prometheus rule's PromQL: summed cost over summed GB."""
    groups, _ = report
    _, samples, outcomes = pipeline
    quantity = METRICS["cost_per_gb_usd"]
    states: dict[str, list] = {}
    for outcome in outcomes:
        if outcome.source is not None:
            quantity.add(states.setdefault(outcome.source, quantity.new()), outcome)
    sums: dict[str, dict[str, float]] = {}
    for sample in samples:
        if sample.name in ("spanmeter_data_cost_USD_total", "spanmeter_data_priced_bytes_total"):
            entry = sums.setdefault(sample.labels["spanmeter_data_source"], {})
            entry[sample.name] = entry.get(sample.name, 0.0) + sample.value
    priced = {key: row for key, row in groups["source"].items() if row["cost_per_gb_usd"] is not None}
    assert priced and set(sums) == set(priced)
    for source, row in priced.items():
        assert quantity.value([states[source]], 3600.0) == pytest.approx(row["cost_per_gb_usd"])
        promql = sums[source]["spanmeter_data_cost_USD_total"] / (
            sums[source]["spanmeter_data_priced_bytes_total"] / 1e9
        )
        assert promql == pytest.approx(row["cost_per_gb_usd"])
