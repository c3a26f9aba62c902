"""Cost roll-up through a span tree (also when children end late), its bounded tables,
and cost per GB with compute cost."""

from __future__ import annotations

import pytest

import spanmeter
from spanmeter.processing.rollup import TRACE_FAILED, CostRollup
from support.metrics import points_by_metric
from support.processing import Pipeline, llm_attributes

# $1 per 1000 input tokens, $2 per 1000 output tokens: costs read as plain numbers.
PRICES = "test:\n  m: {input: 1000, output: 2000}\n"
AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher"}
WORKFLOW = {"gen_ai.operation.name": "invoke_workflow"}
TOOL = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}


def llm(input_thousands: int, output_thousands: int = 0):
    return llm_attributes("m", input_thousands * 1000, output_thousands * 1000, "test")


@pytest.fixture
def prices(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(PRICES)
    return {"prices_file": str(path)}


def test_cost_rolls_up_through_three_levels(prices):
    with Pipeline(prices) as p:
        workflow = p.span("workflow", WORKFLOW, end=False)
        agent = p.span("agent", AGENT, parent=workflow, end=False)
        plain = p.span("plain", {}, parent=agent, end=False)  # cost climbs through spans in between
        p.span("llm 1", llm(1), parent=plain)
        p.span("llm 2", llm(2, 1), parent=agent)
        tool = p.span("tool", TOOL, parent=agent, end=False)
        p.span("llm in tool", llm(3), parent=tool)
        tool.end()
        plain.end()
        agent.end()
        p.span("llm after agent", llm(5), parent=workflow)
        workflow.end()
        spans = {name: span.attributes for name, span in p.spans().items()}
    assert spans["llm 2"]["spanmeter.cost.usd"] == pytest.approx(4.0)
    assert spans["agent"]["spanmeter.cost.total_usd"] == pytest.approx(1 + 4 + 3)
    assert spans["workflow"]["spanmeter.cost.total_usd"] == pytest.approx(1 + 4 + 3 + 5)
    assert "spanmeter.cost.usd" not in spans["agent"]  # no LLM usage of its own
    assert "spanmeter.cost.total_usd" not in spans["plain"]  # only agents, workflows and stages carry it


@pytest.mark.parametrize("exported_between", [False, True])
def test_a_child_ending_after_its_parent_goes_to_the_nearest_open_ancestor(prices, exported_between):
    with Pipeline(prices) as p:
        workflow = p.span("workflow", WORKFLOW, end=False)
        agent = p.span("agent", AGENT, parent=workflow, end=False)
        p.span("llm on time", llm(1), parent=agent)
        late = p.span("llm late", llm(2), parent=agent, end=False)
        agent.end()
        if exported_between:
            p.spans()
        late.end()
        workflow.end()
        spans = {name: span.attributes for name, span in p.spans().items()}
        assert spans["agent"]["spanmeter.cost.total_usd"] == pytest.approx(1.0)
        assert spans["workflow"]["spanmeter.cost.total_usd"] == pytest.approx(3.0)
        assert p.value("spanmeter.rollup.late_children", outcome="attributed") == 1
        assert p.value("spanmeter.rollup.late_children", outcome="lost") == 0


def test_a_child_ending_after_the_whole_trace_is_lost_visibly(prices):
    with Pipeline(prices) as p:
        agent = p.span("agent", AGENT, end=False)
        late = p.span("llm late", llm(2), parent=agent, end=False)
        agent.end()
        p.spans()
        late.end()
        spans = {name: span.attributes for name, span in p.spans().items()}
        assert spans["llm late"]["spanmeter.cost.usd"] == pytest.approx(2.0)  # its own cost stays
        assert spans["agent"]["spanmeter.cost.total_usd"] == 0.0
        assert p.value("spanmeter.rollup.late_children", outcome="lost") == 1
        assert p.value("spanmeter.cost") == pytest.approx(2.0)  # the metric still counts it


def test_open_parents_are_bounded_and_evictions_counted():
    rollup = CostRollup(max_open_spans=2)
    for parent in (1, 2, 3):  # three parents still open, room for two
        rollup.span_ended(100 + parent, parent, 1.0, TRACE_FAILED)
    assert rollup.evicted == 1 and len(rollup.open) == 2
    assert rollup.take(1) == (0.0, 0)  # the oldest parent's children were evicted
    assert rollup.take(3) == (1.0, TRACE_FAILED)


def test_evictions_show_in_the_overflow_metric(prices):
    with Pipeline({**prices, "rollup_max_open_spans": 2}) as p:
        parents = [p.span(f"agent {i}", AGENT, end=False) for i in range(5)]
        for i, parent in enumerate(parents):
            p.span(f"llm {i}", llm(1), parent=parent)
        p.spans()
        assert p.value("spanmeter.processing.overflow", table="rollup_open_spans") == 3


def test_cost_per_gb_includes_compute_cost(prices):
    # 10 s of compute at $36/h = $0.10, plus $1 of LLM usage, over 2 GB
    with Pipeline({**prices, "compute_usd_per_hour": 36}) as p:
        stage = p.span(
            "stage", {"spanmeter.operation.name": "run_stage", "spanmeter.data.bytes": 2_000_000_000,
                      "spanmeter.data.records": 5000, "spanmeter.data.source": "s3://events"},
            seconds=10, end=False,
        )  # fmt: skip
        p.span("llm", llm(1), parent=stage)
        stage.end(end_time=stage.start_time + 10 * 10**9)
        attrs = p.spans()["stage"].attributes
        assert attrs["spanmeter.cost.compute_usd"] == pytest.approx(0.10)
        assert attrs["spanmeter.cost.total_usd"] == pytest.approx(1.10)
        assert attrs["spanmeter.cost.per_gb_usd"] == pytest.approx(0.55)
        dims = {"spanmeter.data.source": "s3://events", "spanmeter.operation.name": "run_stage"}
        assert p.value("spanmeter.cost.per_gb", **dims) == pytest.approx(0.55)
        assert p.value("spanmeter.data.processed", **dims) == 2_000_000_000
        assert p.value("spanmeter.data.records", **dims) == 5000
        assert p.value("spanmeter.cost", **{"spanmeter.cost.kind": "compute"}) == pytest.approx(0.10)
        assert p.value("spanmeter.cost", **{"spanmeter.cost.kind": "llm"}) == pytest.approx(1.0)


def test_cost_per_gb_without_compute_rate_is_llm_cost_only(prices):
    with Pipeline(prices) as p:
        p.span("stage", {"spanmeter.operation.name": "run_stage", "spanmeter.data.bytes": 500_000_000, **llm(1)})
        attrs = p.spans()["stage"].attributes
    assert "spanmeter.cost.compute_usd" not in attrs
    assert attrs["spanmeter.cost.per_gb_usd"] == pytest.approx(2.0)


def test_quality_and_freshness_from_the_manual_api_become_gauges(finished_spans, metric_reader):
    with spanmeter.stage("load", source="warehouse.orders"):
        spanmeter.record_data(bytes=1_000_000, records=10)
        spanmeter.record_quality("completeness", 0.97)
        spanmeter.record_freshness(42.5)
    (span,) = finished_spans()
    assert span.attributes["spanmeter.data.quality.completeness"] == 0.97
    assert span.attributes["spanmeter.data.freshness_s"] == 42.5
    gauges = {
        name: {tuple(sorted(point.attributes.items())): point.value for point in points}
        for name, points in points_by_metric(metric_reader).items()
        if name in ("spanmeter.data.quality", "spanmeter.data.freshness")
    }
    source = ("spanmeter.data.source", "warehouse.orders")
    assert gauges["spanmeter.data.quality"][(("dimension", "completeness"), source)] == 0.97
    assert gauges["spanmeter.data.freshness"][(source,)] == 42.5


def test_a_stage_with_no_known_cost_gets_no_cost_per_gb(prices):
    """No LLM call below it and no compute rate: its cost is unknown, not free."""
    with Pipeline(prices) as p:
        p.span("stage", {"spanmeter.operation.name": "run_stage", "spanmeter.data.bytes": 500_000_000})
        attrs = p.spans()["stage"].attributes
        assert "spanmeter.cost.per_gb_usd" not in attrs
        assert p.points("spanmeter.cost.per_gb") == []
        assert p.value("spanmeter.data.processed", **{"spanmeter.operation.name": "run_stage"}) == 500_000_000
