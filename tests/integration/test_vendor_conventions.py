"""Spans of other instrumentation libraries, priced once, in process and in the pipeline.

Each library's spans come from the real library where it installs from PyPI (OpenInference's
and OpenLLMetry's openai instrumentors, over the openai SDK's own HTTP layer with the fakes of
``tests/bench/llm_fakes.py``), else are built from the attributes its conventions document
(the sources :mod:`spanmeter.conventions` cites). They go through the in-process
SpanmeterProcessor and through ``spanmeter pipeline`` over OTLP/gRPC on 127.0.0.1, one export
request per span; the expected prices are genai-prices' own calculation for the same usage.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager

import pytest
from genai_prices import Usage, calc_price
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from bench import llm_fakes
from spanmeter import semconv
from support.pipeline import attributes, basic_config, otlp_sink, running_pipeline
from support.processing import T0, Pipeline

MODEL, SERVED = llm_fakes.OPENAI_MODEL, llm_fakes.OPENAI_RESPONSE_MODEL
IN, OUT = llm_fakes.INPUT_TOKENS, llm_fakes.OUTPUT_TOKENS
Emit = Callable[[TracerProvider], None]


def genai_prices_usd(model: str = SERVED, input_tokens: int = IN, output_tokens: int = OUT, **usage: int) -> float:
    usage_ = Usage(input_tokens=input_tokens, output_tokens=output_tokens, **usage)
    return float(calc_price(usage_, model_ref=model, provider_id="openai").total_price)


@pytest.fixture
def in_process():
    """``in_process(emit, settings)``: the spans ``emit`` makes as the in-process processor exports
    them (name -> attributes), and its Pipeline to read metrics from (shut down after the test)."""
    pipelines: list[Pipeline] = []

    def run(emit: Emit, settings: dict | None = None) -> tuple[dict[str, dict], Pipeline]:
        pipeline = Pipeline(settings)
        pipelines.append(pipeline)
        emit(pipeline.provider)
        pipeline.processor.force_flush()
        return {span.name: dict(span.attributes) for span in pipeline.exporter.get_finished_spans()}, pipeline

    yield run
    for pipeline in pipelines:
        pipeline.__exit__(None, None, None)


def through_pipeline(tmp_path, emit: Emit, count: int, settings: str = "{}") -> dict[str, dict]:
    """The spans ``emit`` makes, sent one export request each to ``spanmeter pipeline`` over
    OTLP/gRPC, as its exporter delivers them: name -> attributes."""
    config = basic_config("{sink}").replace("spanmeter: {}", f"spanmeter: {settings}")
    with otlp_sink() as sink, running_pipeline(tmp_path, config.replace("{sink}", sink.endpoint)) as pipeline:
        provider = TracerProvider(resource=Resource.create({"service.name": "vendor-app"}))
        exporter = OTLPSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        emit(provider)
        provider.shutdown()
        spans = sink.wait_for_spans(count)
    return {span.name: attributes(span) for span in spans}


def _openai_class_attributes() -> dict[tuple[type, str], object]:
    """Every attribute of every class the loaded ``openai`` modules define, by (class, name)."""
    found = {}
    for name, module in list(sys.modules.items()):
        if name == "openai" or name.startswith("openai."):
            for value in list(vars(module).values()):
                if isinstance(value, type) and value.__module__.startswith("openai"):
                    found.update(((value, key), attribute) for key, attribute in list(vars(value).items()))
    return found


@contextmanager
def instrumented(instrumentor, provider: TracerProvider):
    """Another library's instrumentor applied for the block. OpenLLMetry's openai ``uninstrument()``
    leaves its wrapper on ``Completions.create``, which would then wrap every later test's calls:
    what the block changed on openai's classes is put back as it was."""
    before = _openai_class_attributes()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()
        for (cls, key), attribute in before.items():
            if vars(cls).get(key) is not attribute:
                setattr(cls, key, attribute)


def openinference_openai(provider: TracerProvider) -> None:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    with instrumented(OpenAIInstrumentor(), provider):
        llm_fakes.openai_chat(llm_fakes.openai_client())


def openllmetry_openai(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    with instrumented(OpenAIInstrumentor(), provider):
        llm_fakes.openai_chat(llm_fakes.openai_client())


def documented(scope: str, name: str, attributes_: dict) -> Emit:
    """One span of library ``scope`` carrying its documented attributes."""

    def emit(provider: TracerProvider) -> None:
        provider.get_tracer(scope).start_span(name, attributes=attributes_, start_time=T0).end(T0 + 10**9)

    return emit


def vercel_generate_text(provider: TracerProvider) -> None:
    """``generateText``: the whole call (usage summed over its steps) over one provider call."""
    tracer = provider.get_tracer("ai")
    usage = {"ai.model.id": MODEL, "ai.model.provider": "openai.chat", "ai.usage.promptTokens": IN,
             "ai.usage.completionTokens": OUT}  # fmt: skip
    outer = tracer.start_span("ai.generateText", attributes={"ai.operationId": "ai.generateText", **usage})
    with trace.use_span(outer, end_on_exit=True):
        tracer.start_span("ai.generateText.doGenerate", attributes={
            "ai.operationId": "ai.generateText.doGenerate", **usage, "ai.response.id": "resp-vercel-1",
            "ai.response.model": SERVED, "gen_ai.system": "openai.chat", "gen_ai.request.model": MODEL,
            "gen_ai.usage.prompt_tokens": IN, "gen_ai.usage.completion_tokens": OUT,
        }).end()  # fmt: skip


OPENLIT_CHAT = {  # openlit/openlit sdk/python/src/openlit/semcov: GenAI names and gen_ai.usage.cost
    "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": MODEL,
    "gen_ai.response.model": SERVED, "gen_ai.usage.input_tokens": IN, "gen_ai.usage.output_tokens": OUT,
}  # fmt: skip
PYDANTIC_AI_CHAT = {  # pydantic_ai/models/instrumented.py: GenAI names and operation.cost
    "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": MODEL,
    "gen_ai.response.model": SERVED, "gen_ai.usage.input_tokens": IN, "gen_ai.usage.output_tokens": OUT,
    "gen_ai.response.id": "chatcmpl-pydantic",
}  # fmt: skip

LIBRARIES = {
    "openinference": (openinference_openai, "ChatCompletion"),
    "openllmetry": (openllmetry_openai, "openai.chat"),
    "vercel-ai": (vercel_generate_text, "ai.generateText.doGenerate"),
}


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_each_library_call_is_priced_as_genai_prices_prices_it(tmp_path, in_process, library):
    emit, call = LIBRARIES[library]
    spans, pipeline = in_process(emit)
    forwarded = through_pipeline(tmp_path, emit, len(spans))
    expected = genai_prices_usd()
    for seen in (spans, forwarded):
        assert seen[call][semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
        assert seen[call][semconv.COST_USD] == pytest.approx(expected, rel=1e-9)
        others = [name for name in seen if name != call]
        assert all(semconv.COST_USD not in seen[name] for name in others)  # one call, one price
    assert pipeline.value(semconv.METRIC_COST) == pytest.approx(expected, rel=1e-9)
    assert pipeline.value(semconv.GEN_AI_CLIENT_TOKEN_USAGE, **{"gen_ai.token.type": "input"}) == IN


def test_vercel_whole_call_is_a_workflow_carrying_the_roll_up_not_a_second_price(in_process):
    spans, _ = in_process(vercel_generate_text)
    outer = spans["ai.generateText"]
    assert semconv.COST_SOURCE not in outer
    assert outer[semconv.COST_TOTAL_USD] == pytest.approx(genai_prices_usd(), rel=1e-9)


@pytest.mark.parametrize(
    ("scope", "attributes_", "upstream_key"),
    [("openlit.otel.tracing", OPENLIT_CHAT, "gen_ai.usage.cost"), ("pydantic-ai", PYDANTIC_AI_CHAT, "operation.cost")],
)
def test_an_upstream_cost_is_kept_and_its_drift_counted(tmp_path, in_process, scope, attributes_, upstream_key):
    upstream = round(genai_prices_usd() * 2, 9)  # someone's price table is off by 2x
    emit = documented(scope, "chat gpt-4o-mini", {**attributes_, upstream_key: upstream})
    spans, pipeline = in_process(emit)
    forwarded = through_pipeline(tmp_path, emit, 1)
    for seen in (spans, forwarded):
        (span,) = seen.values()
        assert span[semconv.COST_SOURCE] == semconv.COST_SOURCE_UPSTREAM
        assert span[semconv.COST_USD] == upstream and span[upstream_key] == upstream
    assert pipeline.value(semconv.METRIC_COST) == pytest.approx(upstream)
    assert pipeline.value(semconv.METRIC_COST_UPSTREAM_DRIFT) == 1

    repriced, pipeline = in_process(emit, {"reprice": True})
    (span,) = repriced.values()
    assert span[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
    assert span[semconv.COST_USD] == pytest.approx(genai_prices_usd(), rel=1e-9)
    assert pipeline.value(semconv.METRIC_COST_UPSTREAM_DRIFT) == 1


def test_an_upstream_cost_that_agrees_is_no_drift(in_process):
    agreed = {**OPENLIT_CHAT, "gen_ai.usage.cost": genai_prices_usd()}
    emit = documented("openlit.otel.tracing", "chat gpt-4o-mini", agreed)
    spans, pipeline = in_process(emit)
    assert spans["chat gpt-4o-mini"][semconv.COST_SOURCE] == semconv.COST_SOURCE_UPSTREAM
    assert pipeline.value(semconv.METRIC_COST_UPSTREAM_DRIFT) == 0


OPENINFERENCE_LANGCHAIN = "openinference.instrumentation.langchain"
LANGCHAIN_LLM = {  # OpenInference's LangChain model span (python/openinference-semantic-conventions)
    "openinference.span.kind": "LLM", "llm.provider": "openai", "llm.system": "openai", "llm.model_name": MODEL,
    "llm.token_count.prompt": IN, "llm.token_count.completion": OUT, "llm.token_count.total": IN + OUT,
}  # fmt: skip


def langchain_over_openllmetry(provider: TracerProvider) -> None:
    """OpenInference's LangChain model span over OpenLLMetry's openai span: one call, two vendors."""
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    outer = provider.get_tracer(OPENINFERENCE_LANGCHAIN).start_span("ChatOpenAI", attributes=LANGCHAIN_LLM)
    with trace.use_span(outer, end_on_exit=True), instrumented(OpenAIInstrumentor(), provider):
        llm_fakes.openai_chat(llm_fakes.openai_client())


def test_a_mixed_vendor_trace_is_priced_once_in_process_and_across_export_requests(tmp_path, in_process):
    spans, pipeline = in_process(langchain_over_openllmetry)
    forwarded = through_pipeline(tmp_path, langchain_over_openllmetry, 2)  # one export request per span
    expected = genai_prices_usd()
    for seen in (spans, forwarded):
        assert seen["openai.chat"][semconv.COST_USD] == pytest.approx(expected, rel=1e-9)
        assert seen["ChatOpenAI"][semconv.COST_SOURCE] == semconv.COST_SOURCE_DESCENDANT
        assert semconv.COST_USD not in seen["ChatOpenAI"]
    assert pipeline.value(semconv.METRIC_COST) == pytest.approx(expected, rel=1e-9)
    assert pipeline.value(semconv.GEN_AI_CLIENT_TOKEN_USAGE, **{"gen_ai.token.type": "output"}) == OUT
    durations = pipeline.points(semconv.GEN_AI_CLIENT_OPERATION_DURATION)
    assert sum(point.count for point in durations) == 1


def separate_traces_same_response(provider: TracerProvider) -> None:
    """OpenLLMetry's LangChain span in a trace of its own, over the time of the openai span
    it does not parent, both naming the provider's response id."""
    framework = {**OPENLIT_CHAT, "gen_ai.response.id": "chatcmpl-bench", "traceloop.span.kind": "task"}
    outer = provider.get_tracer("opentelemetry.instrumentation.langchain").start_span(
        "ChatOpenAI.chat", attributes=framework, start_time=T0
    )
    inner = provider.get_tracer("opentelemetry.instrumentation.openai.v1").start_span(
        "openai.chat", context=trace.set_span_in_context(trace.INVALID_SPAN), start_time=T0 + 10**8,
        attributes={**OPENLIT_CHAT, "gen_ai.response.id": "chatcmpl-bench"},
    )  # fmt: skip
    inner.end(T0 + 9 * 10**8)
    outer.end(T0 + 10**9)


def test_spans_of_one_call_in_separate_traces_are_matched_by_response_id(tmp_path, in_process):
    spans, pipeline = in_process(separate_traces_same_response)
    forwarded = through_pipeline(tmp_path, separate_traces_same_response, 2)
    for seen in (spans, forwarded):
        assert seen["openai.chat"][semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
        assert seen["ChatOpenAI.chat"][semconv.COST_SOURCE] == semconv.COST_SOURCE_DESCENDANT
    assert pipeline.value(semconv.METRIC_COST) == pytest.approx(genai_prices_usd(), rel=1e-9)


EXTRA_NAMES = ("gen_ai.usage.cost", "llm.cost.prompt", "llm.cost.completion", "llm.cost.total")


def test_langfuse_and_openinference_cost_names_only_when_the_setting_is_on(tmp_path, in_process):
    emit = documented("app", "chat gpt-4o-mini", OPENLIT_CHAT)
    (plain,) = in_process(emit)[0].values()
    assert plain[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
    assert not set(EXTRA_NAMES) & set(plain)
    on = {"extra_cost_attributes": "langfuse,openinference"}
    (span,) = in_process(emit, on)[0].values()
    (forwarded,) = through_pipeline(tmp_path, emit, 1, "{extra_cost_attributes: [langfuse, openinference]}").values()
    for seen in (span, forwarded):
        assert seen["gen_ai.usage.cost"] == seen["llm.cost.total"] == seen[semconv.COST_USD]
        assert seen["llm.cost.prompt"] + seen["llm.cost.completion"] == pytest.approx(seen["llm.cost.total"])
        assert seen["llm.cost.prompt"] == seen[semconv.COST_INPUT_USD]
