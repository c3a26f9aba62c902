"""spanmeter's Agno instrumentation with real Agno agents and teams over the real openai SDK.

The models answer from :mod:`support.scripted_llm` (an in-memory transport with real-shaped
Chat Completions bodies and streams). Spans go through the session's SpanmeterProcessor
(``tests/conftest.py``), so the one-price-per-call rule is checked on priced spans.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest
from agno.agent import Agent
from agno.models.anthropic import Claude
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.trace import StatusCode

from spanmeter import semconv
from spanmeter.instrumentation import agno as spanmeter_agno
from spanmeter.instrumentation import genai
from spanmeter.instrumentation.agno import AgnoInstrumentor
from spanmeter.instrumentation.anthropic import AnthropicInstrumentor
from spanmeter.instrumentation.openai import OpenAIInstrumentor
from spanmeter.report.analysis import Analysis
from spanmeter.report.reader import spans_of
from support import agno_apps, anthropic_fakes, openai_fakes
from support import scripted_llm as llm
from support.instrumentation import assert_no_internal_errors
from support.span_tree import SpanTree

_USAGE = (semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS)


@pytest.fixture
def instrumented(tracer_provider, monkeypatch):
    """spanmeter's openai and Agno instrumentation on; ``instrumented(openai=False)`` leaves openai off."""
    monkeypatch.delenv(genai.CAPTURE_CONTENT_ENV, raising=False)
    started = []

    def do(openai: bool = True, capture: bool = False):
        if capture:
            monkeypatch.setenv(genai.CAPTURE_CONTENT_ENV, "true")
        for instrumentor in ([OpenAIInstrumentor()] if openai else []) + [AgnoInstrumentor()]:
            instrumentor.instrument(tracer_provider=tracer_provider)
            started.append(instrumentor)

    yield do
    for instrumentor in started:
        instrumentor.uninstrument()


def _app_span():
    return trace.get_tracer("app").start_as_current_span("app")


def _run_metrics(output) -> tuple[int, int]:
    """Input and output tokens of a team run plus its members' runs, as Agno counts them."""
    runs = [output, *(output.member_responses or [])]
    return sum(run.metrics.input_tokens for run in runs), sum(run.metrics.output_tokens for run in runs)


def _assert_team_tree(tree: SpanTree, app, output) -> None:
    (team,) = tree.named("invoke_agent research team")
    assert tree.parent(team) is tree.one("app")
    assert team.attributes[semconv.GEN_AI_AGENT_ID] == "research-team"
    assert team.attributes[semconv.GEN_AI_CONVERSATION_ID] == output.session_id
    delegations = tree.named("execute_tool delegate_task_to_member")
    assert [tree.parent(span) for span in delegations] == [team, team]
    assert [span.attributes[semconv.GEN_AI_TOOL_CALL_ID] for span in delegations] == ["call_d1", "call_d2"]
    weather, writer = tree.one("invoke_agent weather agent"), tree.one("invoke_agent writer agent")
    assert tree.parent(weather) is delegations[0] and tree.parent(writer) is delegations[1]
    (tool,) = tree.named("execute_tool get_weather")
    assert tree.parent(tool) is weather and tool.attributes[semconv.GEN_AI_TOOL_CALL_ID] == "call_w1"
    assert [tree.parent(span) for span in tree.named("chat gpt-4o-mini")] == [team, weather, weather, team, writer,
                                                                            team]  # fmt: skip
    for span in tree.spans:
        assert span.status.status_code is not StatusCode.ERROR, span.name
        assert span.context.trace_id == app.context.trace_id
    for agent in tree.operation("invoke_agent"):
        assert not any(key in agent.attributes for key in _USAGE)  # run totals are never priced
        assert semconv.COST_USD not in agent.attributes


def _assert_one_price_per_call(tree: SpanTree, app: agno_apps.TeamApp, output) -> None:
    priced = [span for span in tree.spans if semconv.COST_USD in span.attributes]
    assert len(priced) == app.llm_calls == 6
    assert all(span.instrumentation_scope.name == semconv.INSTRUMENTATION_SCOPE for span in priced)
    assert all(span.attributes[semconv.COST_USD] > 0 for span in priced)
    summed = tuple(sum(span.attributes[key] for span in priced) for key in _USAGE)
    assert summed == _run_metrics(output) == (1560, 111)


def test_team_run_is_one_tree_under_the_app_span_with_one_price_per_call(instrumented, finished_spans):
    instrumented()
    app = agno_apps.team_app()
    with _app_span() as outer:
        output = app.team.run("What is the weather in Paris?")
        assert trace.get_current_span() is outer
    assert output.content == "Sunny in Paris, written up."
    tree = SpanTree(finished_spans())
    _assert_team_tree(tree, outer, output)
    _assert_one_price_per_call(tree, app, output)
    assert_no_internal_errors()


async def test_team_arun_streaming_is_the_same_tree(instrumented, finished_spans):
    instrumented()
    app = agno_apps.team_app()
    with _app_span() as outer:
        events = [event async for event in app.team.arun("Weather in Paris?", stream=True, yield_run_output=True)]
        assert trace.get_current_span() is outer
    output = events[-1]
    assert output.content == "Sunny in Paris, written up."
    tree = SpanTree(finished_spans())
    _assert_team_tree(tree, outer, output)
    _assert_one_price_per_call(tree, app, output)
    assert_no_internal_errors()


async def test_streaming_set_on_the_agent_ends_when_the_stream_is_consumed(instrumented, finished_spans):
    instrumented()
    agent, script = agno_apps.tool_agent(stream=True)
    stream = agent.arun("Weather?")  # not a coroutine: the agent streams
    assert not asyncio.iscoroutine(stream)
    assert finished_spans() == []  # nothing starts before the stream is driven
    chunks = [event async for event in stream]
    assert chunks
    tree = SpanTree(finished_spans())
    run = tree.one("invoke_agent solo agent")
    assert [tree.parent(span) for span in tree.spans if span is not run] == [run, run, run]
    assert len(script.served) == 2


def test_consumer_that_stops_early_ends_the_run_span(instrumented, finished_spans):
    instrumented()
    agent, _ = agno_apps.tool_agent()
    with _app_span() as outer:
        stream = agent.run("Weather?", stream=True)
        next(iter(stream))
        stream.close()
        assert trace.get_current_span() is outer
    run = SpanTree(finished_spans()).one("invoke_agent solo agent")
    assert run.status.status_code is StatusCode.UNSET


def test_model_span_only_where_no_provider_span_sits_beneath(instrumented, finished_spans):
    instrumented(openai=False)  # the openai SDK is not instrumented: Agno's model call carries the price
    agent, script = agno_apps.tool_agent()
    output = agent.run("Weather?")
    tree = SpanTree(finished_spans())
    chats = tree.named("chat gpt-4o-mini")
    assert len(chats) == len(script.served) == 2
    assert {span.attributes[semconv.GEN_AI_PROVIDER_NAME] for span in chats} == {"openai"}
    assert sum(span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] for span in chats) == output.metrics.input_tokens
    assert all(span.attributes[semconv.COST_USD] > 0 for span in chats)
    assert_no_internal_errors()


@pytest.mark.parametrize("anthropic_on", [False, True])
def test_claude_usage_counts_cache_tokens_as_input_once(anthropic_on, instrumented, tracer_provider, finished_spans):
    body = anthropic_fakes.message(usage=anthropic_fakes.TOOL_USAGE)
    model = Claude(id=anthropic_fakes.MODEL, client=anthropic_fakes.client(anthropic_fakes.server(body)))
    instrumented(openai=False)
    ours = AnthropicInstrumentor()
    if anthropic_on:
        ours.instrument(tracer_provider=tracer_provider)
    try:
        Agent(name="claude agent", model=model, telemetry=False).run("Hi")
    finally:
        ours.uninstrument()
    chats = [span for span in finished_spans() if semconv.GEN_AI_USAGE_INPUT_TOKENS in span.attributes]
    (chat,) = chats  # with the anthropic instrumentation on, its span is the one and Agno adds none
    assert chat.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1200  # 300 uncached + 800 read + 100 written
    assert chat.attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 800
    assert chat.attributes[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 100
    assert chat.attributes[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"


def test_failed_tool_is_an_error_without_an_exception(instrumented, finished_spans):
    def get_weather(city: str) -> str:
        """The weather in a city."""
        raise ValueError("weather service down")

    instrumented()
    agent, _ = agno_apps.tool_agent(tools=[get_weather])
    output = agent.run("Weather?")
    assert output.content == "Done"  # Agno reports the failure to the model and goes on
    tool = SpanTree(finished_spans()).one("execute_tool get_weather")
    assert tool.status.status_code is StatusCode.ERROR
    assert "weather service down" in tool.status.description
    assert tool.attributes[semconv.ERROR_TYPE] == "_OTHER"
    assert not tool.events  # no exception escaped the tool call


def test_generator_tool_span_stays_open_until_consumed(instrumented, finished_spans):
    inner_tracer = trace.get_tracer("tool-body")

    def get_weather(city: str):
        """The weather in a city, in parts."""
        yield "sunny"
        with inner_tracer.start_as_current_span("inside the tool"):
            yield f" in {city}"

    instrumented(capture=True)
    agent, _ = agno_apps.tool_agent(tools=[get_weather])
    agent.run("Weather?")
    tree = SpanTree(finished_spans())
    tool, inside = tree.one("execute_tool get_weather"), tree.one("inside the tool")
    assert tree.parent(inside) is tool
    assert tool.end_time >= inside.end_time
    assert tool.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"city":"Paris"}'


def test_content_is_not_captured_by_default(instrumented, finished_spans):
    instrumented()
    agno_apps.tool_agent()[0].run("Weather?")
    tool = SpanTree(finished_spans()).one("execute_tool get_weather")
    assert semconv.GEN_AI_TOOL_CALL_ARGUMENTS not in tool.attributes
    assert semconv.GEN_AI_TOOL_CALL_RESULT not in tool.attributes


def test_run_that_fails_inside_agno_is_an_error(instrumented, finished_spans):
    failing = llm.ScriptedLLM([llm.text("unused")])
    agent = Agent(name="failing agent", model=agno_apps.openai_model(failing), telemetry=False)
    agent.model.client = openai_fakes.server(openai_fakes.json_reply(openai_fakes.error_body(500), 500)).client()
    instrumented()
    output = agent.run("Hi")
    assert output.status.value == "ERROR"  # Agno returns the failure rather than raising it
    run = SpanTree(finished_spans()).one("invoke_agent failing agent")
    assert run.status.status_code is StatusCode.ERROR


def test_odd_payloads_give_fewer_attributes_not_errors(instrumented, finished_spans):
    instrumented()
    odd = SimpleNamespace(name=None, id=42)
    scope = spanmeter_agno._open_run((odd, object()), {})
    scope.finish(None, "not a RunOutput")
    tool = spanmeter_agno._open_tool(SimpleNamespace(function=None, call_id=7, arguments=object()))
    tool.finish(None, SimpleNamespace(status=None))
    spanmeter_agno._open_model(SimpleNamespace(provider=3, id=None)).finish(None, SimpleNamespace(response_usage=1))
    spans = finished_spans()
    assert [span.name for span in spans] == ["invoke_agent SimpleNamespace", "execute_tool tool", "chat"]
    assert semconv.GEN_AI_TOOL_CALL_ID not in spans[1].attributes
    assert_no_internal_errors()


def test_uninstrument_leaves_agno_untraced(instrumented, finished_spans):
    instrumented()
    agent, _ = agno_apps.tool_agent()
    AgnoInstrumentor().uninstrument()
    OpenAIInstrumentor().uninstrument()
    agent.run("Weather?")
    assert finished_spans() == []


_LAZY_AND_SETUP_TRACING = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from spanmeter.instrumentation.agno import AgnoInstrumentor
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    AgnoInstrumentor().instrument(tracer_provider=provider)
    assert not any(name.startswith("agno") for name in sys.modules), "agno imported by instrument()"
    from agno.db.in_memory import InMemoryDb
    from agno.tracing import setup_tracing
    from openinference.instrumentation.agno import AgnoInstrumentor as OpenInference
    setup_tracing(db=InMemoryDb())
    assert not OpenInference().is_instrumented_by_opentelemetry
    from support import agno_apps
    agno_apps.tool_agent()[0].run("Weather?")
    print(sorted(span.name for span in exporter.get_finished_spans()))
""")


def test_patched_on_import_and_agno_setup_tracing_adds_no_second_instrumentation():
    tests = str(__import__("pathlib").Path(__file__).parents[1])
    script = _LAZY_AND_SETUP_TRACING.format(tests=tests)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    names = result.stdout.strip().splitlines()[-1]
    assert names == str(sorted(["invoke_agent solo agent", "execute_tool get_weather", "chat gpt-4o-mini",
                                "chat gpt-4o-mini"]))  # fmt: skip


async def test_cancelled_run_ends_its_spans_and_restores_the_context(instrumented, finished_spans):
    started = asyncio.Event()

    async def get_weather(city: str) -> str:
        """The weather in a city, slowly."""
        started.set()
        await asyncio.sleep(60)
        return "never"

    instrumented()
    agent, _ = agno_apps.tool_agent(tools=[get_weather])
    with _app_span() as outer:
        task = asyncio.ensure_future(agent.arun("Weather?"))
        await started.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert trace.get_current_span() is outer
    tree = SpanTree(finished_spans())
    run, tool = tree.one("invoke_agent solo agent"), tree.one("execute_tool get_weather")
    assert tree.parent(tool) is run and tree.parent(run) is tree.one("app")
    assert tool.attributes[semconv.ERROR_TYPE] == "CancelledError"  # the tool never finished


def _innermost_agent(tree: SpanTree, span) -> str | None:
    """The agent run a span ran in, found by walking its ancestors (independently of spanmeter)."""
    parent = tree.parent(span)
    while parent is not None:
        if parent.attributes.get(semconv.GEN_AI_OPERATION_NAME) == "invoke_agent":
            return parent.attributes[semconv.GEN_AI_AGENT_NAME]
        parent = tree.parent(parent)
    return None


def test_a_teams_calls_cost_their_innermost_agent_run_in_the_report(instrumented, finished_spans):
    """The report (reading the enriched spans back) puts each call under the member that made it."""
    instrumented()
    app = agno_apps.team_app()
    app.team.run("What is the weather in Paris?")
    spans = finished_spans()
    tree = SpanTree(spans)
    expected: dict[str, list[float]] = {}
    for call in tree.named("chat gpt-4o-mini"):
        expected.setdefault(_innermost_agent(tree, call), []).append(call.attributes[semconv.COST_USD])
    analysis = Analysis()
    for record in spans_of(encode_spans(spans)):
        analysis.add(record)
    analysis.finish()
    agents = analysis.dimensions["agent"].groups
    assert {key: group.calls for key, group in agents.items()} == {
        "research team": 3, "weather agent": 2, "writer agent": 1,
    }  # fmt: skip
    for agent, costs in expected.items():
        assert agents[agent].cost_usd == pytest.approx(sum(costs))
