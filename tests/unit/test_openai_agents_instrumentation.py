"""spanmeter's OpenAI Agents SDK processor with real ``Runner`` runs over the real openai SDK.

The model answers from :mod:`support.scripted_llm` (Responses API bodies and event streams).
Spans go through the session's SpanmeterProcessor (``tests/conftest.py``), so prices are
checked as users see them.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from types import SimpleNamespace

import agents
import pytest
from agents import Runner
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from spanmeter import semconv
from spanmeter.instrumentation import genai, openai_agents
from spanmeter.instrumentation.agno import AgnoInstrumentor
from spanmeter.instrumentation.openai import OpenAIInstrumentor
from spanmeter.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from support import agents_apps
from support.instrumentation import assert_no_internal_errors
from support.span_tree import SpanTree

_USAGE = (semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS)


@pytest.fixture
def instrumented(tracer_provider, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # OpenAI's own exporter stays registered, sends nothing
    monkeypatch.delenv(genai.CAPTURE_CONTENT_ENV, raising=False)
    started = []

    def do(openai: bool = True, provider=None):
        for instrumentor in ([OpenAIInstrumentor()] if openai else []) + [OpenAIAgentsInstrumentor()]:
            instrumentor.instrument(tracer_provider=provider or tracer_provider)
            started.append(instrumentor)

    yield do
    for instrumentor in started:
        instrumentor.uninstrument()


async def _run(app: agents_apps.HandoffApp, streamed: bool):
    if not streamed:
        return await Runner.run(app.triage, "Weather in Paris?")
    result = Runner.run_streamed(app.triage, "Weather in Paris?")
    async for _ in result.stream_events():
        pass
    return result


def _assert_tree(tree: SpanTree, outer) -> None:
    workflow = tree.one("invoke_workflow Agent workflow")
    assert tree.parent(workflow) is tree.one("app")
    triage, weather = tree.one("invoke_agent triage agent"), tree.one("invoke_agent weather agent")
    assert tree.parent(triage) is workflow and tree.parent(weather) is workflow
    handoff, guardrail = tree.one("handoff weather agent"), tree.one("guardrail polite")
    assert tree.parent(handoff) is triage and tree.parent(guardrail) is triage
    assert handoff.attributes[semconv.HANDOFF_FROM_AGENT] == "triage agent"
    assert guardrail.attributes[semconv.GUARDRAIL_TRIGGERED] is False
    tool = tree.one("execute_tool get_weather")
    assert tree.parent(tool) is weather and tool.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_t1"
    assert tree.parent(tree.one("weather lookup")) is tool  # the tool's body runs in its span's context
    chats = tree.named("chat gpt-4o-mini")
    assert [tree.parent(span) for span in chats] == [triage, weather, weather]
    assert all(span.kind is SpanKind.CLIENT for span in chats)
    for span in tree.spans:
        assert span.context.trace_id == outer.context.trace_id
        assert span.status.status_code is not StatusCode.ERROR, span.name


def _assert_one_price_per_call(tree: SpanTree, app: agents_apps.HandoffApp, result) -> None:
    priced = [span for span in tree.spans if semconv.COST_USD in span.attributes]
    assert len(priced) == len(app.script.served) == 3
    assert all(span.attributes[semconv.COST_USD] > 0 for span in priced)
    usage = result.context_wrapper.usage
    assert tuple(sum(span.attributes[key] for span in priced) for key in _USAGE) == (
        usage.input_tokens, usage.output_tokens) == (630, 63)  # fmt: skip
    for span in tree.operation("invoke_agent") + tree.operation("invoke_workflow"):
        assert not any(key in span.attributes for key in _USAGE)


@pytest.mark.parametrize("api", ["responses", "chat"])
@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("openai_on", [True, False])
async def test_handoff_and_tool_run_is_one_tree_with_one_price_per_call(
    api, streamed, openai_on, instrumented, finished_spans
):
    instrumented(openai=openai_on)
    app = agents_apps.handoff_app(api)
    with trace.get_tracer("app").start_as_current_span("app") as outer:
        result = await _run(app, streamed)
        assert trace.get_current_span() is outer
    assert result.final_output == "Sunny in Paris"
    tree = SpanTree(finished_spans())
    _assert_tree(tree, outer)
    _assert_one_price_per_call(tree, app, result)
    scopes = {span.instrumentation_scope.name for span in tree.named("chat gpt-4o-mini")}
    assert scopes == {semconv.INSTRUMENTATION_SCOPE}  # spanmeter's openai span, or the processor's own
    assert len(openai_agents.processor()) == 0
    assert_no_internal_errors()


def test_processor_is_added_beside_the_sdk_processors_once(instrumented):
    instrumented()
    instrumented()
    processors = agents.tracing.get_trace_provider()._multi_processor._processors
    ours = [p for p in processors if p is openai_agents.processor()]
    assert len(ours) == 1
    assert any(type(p).__name__ == "BatchTraceProcessor" for p in processors)  # OpenAI's exporter stays


async def test_conversation_id_from_the_trace_group(instrumented, finished_spans):
    instrumented()
    app = agents_apps.handoff_app()
    with agents.trace("support chat", group_id="thread-42"):
        await Runner.run(app.triage, "Weather?")
    tree = SpanTree(finished_spans())
    assert tree.one("invoke_workflow support chat").attributes[semconv.GEN_AI_CONVERSATION_ID] == "thread-42"
    assert tree.one("invoke_agent weather agent").attributes[semconv.GEN_AI_CONVERSATION_ID] == "thread-42"


def test_usage_from_odd_payloads_gives_fewer_attributes():
    assert openai_agents.usage_attributes(None) == {}
    assert openai_agents.usage_attributes({"input_tokens": "12", "output_tokens": 3,
                                           "input_tokens_details": [1]}) == {semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 3}  # fmt: skip
    usage = {"input_tokens": 10, "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 1},
             "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": True}}  # fmt: skip
    assert openai_agents.usage_attributes(usage) == {
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 10, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 2,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4, semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 1,
    }  # fmt: skip


def _fake_span(span_id, trace_id, parent_id, data, error=None):
    return SimpleNamespace(span_id=span_id, trace_id=trace_id, parent_id=parent_id, span_data=data, error=error)


def test_odd_span_data_never_reaches_the_app(instrumented, finished_spans):
    instrumented()
    processor = openai_agents.processor()
    sdk_trace = SimpleNamespace(trace_id="t1", name=None, group_id=7)
    processor.on_trace_start(sdk_trace)
    odd = [SimpleNamespace(type="agent", name=3), SimpleNamespace(type="function", name=None, input=object()),
           SimpleNamespace(type="generation", model=None, usage="lots"), SimpleNamespace(type="mystery"), None]  # fmt: skip
    for number, data in enumerate(odd):
        span = _fake_span(f"s{number}", "t1", None, data, error={"message": 5})
        processor.on_span_start(span)
        processor.on_span_end(span)
    processor.on_trace_end(sdk_trace)
    names = [span.name for span in finished_spans()]
    assert names == ["invoke_agent agent", "execute_tool tool", "chat", "invoke_workflow workflow"]
    assert len(processor) == 0


def test_no_growth_over_100000_runs(instrumented):
    """Runs that end, fail, or never end their spans (the trace's end sweeps them) leave nothing behind:
    the map of open spans, the processor's only state, never holds more than one run's spans."""
    instrumented(provider=trace.NoOpTracerProvider())  # the map is under test, not span creation
    processor = openai_agents.processor()
    agent, tool = SimpleNamespace(type="agent", name="a"), SimpleNamespace(type="function", name="t")
    largest = 0
    for run in range(100_000):
        sdk_trace = SimpleNamespace(trace_id=f"t{run}", name="wf", group_id=None)
        processor.on_trace_start(sdk_trace)
        outer = _fake_span(f"a{run}", sdk_trace.trace_id, None, agent)
        inner = _fake_span(f"f{run}", sdk_trace.trace_id, outer.span_id, tool, error={"message": "x"})
        processor.on_span_start(outer)
        processor.on_span_start(inner)
        largest = max(largest, len(processor))
        if run % 3:
            processor.on_span_end(inner)
            processor.on_span_end(outer)
        processor.on_trace_end(sdk_trace)
    assert largest == 3
    assert len(processor) == 0 and processor.dropped == 0


@pytest.mark.expect_internal_errors
def test_bounded_map_ends_and_counts_what_it_drops(tracer_provider, instrumented, finished_spans):
    instrumented()
    processor = openai_agents.SpanmeterTracingProcessor(max_open=2)
    for number in range(3):
        processor.on_trace_start(SimpleNamespace(trace_id=f"t{number}", name=f"wf{number}", group_id=None))
    assert len(processor) == 2 and processor.dropped == 1
    assert [span.name for span in finished_spans()] == ["invoke_workflow wf0"]  # ended, not lost
    processor.shutdown()
    assert len(processor) == 0


_LAZY = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from spanmeter.instrumentation import openai_agents
openai_agents.OpenAIAgentsInstrumentor().instrument(tracer_provider=TracerProvider())
assert "agents" not in sys.modules, "agents imported by instrument()"
import agents
processors = agents.tracing.get_trace_provider()._multi_processor._processors
assert openai_agents.processor() in processors and len(processors) == 2, processors
print("ok")
"""


def test_registered_when_the_app_imports_agents(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = subprocess.run([sys.executable, "-c", _LAZY], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("name, cls", [("spanmeter_openai_agents", OpenAIAgentsInstrumentor),
                                       ("spanmeter_agno", AgnoInstrumentor)])  # fmt: skip
def test_opentelemetry_instrument_finds_the_entry_point(name, cls):
    (entry,) = [entry for entry in entry_points(group="opentelemetry_instrumentor") if entry.name == name]
    assert entry.load() is cls


@pytest.mark.parametrize("capture", [False, True])
async def test_tool_content_only_when_capture_is_on(capture, instrumented, monkeypatch, finished_spans):
    instrumented()
    if capture:
        monkeypatch.setenv(genai.CAPTURE_CONTENT_ENV, "true")
        OpenAIAgentsInstrumentor().uninstrument()
        OpenAIAgentsInstrumentor().instrument(tracer_provider=trace.get_tracer_provider())
    await Runner.run(agents_apps.handoff_app().triage, "Weather?")
    tool = SpanTree(finished_spans()).one("execute_tool get_weather")
    expected = {semconv.GEN_AI_TOOL_CALL_ARGUMENTS: '{"city": "Paris"}',
                semconv.GEN_AI_TOOL_CALL_RESULT: "sunny in Paris"} if capture else {}  # fmt: skip
    assert {key: tool.attributes.get(key) for key in expected} == expected
    assert capture or semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in tool.attributes
