"""Which agent run a call's cost belongs to: the innermost enclosing agent span, whoever wrote it,
children arriving before their parents or after them, within bounded tables."""

from __future__ import annotations

import pytest

from spanmeter.processing.agent_runs import AgentRuns
from support.processing import Pipeline, llm_attributes

PRICES = "test:\n  m: {input: 1000, output: 2000}\n"


def test_a_call_waits_for_its_innermost_agent_through_plain_spans():
    runs = AgentRuns()
    assert runs.span_ended("call", "node", None, "call") == []
    assert runs.span_ended("node", "inner", None) == []
    assert runs.span_ended("inner", "outer", "writer", "inner") == [("call", "writer"), ("inner", "writer")]
    assert runs.span_ended("outer", None, "planner", "outer") == [("outer", "planner")]
    assert runs.items == 0 and not runs.waiting


def test_a_call_outside_any_agent_resolves_at_its_root():
    runs = AgentRuns()
    runs.span_ended("call", "root", None, "call")
    assert runs.span_ended("root", None, None) == [("call", None)]
    assert runs.span_ended("lonely", None, None, "lonely") == [("lonely", None)]


def test_a_late_call_finds_its_ended_agent_or_open_ancestor():
    runs = AgentRuns()
    runs.span_ended("agent", "workflow", "planner")
    assert runs.span_ended("late", "agent", None, "late") == [("late", "planner")]
    runs.span_ended("node", "workflow", None)
    assert runs.span_ended("late in node", "node", None, "x") == []  # waits for the open workflow
    assert runs.span_ended("workflow", None, None) == [("x", None)]


def test_waiting_entries_and_items_are_bounded_and_counted():
    runs = AgentRuns(max_open=2, max_items=3)
    runs.span_ended("a", "pa", None, "a")
    runs.span_ended("b", "pb", None, "b")
    assert runs.span_ended("c", "pc", None, "c") == [("a", None)]  # the oldest entry gives way
    assert runs.span_ended("d", "pc", None, "d") == []
    assert runs.span_ended("e", "pc", None, "e") == [("e", None)]  # over max_items: resolved at once
    assert runs.evicted == 2
    assert sorted(runs.flush()) == [("b", None), ("c", None), ("d", None)]


@pytest.fixture
def prices(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(PRICES)
    return {"prices_file": str(path)}


def test_the_cost_metric_carries_the_agent_of_another_vendors_agent_span(prices):
    """A bare ``invoke_agent`` span names the agent; its calls (under a plain node span) do not."""
    with Pipeline(prices) as p:
        agent = p.span("invoke_agent triage", {"gen_ai.operation.name": "invoke_agent",
                                               "gen_ai.agent.name": "triage"}, end=False)  # fmt: skip
        node = p.span("node", {}, parent=agent, end=False)
        p.span("chat m", llm_attributes("m", 1000, 0, "test"), parent=node)
        node.end()
        agent.end()
        p.span("chat m", llm_attributes("m", 2000, 0, "test"))  # outside any agent
        p.spans()
        assert p.value("spanmeter.cost", **{"gen_ai.agent.name": "triage"}) == pytest.approx(1.0)
        assert p.value("spanmeter.cost") == pytest.approx(3.0)
        unattributed = [
            point.value for point in p.points("spanmeter.cost") if "gen_ai.agent.name" not in point.attributes
        ]
        assert unattributed == [pytest.approx(2.0)]


def test_entries_waiting_longer_than_the_limit_resolve_without_an_agent():
    runs = AgentRuns()
    runs.expire(100.0)
    runs.span_ended("old call", "lost agent", None, "old")
    runs.expire(500.0)
    runs.span_ended("new call", "running agent", None, "new")
    assert runs.expire(1000.0 + 1, max_wait_s=900) == [("old", None)]
    assert runs.expired == 1 and list(runs.waiting) == ["running agent"]


def test_the_cost_of_calls_whose_agent_never_ends_is_counted_at_shutdown(prices):
    with Pipeline(prices) as p:
        agent = p.span("invoke_agent a", {"gen_ai.operation.name": "invoke_agent"}, end=False)
        p.span("chat m", llm_attributes("m", 1000, 0, "test"), parent=agent)
        p.spans()
        assert p.value("spanmeter.cost") == 0.0  # waits for its agent run
        p.processor.shutdown()
        assert p.value("spanmeter.cost") == pytest.approx(1.0)
