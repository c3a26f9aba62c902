"""spanmeter's LangChain / LangGraph instrumentation, end to end with the real packages, offline.

LLM calls go through langchain-openai's ChatOpenAI, the real openai SDK and an in-memory
transport with real-shaped responses (``support.openai_fakes``); spans go through the
session's SpanmeterProcessor (``tests/conftest.py``), so pricing is checked as users see
it. Both spanmeter instrumentors are on, as under ``opentelemetry-instrument``.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import uuid
from importlib.metadata import entry_points

import openai
import pytest
from langchain_core.documents import Document
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableParallel
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command, interrupt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from spanmeter import internal_errors, semconv
from spanmeter.instrumentation import genai
from spanmeter.instrumentation import langchain as spanmeter_langchain
from spanmeter.instrumentation.langchain import LangChainInstrumentor, open_runs
from spanmeter.instrumentation.langchain.handler import COMPONENT
from spanmeter.instrumentation.openai import OpenAIInstrumentor
from spanmeter.settings import Settings
from support import openai_fakes as fakes
from support.instrumentation import assert_no_internal_errors
from support.langchain_fakes import chat_model, small_chain

CHAT_BODY = fakes.llm_fakes.OPENAI_CHAT_BODY
CHAT = f"chat {fakes.MODEL}"
SEQUENCE = "invoke_workflow RunnableSequence"
DETACH_ERROR = "Failed to detach context"
tracer = trace.get_tracer("app")


@pytest.fixture
def instrument(tracer_provider, monkeypatch):
    """Both spanmeter instrumentors (openai beneath LangChain), undone after the test."""
    monkeypatch.delenv(genai.CAPTURE_CONTENT_ENV, raising=False)
    done = []

    def do(capture: str | None = None, provider: TracerProvider | None = None, **settings):
        if capture is not None:
            monkeypatch.setenv(genai.CAPTURE_CONTENT_ENV, capture)
        for cls in (OpenAIInstrumentor, LangChainInstrumentor):
            instrumentor = cls()
            instrumentor.instrument(tracer_provider=provider or tracer_provider,
                                    settings=Settings.load(settings) if settings else None)  # fmt: skip
            done.append(instrumentor)

    yield do
    for instrumentor in done:
        instrumentor.uninstrument()


@pytest.fixture
def instrumented(instrument):
    instrument()


@pytest.fixture
def detach_errors(caplog):
    """Read after the test body: what OpenTelemetry logged about contexts it could not detach."""
    caplog.set_level(logging.WARNING)
    return lambda: [record.getMessage() for record in caplog.records if DETACH_ERROR in record.getMessage()]


def named(spans, name):
    return [span for span in spans if span.name == name]


def children(spans, parent):
    return [span for span in spans if span.parent is not None and span.parent.span_id == parent.context.span_id]


def priced(spans):
    return [span for span in spans if semconv.COST_USD in span.attributes]


def assert_clean(spans, detach_errors):
    assert [(span.name, span.status.description) for span in spans if span.status.status_code is StatusCode.ERROR] == []
    assert detach_errors() == []
    assert len(open_runs()) == 0
    assert_no_internal_errors()


# --- (a) concurrent ainvoke -----------------------------------------------------


async def test_gathered_ainvokes_are_separate_children_with_one_priced_span_each(
    instrumented, finished_spans, detach_errors
):
    server = fakes.server(CHAT_BODY)
    chain = small_chain(chat_model(server))

    with tracer.start_as_current_span("outer") as outer:
        answers = await asyncio.gather(*(chain.ainvoke({"question": f"q{i}"}) for i in range(3)))
        assert trace.get_current_span() is outer

    assert len(set(answers)) == 1 and answers[0].startswith("word0")
    spans = finished_spans()
    (outer_span,) = named(spans, "outer")
    workflows = children(spans, outer_span)
    assert [span.name for span in workflows] == [SEQUENCE] * 3
    calls = [children(spans, workflow) for workflow in workflows]
    assert [[span.name for span in below] for below in calls] == [[CHAT]] * 3
    assert {span.context.trace_id for span in spans} == {outer_span.context.trace_id}
    # One span per LLM call: the SDK call claimed LangChain's model span (server.address is the SDK's).
    assert len(server.requests) == 3
    assert len(priced(spans)) == 3 and set(priced(spans)) == {below[0] for below in calls}
    for (chat,) in calls:
        assert chat.kind is SpanKind.CLIENT
        assert chat.attributes[semconv.SERVER_ADDRESS] == "llm.example.com"
        assert chat.attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
        assert chat.attributes[semconv.GEN_AI_RESPONSE_MODEL] == fakes.RESPONSE_MODEL
        assert chat.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == fakes.llm_fakes.INPUT_TOKENS
        assert chat.attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
    for workflow in workflows:
        assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in workflow.attributes
        assert workflow.attributes[semconv.COST_TOTAL_USD] == pytest.approx(
            children(spans, workflow)[0].attributes[semconv.COST_USD]
        )
    assert_clean(spans, detach_errors)


# --- (b) batch / abatch -----------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True], ids=["batch", "abatch"])
async def test_batch_puts_each_llm_span_under_its_own_inputs_root(
    use_async, instrumented, finished_spans, detach_errors
):
    server = fakes.server(CHAT_BODY)
    chain = small_chain(chat_model(server))
    inputs = [{"question": f"q{i}"} for i in range(7)]

    with tracer.start_as_current_span("outer"):
        config = {"max_concurrency": 3}
        answers = await chain.abatch(inputs, config) if use_async else chain.batch(inputs, config)

    assert len(answers) == 7
    spans = finished_spans()
    (outer_span,) = named(spans, "outer")
    roots = children(spans, outer_span)
    assert [span.name for span in roots] == [SEQUENCE] * 7
    assert sorted(len(children(spans, root)) for root in roots) == [1] * 7
    assert {span.parent.span_id for span in named(spans, CHAT)} == {root.context.span_id for root in roots}
    assert len(priced(spans)) == len(server.requests) == 7
    assert_clean(spans, detach_errors)


# --- (c) streaming -------------------------------------------------------------------


def test_stream_reports_usage_and_prices_once(instrumented, finished_spans, detach_errors):
    server = fakes.server(fakes.chat_chunks())
    chain = small_chain(chat_model(server, stream_usage=True))

    assert "".join(chain.stream({"question": "hi"})) == "Hello, world"

    spans = finished_spans()
    (chat,) = named(spans, CHAT)
    assert chat.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 20
    assert chat.attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 4
    assert priced(spans) == [chat]
    assert chat.parent.span_id == named(spans, SEQUENCE)[0].context.span_id
    assert_clean(spans, detach_errors)


def test_stream_abandoned_after_the_first_chunk_ends_its_spans_cleanly(instrumented, finished_spans, detach_errors):
    server = fakes.server(fakes.chat_chunks())
    chain = small_chain(chat_model(server, stream_usage=True))

    with tracer.start_as_current_span("outer") as outer:
        for _chunk in chain.stream({"question": "hi"}):
            break
        assert trace.get_current_span() is outer

    spans = finished_spans()
    assert sorted(span.name for span in spans) == sorted([CHAT, SEQUENCE, "outer"])
    assert named(spans, CHAT)[0].parent.span_id == named(spans, SEQUENCE)[0].context.span_id
    assert_clean(spans, detach_errors)


def test_astream_abandoned_after_the_first_chunk_ends_when_the_loop_finalizes_it(
    instrumented, finished_spans, detach_errors
):
    """A bare ``break``: LangChain leaves its async generators (and so its runs) to the event loop's
    finalizer, which closes them at the latest when the loop shuts down; the spans end then, cleanly."""
    chain = small_chain(chat_model(fakes.server(fakes.chat_chunks()), stream_usage=True))

    async def consume():
        async for _chunk in chain.astream({"question": "hi"}):
            break

    asyncio.run(consume())

    spans = finished_spans()
    assert sorted(span.name for span in spans) == sorted([CHAT, SEQUENCE])
    assert_clean(spans, detach_errors)


# --- (d) a LangGraph agent ------------------------------------------------------------


def weather_agent(model):
    """agent -> ToolNode (two tool calls at once; get_time interrupts once) -> agent.

    On resume the ToolNode's task runs again, both tools with it: only the first round
    meets at the barrier, which proves the two calls run in parallel.
    """
    both_running = threading.Barrier(2, timeout=10)
    seen: set[str] = set()

    def first_round(name: str) -> None:
        if name not in seen:
            seen.add(name)
            both_running.wait()

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        first_round("get_weather")
        return f"sunny in {city}"

    @tool
    def get_time(tz: str) -> str:
        """The time in a time zone."""
        first_round("get_time")
        approval = interrupt(f"look up the time in {tz}?")
        return f"noon ({approval})"

    bound = model.bind_tools([get_weather, get_time])

    def agent(state: MessagesState):
        return {"messages": [bound.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([get_weather, get_time]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=InMemorySaver(), name="weather-agent")


@pytest.mark.parametrize("use_async", [False, True], ids=["invoke", "ainvoke"])
async def test_langgraph_agent_with_parallel_tools_and_an_interrupt(
    use_async, instrumented, finished_spans, detach_errors
):
    server = fakes.server(fakes.chat_tool_call_body(), CHAT_BODY)
    agent = weather_agent(chat_model(server))
    config = {"configurable": {"thread_id": "thread-42"}}
    run = agent.ainvoke if use_async else None

    with tracer.start_as_current_span("outer"):
        question = {"messages": [("user", "Weather and time in Paris?")]}
        first = await run(question, config) if run else agent.invoke(question, config)
        assert first["__interrupt__"][0].value == "look up the time in CET?"
        resume = Command(resume="approved")
        final = await run(resume, config) if run else agent.invoke(resume, config)

    assert final["messages"][-1].content.startswith("word0")
    spans = finished_spans()
    (outer_span,) = named(spans, "outer")
    assert {span.context.trace_id for span in spans} == {outer_span.context.trace_id}  # one trace
    agents = children(spans, outer_span)
    assert [span.name for span in agents] == ["invoke_agent weather-agent"] * 2
    for span in agents:
        assert span.attributes[semconv.GEN_AI_AGENT_NAME] == "weather-agent"
        assert span.attributes[semconv.GEN_AI_CONVERSATION_ID] == "thread-42"
    assert "langgraph.interrupt" in [event.name for event in agents[0].events]
    below = sorted(span.name for agent_span in agents for span in children(spans, agent_span))
    assert below == sorted([CHAT, CHAT] + ["execute_tool get_weather", "execute_tool get_time"] * 2)
    asked = min(named(spans, CHAT), key=lambda span: span.start_time)
    requested_ids = set(asked.attributes[semconv.TOOL_CALL_IDS])
    tools = [span for span in spans if span.name.startswith("execute_tool")]
    assert requested_ids == {"call_weather", "call_time"}
    assert {span.attributes[semconv.GEN_AI_TOOL_CALL_ID] for span in tools} == requested_ids
    assert all(span.attributes[semconv.GEN_AI_CONVERSATION_ID] == "thread-42" for span in tools)
    assert {span.attributes[semconv.GEN_AI_TOOL_DESCRIPTION] for span in tools} == {
        "The weather in a city.",
        "The time in a time zone.",
    }
    assert len(priced(spans)) == len(server.requests) == 2
    assert set(priced(spans)) == set(named(spans, CHAT))
    assert_clean(spans, detach_errors)


async def test_event_and_message_streams_keep_the_tree(instrumented, finished_spans, detach_errors):
    """LangChain's own streaming handlers (``astream_events``, LangGraph's ``messages`` mode) beside spanmeter's."""
    chain = small_chain(chat_model(fakes.server(fakes.chat_chunks()), stream_usage=True))
    kinds = [event["event"] async for event in chain.astream_events({"question": "hi"}, version="v2")]
    assert "on_chat_model_stream" in kinds
    agent = weather_agent(chat_model(fakes.server(fakes.chat_chunks()), stream_usage=True))  # messages mode streams
    config = {"configurable": {"thread_id": "t"}}
    chunks = [chunk for chunk in agent.stream({"messages": [("user", "hi")]}, config, stream_mode="messages")]
    assert chunks

    spans = finished_spans()
    (workflow,) = named(spans, SEQUENCE)
    (graph,) = named(spans, "invoke_agent weather-agent")
    assert [span.name for span in children(spans, workflow)] == [CHAT]
    assert [span.name for span in children(spans, graph)] == [CHAT]
    assert len(priced(spans)) == 2
    assert_clean(spans, detach_errors)


@pytest.mark.parametrize("use_async", [False, True], ids=["invoke", "ainvoke"])
async def test_sdk_call_in_a_graph_node_nests_under_the_graph(use_async, instrumented, finished_spans, detach_errors):
    client, aclient = fakes.server(CHAT_BODY).client(), fakes.server(CHAT_BODY).async_client()

    def answer(state: MessagesState):
        reply = client.chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES)
        return {"messages": [("ai", reply.choices[0].message.content)]}

    async def aanswer(state: MessagesState):
        reply = await aclient.chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES)
        return {"messages": [("ai", reply.choices[0].message.content)]}

    graph = StateGraph(MessagesState)
    graph.add_node("answer", aanswer if use_async else answer)
    graph.add_edge(START, "answer")
    app = graph.compile(name="direct")
    question = {"messages": [("user", "hi")]}
    await app.ainvoke(question) if use_async else app.invoke(question)

    spans = finished_spans()
    (agent,) = named(spans, "invoke_agent direct")
    assert [span.name for span in children(spans, agent)] == [CHAT]
    assert len(spans) == 2
    assert_clean(spans, detach_errors)


# --- one price per call, whatever is beneath -----------------------------------------


def test_separate_mode_leaves_usage_to_the_sdk_span_beneath(instrument, finished_spans, detach_errors):
    instrument(genai_span_mode="separate")
    server = fakes.server(CHAT_BODY)

    small_chain(chat_model(server)).invoke({"question": "hi"})

    spans = finished_spans()
    framework, sdk = sorted(named(spans, CHAT), key=lambda span: span.start_time)
    assert sdk.parent.span_id == framework.context.span_id
    assert semconv.GEN_AI_USAGE_INPUT_TOKENS not in framework.attributes
    assert sdk.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == fakes.llm_fakes.INPUT_TOKENS
    assert priced(spans) == [sdk]
    # the framework span's call is priced beneath it: it says so rather than "no usage reported"
    assert framework.attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_DESCENDANT
    assert_clean(spans, detach_errors)


def test_only_the_first_sdk_call_right_under_a_framework_span_claims_it(instrumented, finished_spans):
    client = fakes.server(CHAT_BODY).client()
    # Made as spanmeter's framework instrumentors make it: its claimed span is that call's, and the
    # calls beneath are others, so they do not make this span a "descendant" one.
    framework = trace.get_tracer(semconv.INSTRUMENTATION_SCOPE).start_span(CHAT)
    call = genai.FrameworkLLMCall(framework)
    token = otel_context.attach(call.into(otel_context.get_current()))
    try:
        client.chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES)  # claims the framework span
        client.chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES)  # a span of its own
        with tracer.start_as_current_span("a tool in between"):
            client.chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES)
    finally:
        otel_context.detach(token)
        framework.end()

    spans = finished_spans()
    (claimed,) = [span for span in spans if span.context.span_id == framework.context.span_id]
    assert call.claimed and claimed.attributes[semconv.SERVER_ADDRESS] == "llm.example.com"
    own = [span for span in named(spans, CHAT) if span is not claimed]
    assert len(own) == 2 and len(priced(spans)) == 3
    assert {span.parent.span_id for span in own} == {
        framework.context.span_id,
        named(spans, "a tool in between")[0].context.span_id,
    }


def test_model_without_an_instrumented_sdk_reports_normalized_usage(instrumented, finished_spans, detach_errors):
    usage = {"input_tokens": 1000, "output_tokens": 50, "total_tokens": 1050,
             "input_token_details": {"cache_read": 200, "ephemeral_5m_input_tokens": 100,
                                     "ephemeral_1h_input_tokens": 30},
             "output_token_details": {"reasoning": 20}}  # fmt: skip
    reply = AIMessage("hi", usage_metadata=usage,
                      response_metadata={"model_name": "gpt-4o-2024-08-06", "model_provider": "openai"})  # fmt: skip
    model = GenericFakeChatModel(messages=iter([reply]))

    model.invoke("hello", {"metadata": {"thread_id": 7}})

    (span,) = finished_spans()
    assert span.name == "chat"  # the fake model names no request model
    attributes = span.attributes
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert attributes[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 200
    assert attributes[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 130
    assert attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 20
    assert attributes[semconv.GEN_AI_CONVERSATION_ID] == "7"
    assert attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
    assert_clean([span], detach_errors)


# --- errors, content, tools, retrievers --------------------------------------------


def test_api_error_fails_the_model_and_chain_spans(instrumented, finished_spans, detach_errors):
    server = fakes.server(fakes.json_reply(fakes.error_body(500), status=500))

    with pytest.raises(openai.InternalServerError):
        small_chain(chat_model(server)).invoke({"question": "hi"})

    spans = finished_spans()
    (chat,) = named(spans, CHAT)
    (workflow,) = named(spans, SEQUENCE)
    assert chat.attributes[semconv.ERROR_TYPE] == "500"
    assert workflow.attributes[semconv.ERROR_TYPE] == "500"
    assert chat.status.status_code is workflow.status.status_code is StatusCode.ERROR
    assert detach_errors() == [] and len(open_runs()) == 0


async def test_cancelled_ainvoke_ends_its_spans_and_leaves_no_run(instrumented, finished_spans, detach_errors):
    answering = asyncio.Event()

    async def never(request):  # the request is sent; the answer never comes
        answering.set()
        await asyncio.Event().wait()

    chain = small_chain(chat_model(fakes.server(never)))
    with tracer.start_as_current_span("outer") as outer:
        task = asyncio.create_task(chain.ainvoke({"question": "hi"}))
        await answering.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert trace.get_current_span() is outer

    spans = finished_spans()
    assert sorted(span.name for span in spans) == sorted([CHAT, SEQUENCE, "outer"])
    assert {span.attributes.get(semconv.ERROR_TYPE) for span in named(spans, CHAT) + named(spans, SEQUENCE)} == {
        "CancelledError"
    }
    assert detach_errors() == [] and len(open_runs()) == 0


@pytest.mark.parametrize("capture", [None, "true"])
def test_content_is_captured_only_when_asked(capture, instrument, finished_spans):
    instrument(capture=capture)

    @tool
    def lookup(city: str) -> str:
        """Look a city up."""
        return f"{city} is lovely"

    small_chain(chat_model(fakes.server(CHAT_BODY))).invoke({"question": "secret question"})
    lookup.invoke({"city": "Paris"})

    spans = finished_spans()
    (chat,) = named(spans, CHAT)
    (tool_span,) = named(spans, "execute_tool lookup")
    keys = (semconv.GEN_AI_INPUT_MESSAGES, semconv.GEN_AI_OUTPUT_MESSAGES)
    tool_keys = (semconv.GEN_AI_TOOL_CALL_ARGUMENTS, semconv.GEN_AI_TOOL_CALL_RESULT)
    if capture is None:
        assert not any(key in chat.attributes for key in keys)
        assert not any(key in tool_span.attributes for key in tool_keys)
    else:
        assert "secret question" in chat.attributes[semconv.GEN_AI_INPUT_MESSAGES]
        assert "word0" in chat.attributes[semconv.GEN_AI_OUTPUT_MESSAGES]
        assert "Paris" in tool_span.attributes[semconv.GEN_AI_TOOL_CALL_ARGUMENTS]
        assert "Paris is lovely" in tool_span.attributes[semconv.GEN_AI_TOOL_CALL_RESULT]


@pytest.mark.parametrize("use_async", [False, True], ids=["invoke", "ainvoke (sync tool in a worker thread)"])
async def test_llm_call_inside_a_tool_nests_under_the_tool(use_async, instrumented, finished_spans, detach_errors):
    client = fakes.server(CHAT_BODY).client()

    @tool
    def summarize(text: str) -> str:
        """Summarize with a direct SDK call."""
        reply = client.chat.completions.create(model=fakes.MODEL, messages=fakes.MESSAGES)
        return reply.choices[0].message.content

    if use_async:
        await summarize.ainvoke({"text": "long"})
    else:
        summarize.invoke({"text": "long"})

    spans = finished_spans()
    (tool_span,) = named(spans, "execute_tool summarize")
    (chat,) = named(spans, CHAT)
    assert chat.parent.span_id == tool_span.context.span_id
    assert priced(spans) == [chat]
    assert_clean(spans, detach_errors)


def test_sdk_calls_in_parallel_branches_nest_under_the_named_chain(instrumented, finished_spans, detach_errors):
    client = fakes.server(CHAT_BODY).client()

    def ask(question: str) -> str:  # a plain function: its RunnableLambda gets no span of its own
        reply = client.chat.completions.create(model=fakes.MODEL, messages=[{"role": "user", "content": question}])
        return reply.choices[0].message.content

    fanout = RunnableParallel(first=ask, second=ask).with_config(run_name="fan-out")  # branches in a thread pool
    pipeline = fanout | (lambda answers: len(answers))

    assert pipeline.invoke("hi") == 2

    spans = finished_spans()
    (root,) = named(spans, SEQUENCE)
    (named_chain,) = children(spans, root)
    assert named_chain.name == "invoke_workflow fan-out"
    assert [span.name for span in children(spans, named_chain)] == [CHAT, CHAT]
    assert len(spans) == 4 and len(priced(spans)) == 2
    assert_clean(spans, detach_errors)


class _Shelf(BaseRetriever):
    def _get_relevant_documents(self, query, *, run_manager):
        return [Document(page_content=f"about {query}")]


def test_retriever_run_is_a_retrieval_span(instrumented, finished_spans):
    assert _Shelf().invoke("otel")[0].page_content == "about otel"

    (span,) = finished_spans()
    assert span.name == "retrieval"
    assert span.attributes[semconv.GEN_AI_OPERATION_NAME] == "retrieval"


# --- never break the app; bounded state -------------------------------------------


def test_odd_payloads_degrade_to_fewer_attributes(instrument, finished_spans):
    instrument(capture="true")
    handler = spanmeter_langchain._State.handler
    root, model, tool_run = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    handler.on_chain_start(42, object(), run_id=root, parent_run_id="nope", tags="x", metadata=["a"], name=5)
    handler.on_chat_model_start(None, "oops", run_id=model, parent_run_id=root, tags=None,
                                metadata={"ls_provider": 3, "thread_id": {"a": 1}}, invocation_params="bad")  # fmt: skip
    odd = AIMessage("x", response_metadata={"model_name": 5, "finish_reason": ["stop"], "id": None})
    odd.tool_calls = [{"name": None, "args": {}, "id": 3, "type": "tool_call"}]
    handler.on_llm_end(LLMResult(generations=[[ChatGeneration(message=odd)]]), run_id=model)
    handler.on_tool_start({"name": 7}, None, run_id=tool_run, parent_run_id=root, tool_call_id=["x"])
    handler.on_tool_end(object(), run_id=tool_run)
    handler.on_llm_end(object(), run_id=uuid.uuid4())
    handler.on_chain_end(None, run_id=uuid.uuid4())
    handler.on_chain_end(None, run_id=root)

    spans = finished_spans()
    assert sorted(span.name for span in spans) == ["chat", "execute_tool", "invoke_workflow"]
    assert all(span.parent.span_id == named(spans, "invoke_workflow")[0].context.span_id
               for span in spans if span.name != "invoke_workflow")  # fmt: skip
    assert len(open_runs()) == 0


def test_odd_model_output_through_a_real_chain_keeps_the_app_running(instrumented, finished_spans):
    reply = AIMessage("fine", usage_metadata={"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
                      response_metadata={"model_name": ["odd"], "model_provider": 12, "finish_reason": 3})  # fmt: skip
    model = GenericFakeChatModel(messages=iter([reply]))

    assert model.invoke("hi").content == "fine"

    (span,) = finished_spans()
    assert semconv.GEN_AI_RESPONSE_MODEL not in span.attributes
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 3


_GraphBubbleUp = type("GraphBubbleUp", (Exception,), {})  # LangGraph's control-flow base, matched by name
_GraphInterrupt = type("GraphInterrupt", (_GraphBubbleUp,), {})
_ENDINGS = (
    lambda handler, run: handler.on_chain_end({}, run_id=run),
    lambda handler, run: handler.on_chain_error(ValueError("boom"), run_id=run),
    lambda handler, run: handler.on_chain_error(asyncio.CancelledError(), run_id=run),
    lambda handler, run: handler.on_chain_error(GeneratorExit(), run_id=run),
    lambda handler, run: handler.on_chain_error(_GraphInterrupt(), run_id=run),
)


def test_open_runs_do_not_grow_over_100000_runs(instrument):
    """Three runs per round (a chain, a step without a span, a model), ended every way a run ends."""
    instrument(provider=TracerProvider(sampler=ALWAYS_OFF))  # the handler's own state, not span export
    handler = spanmeter_langchain._State.handler
    largest = 0
    for i in range(100_000 // 3 + 1):
        root, step, model = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        handler.on_chain_start(None, {}, run_id=root, name="pipeline")
        handler.on_chain_start(None, {}, run_id=step, parent_run_id=root, name="RunnableLambda")
        handler.on_chat_model_start(None, [[]], run_id=model, parent_run_id=step, invocation_params={"model": "m"})
        largest = max(largest, len(open_runs()))
        handler.on_llm_error(GeneratorExit(), run_id=model)
        handler.on_chain_end({}, run_id=step)
        _ENDINGS[i % len(_ENDINGS)](handler, root)
    assert largest == 3
    assert len(open_runs()) == 0


@pytest.mark.expect_internal_errors
def test_open_runs_are_bounded_and_overflow_is_counted(instrument, finished_spans, monkeypatch):
    instrument()
    runs = open_runs()
    monkeypatch.setattr(runs, "limit", 2)
    handler = spanmeter_langchain._State.handler
    ids = [uuid.uuid4() for _ in range(4)]
    for run_id in ids:
        handler.on_chain_start(None, {}, run_id=run_id, name="pipeline")
    assert len(runs) == 2 and runs.dropped == 2
    for run_id in ids:
        handler.on_chain_end({}, run_id=run_id)

    assert len(runs) == 0
    assert len(finished_spans()) == 2  # runs beyond the bound get no span, not a truncated one
    assert internal_errors.counts[(COMPONENT, "OverflowError")] == 2


# --- installation ---------------------------------------------------------------------


def test_entry_point_names_the_instrumentor():
    (entry,) = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "spanmeter_langchain"]
    assert entry.load() is LangChainInstrumentor


def test_nothing_is_imported_or_patched_until_the_app_imports_langchain():
    script = (
        "import sys\n"
        "from spanmeter.instrumentation.langchain import LangChainInstrumentor\n"
        "LangChainInstrumentor().instrument()\n"
        "assert not [m for m in sys.modules if m.startswith(('langchain', 'langgraph'))], 'imported early'\n"
        "from langchain_core.callbacks.manager import CallbackManager\n"
        "from spanmeter.instrumentation.langchain.handler import SpanmeterCallbackHandler\n"
        "print([type(h).__name__ for h in CallbackManager(handlers=[]).inheritable_handlers])\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == "['SpanmeterCallbackHandler']"


def test_uninstrument_stops_spans(instrument, finished_spans):
    instrument()
    model = chat_model(fakes.server(CHAT_BODY))
    model.invoke("hi")
    for instrumentor in (LangChainInstrumentor(), OpenAIInstrumentor()):
        instrumentor.uninstrument()
    model.invoke("again")
    assert [span.name for span in finished_spans()] == [CHAT]
    assert len(open_runs()) == 0
