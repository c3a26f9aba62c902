"""The conventions table: each library's names read as GenAI's, and calls priced once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price
from opentelemetry import trace

from spanmeter import conventions, semconv
from spanmeter.pipeline.config import processor_setting_keys
from spanmeter.processing.rollup import CostRollup
from spanmeter.settings import ConfigError, Settings
from support.processing import Pipeline

MODEL = "gpt-4o-mini-2024-07-18"
OPENINFERENCE_LLM = {
    "openinference.span.kind": "LLM", "llm.provider": "openai", "llm.system": "openai", "llm.model_name": MODEL,
    "llm.token_count.prompt": 3000, "llm.token_count.completion": 200,
    "llm.token_count.prompt_details.cache_read": 2048, "session.id": "conv-1",
}  # fmt: skip


def usd(input_tokens: int, output_tokens: int, **usage: int) -> float:
    usage_ = Usage(input_tokens=input_tokens, output_tokens=output_tokens, **usage)
    return float(calc_price(usage_, model_ref=MODEL, provider_id="openai").total_price)


def test_a_genai_span_is_read_directly_and_others_through_their_table():
    genai = {"gen_ai.operation.name": "chat"}.get
    assert conventions.reader(genai) is genai
    get = conventions.reader(OPENINFERENCE_LLM.get)
    assert get(semconv.GEN_AI_OPERATION_NAME) == "chat"
    assert get(semconv.GEN_AI_PROVIDER_NAME) == "openai"
    assert get(semconv.GEN_AI_RESPONSE_MODEL) == MODEL and get(semconv.GEN_AI_REQUEST_MODEL) is None
    assert get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS) == 2048
    assert get(semconv.GEN_AI_CONVERSATION_ID) == "conv-1"
    vercel_span = {"ai.operationId": "ai.streamText.doStream", "ai.model.provider": "anthropic.messages",
                   "ai.usage.inputTokens": 900, "ai.usage.inputTokenDetails.cacheWriteTokens": 700}  # fmt: skip
    vercel = conventions.reader(vercel_span.get)
    assert vercel(semconv.GEN_AI_OPERATION_NAME) == "chat" and vercel(semconv.GEN_AI_PROVIDER_NAME) == "anthropic"
    assert vercel(semconv.GEN_AI_USAGE_INPUT_TOKENS) == 900
    assert vercel(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS) == 700
    assert (
        conventions.reader({"traceloop.span.kind": "workflow"}.get)(semconv.GEN_AI_OPERATION_NAME) == "invoke_workflow"
    )
    assert conventions.reader({"traceloop.span.kind": "task"}.get)(semconv.GEN_AI_OPERATION_NAME) is None


def test_a_library_that_counts_cached_input_apart_gets_it_added():
    apart = conventions.Convention(
        name="apart", marker="x.kind", names={semconv.GEN_AI_USAGE_INPUT_TOKENS: ("x.in",),
                                              semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: ("x.cached",)},
        input_includes_cache=False,
    )  # fmt: skip
    get = conventions._Translated(apart, {"x.in": 100, "x.cached": 900}.get).get
    assert get(semconv.GEN_AI_USAGE_INPUT_TOKENS) == 1000


def test_openinference_call_priced_with_its_cache_reads_and_its_agent_totals_not_priced():
    with Pipeline() as pipeline:
        agent_attributes = {"openinference.span.kind": "AGENT", "agent.name": "planner",
                            "llm.token_count.prompt": 3000, "llm.token_count.completion": 200}  # fmt: skip
        agent = pipeline.span("planner", agent_attributes, end=False)
        pipeline.span("ChatCompletion", OPENINFERENCE_LLM, parent=agent)
        agent.end()
        spans = pipeline.spans()
        expected = usd(3000, 200, cache_read_tokens=2048)
        assert spans["ChatCompletion"].attributes[semconv.COST_USD] == pytest.approx(expected, rel=1e-9)
        assert semconv.COST_SOURCE not in spans["planner"].attributes
        assert spans["planner"].attributes[semconv.COST_TOTAL_USD] == pytest.approx(expected, rel=1e-9)
        assert pipeline.value(semconv.METRIC_COST, **{semconv.GEN_AI_AGENT_NAME: "planner"}) == pytest.approx(expected)
        assert pipeline.value(semconv.GEN_AI_CLIENT_TOKEN_USAGE, **{"gen_ai.token.type": "input"}) == 3000


def test_the_outer_call_of_another_library_is_priced_below_also_across_batches():
    with Pipeline() as pipeline:
        outer = pipeline.provider.get_tracer("openinference.instrumentation.langchain").start_span(
            "ChatOpenAI", attributes=OPENINFERENCE_LLM
        )
        inner_attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": MODEL, "gen_ai.usage.input_tokens": 3000,
                            "gen_ai.usage.output_tokens": 200}  # fmt: skip
        inner = pipeline.provider.get_tracer("opentelemetry.instrumentation.openai.v2").start_span(
            "chat gpt-4o-mini", context=trace.set_span_in_context(outer), attributes=inner_attributes
        )
        inner.end()
        pipeline.processor.force_flush()  # the inner span goes out in a batch of its own
        outer.end()
        spans = pipeline.spans()
        assert spans["ChatOpenAI"].attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_DESCENDANT
        assert semconv.COST_USD not in spans["ChatOpenAI"].attributes
        assert pipeline.value(semconv.METRIC_COST) == pytest.approx(usd(3000, 200), rel=1e-9)
        assert pipeline.value(semconv.GEN_AI_CLIENT_TOKEN_USAGE, **{"gen_ai.token.type": "input"}) == 3000


def test_the_extra_cost_attributes_setting_names_known_backends_only():
    assert Settings.load({"extra_cost_attributes": "Langfuse, openinference"}).extra_cost_attributes == (
        "langfuse", "openinference",
    )  # fmt: skip
    assert Settings.load({}).extra_cost_attributes is None
    with pytest.raises(ConfigError, match="phoenix"):
        Settings.load({"extra_cost_attributes": "phoenix"})


def test_the_example_pipeline_for_langfuse_and_phoenix_validates_and_writes_their_cost_names():
    path = Path(__file__).resolve().parents[2] / "collector-config" / "spanmeter-pipeline-llm-backends.yaml"
    command = [sys.executable, "-c", "from spanmeter.cli import main; main()", "pipeline", "validate", "--config"]
    run = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60, check=False, env={})
    assert run.returncode == 0 and "valid" in run.stdout, run.stderr
    settings = Settings.load(processor_setting_keys(path, environ={}))
    assert settings.extra_cost_attributes == ("langfuse", "openinference") and settings.reprice is False


def test_a_pydantic_ai_agent_run_with_its_summed_usage_is_an_agent_not_a_call():
    with Pipeline() as pipeline:
        tracer = pipeline.provider.get_tracer("pydantic-ai")
        run_attributes = {"agent_name": "support", "model_name": "gpt-4o-mini", "gen_ai.usage.input_tokens": 3000,
                          "gen_ai.usage.output_tokens": 200, "pydantic_ai.all_messages": "[]"}  # fmt: skip
        run = tracer.start_span("support run", attributes=run_attributes)
        chat = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": MODEL,
                "gen_ai.usage.input_tokens": 3000, "gen_ai.usage.output_tokens": 200}  # fmt: skip
        tracer.start_span("chat gpt-4o-mini", context=trace.set_span_in_context(run), attributes=chat).end()
        run.end()
        spans = pipeline.spans()
        assert semconv.COST_SOURCE not in spans["support run"].attributes
        assert spans["support run"].attributes[semconv.COST_TOTAL_USD] == pytest.approx(usd(3000, 200), rel=1e-9)
        assert pipeline.value(semconv.METRIC_COST, **{semconv.GEN_AI_AGENT_NAME: "support"}) == pytest.approx(
            usd(3000, 200), rel=1e-9
        )


def test_older_openllmetry_cache_names_are_read_when_a_span_carries_them():
    older = {"gen_ai.system": "openai", "gen_ai.request.model": MODEL, "llm.request.type": "chat",
             "gen_ai.usage.prompt_tokens": 3000, "gen_ai.usage.completion_tokens": 200,
             "gen_ai.usage.cache_read_input_tokens": 2048}  # fmt: skip
    with Pipeline() as pipeline:
        pipeline.span("openai.chat", older)
        span = pipeline.spans()["openai.chat"]
        expected = usd(3000, 200, cache_read_tokens=2048)
        assert span.attributes[semconv.COST_USD] == pytest.approx(expected, rel=1e-9)


def test_the_calls_beneath_a_span_say_which_library_made_them():
    rollup = CostRollup()
    assert rollup.call_below(3, 1, "spanmeter") is None  # spanmeter's own call under 1
    assert rollup.call_below(2, 1, None) is None  # a plain span in between changes nothing
    assert rollup.call_below(1, None, "spanmeter") == "spanmeter"
    assert rollup.call_below(6, 5, "spanmeter") is None
    assert rollup.call_below(7, 5, "opentelemetry.instrumentation.openai.v1") is None
    assert rollup.call_below(5, None, "spanmeter") not in (None, "spanmeter")  # two libraries


def test_one_library_outer_call_over_its_own_inner_call_is_priced_once():
    """Not only across libraries: OpenLIT, say, uses one tracer for its framework and SDK spans."""
    with Pipeline() as pipeline:
        tracer = pipeline.provider.get_tracer("openlit.otel.tracing")
        chat = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": MODEL,
                "gen_ai.usage.input_tokens": 3000, "gen_ai.usage.output_tokens": 200}  # fmt: skip
        outer = tracer.start_span("langchain chat", attributes=chat)
        tracer.start_span("openai chat", context=trace.set_span_in_context(outer), attributes=chat).end()
        outer.end()
        spans = pipeline.spans()
        assert spans["langchain chat"].attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_DESCENDANT
        assert pipeline.value(semconv.METRIC_COST) == pytest.approx(usd(3000, 200), rel=1e-9)
