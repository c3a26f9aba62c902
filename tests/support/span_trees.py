"""Realistic finished span trees for enrichment tests, built with the real SDK (no spanmeter
processor), plus readers that turn enriched SDK spans, enriched OTLP protobuf spans and
both metric sinks into plain values that compare with ``==``.

One tree: a workflow runs an agent (LLM calls under the current and the older GenAI
attribute names, a stream without usage, a model without a price, a failing tool), a
stage with data volume, quality and freshness and an LLM call below it, and a stage with
data volume and nothing priced below it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from spanmeter.otlp.anyvalue import to_python
from spanmeter.processing.aggregator import MetricAggregator

T0 = 1_772_000_000 * 10**9
SECOND = 10**9


def _llm(model: str, input_tokens: int | None, output_tokens: int | None, *, old_names: bool = False) -> dict:
    if old_names:
        usage = {"gen_ai.usage.prompt_tokens": input_tokens, "gen_ai.usage.completion_tokens": output_tokens}
        provider = {"gen_ai.system": "openai"}
    else:
        usage = {"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens}
        provider = {"gen_ai.provider.name": "openai"}
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model, **provider, **usage}
    return {key: value for key, value in attributes.items() if value is not None}


def _agent(name: str, **extra: Any) -> dict:
    return {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, **extra}


class TreeBuilder:
    """Builds trees one after another on a private TracerProvider; ``spans()`` returns them all."""

    def __init__(self, service: str = "shop"):
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("trees")
        self.start = T0

    def _span(self, name: str, attributes: dict, parent: Any, start: int, seconds: float, error: str | None = None):
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(name, context=context, attributes=attributes, start_time=start)
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=start + int(seconds * SECOND))
        return span

    def tree(self, *, llm_seconds: float = 0.5) -> None:
        """One workflow tree starting where the previous one ended; ``llm_seconds`` is the
        first LLM call's duration (make it long to provoke a latency anomaly)."""
        t = self.start
        tracer = self.tracer
        workflow = tracer.start_span(
            "invoke_workflow checkout", attributes={"gen_ai.operation.name": "invoke_workflow"}, start_time=t
        )
        agent = tracer.start_span(
            "invoke_agent planner",
            context=trace.set_span_in_context(workflow),
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "planner",
                "spanmeter.team": "growth",
            },
            start_time=t,
        )
        self._span("chat gpt-4o-mini", _llm("gpt-4o-mini", 1000, 100), agent, t, llm_seconds)
        self._span("chat gpt-4o", _llm("gpt-4o", 2000, 50, old_names=True), agent, t, 0.8)
        self._span("chat stream", _llm("gpt-4o-mini", None, None), agent, t, 0.3)
        self._span("chat private", _llm("acme-private-7b", 500, 5), agent, t, 0.2)
        self._span(
            "execute_tool search",
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
            agent, t, 0.1, error="TimeoutError",
        )  # fmt: skip
        agent.end(end_time=t + 2 * SECOND)
        stage_attributes = {
            "spanmeter.operation.name": "run_stage", "spanmeter.data.bytes": 2_000_000_000,
            "spanmeter.data.records": 5000, "spanmeter.data.source": "s3://events",
            "spanmeter.data.quality.completeness": 0.97, "spanmeter.data.freshness_s": 42.5,
        }  # fmt: skip
        stage = tracer.start_span(
            "run_stage load", context=trace.set_span_in_context(workflow), attributes=stage_attributes, start_time=t
        )
        self._span("chat summarize", _llm("gpt-4o-mini", 300, 30), stage, t, 0.4)
        stage.end(end_time=t + 3 * SECOND)
        copy = {
            "spanmeter.operation.name": "run_stage",
            "spanmeter.data.bytes": 1_000_000,
            "spanmeter.data.source": "db",
        }
        self._span("run_stage copy", copy, workflow, t, 1.0)
        workflow.end(end_time=t + 4 * SECOND)
        self.start = t + 5 * SECOND

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def open(self, name: str, attributes: dict, parent: Any = None, start: int | None = None):
        """A span left open (end it with ``.end(end_time=...)``), children before parents as in real runs."""
        context = trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(name, context=context, attributes=attributes, start_time=start or self.start)

    def agents(self) -> None:
        """Agent runs as spanmeter's and other vendors' instrumentors write them, one trace each:

        * a LangGraph agent with tools (``invoke_agent`` named on the agent span; its chat calls sit
          under graph-node spans without an operation, its tool call under the ``tools`` node);
        * a ``create_agent`` agent whose call is old-style (``gen_ai.system``, prompt/completion tokens);
        * an Agno team whose leader's calls name the team and whose member agent runs inside it;
        * another vendor's bare ``invoke_agent`` span (OpenAI Agents style) naming the agent, with an
          LLM span carrying usage but no operation name, a failed call and a stream without usage.
        """
        t, tree = self.start, self._tree
        with tree("invoke_agent support-graph", _agent("support-graph", **{"user.id": "ana"})) as graph:
            with tree("model", {}, graph) as node:
                self._span("chat gpt-4o-mini", _llm("gpt-4o-mini", 1200, 80), node, t, 0.6)
            with tree("tools", {}, graph) as node:
                self._span("execute_tool search", {"gen_ai.operation.name": "execute_tool",
                                                   "gen_ai.tool.name": "search"}, node, t, 0.2)  # fmt: skip
            with tree("model", {}, graph) as node:
                self._span("chat gpt-4o-mini", _llm("gpt-4o-mini", 1500, 60), node, t, 0.5)
        with tree("create_agent writer", {"gen_ai.operation.name": "create_agent", "gen_ai.agent.name": "writer"}) as w:
            self._span("chat gpt-4o", _llm("gpt-4o", 800, 200, old_names=True), w, t, 0.9)
        with tree("invoke_agent research team", _agent("research team", **{"spanmeter.team": "growth"})) as team:
            self._span("chat gpt-4o-mini", {**_llm("gpt-4o-mini", 300, 20), "gen_ai.agent.name": "research team"},
                       team, t, 0.3)  # fmt: skip
            with tree("invoke_agent weather agent", _agent("weather agent"), team) as member:
                self._span("chat gpt-4o-mini", _llm("gpt-4o-mini", 110, 11), member, t, 0.2)
                self._span("execute_tool get_weather", {"gen_ai.operation.name": "execute_tool",
                                                        "gen_ai.tool.name": "get_weather"}, member, t, 0.1)  # fmt: skip
                self._span("chat gpt-4o-mini", _llm("gpt-4o-mini", 120, 12), member, t, 0.2)
            self._span("chat gpt-4o-mini", {**_llm("gpt-4o-mini", 500, 30), "gen_ai.agent.name": "research team"},
                       team, t, 0.3)  # fmt: skip
        with tree("invoke_agent", {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage"}) as agent:
            bare = {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 700, "gen_ai.usage.output_tokens": 40}  # fmt: skip
            self._span("response", bare, agent, t, 0.7)
            self._span("chat gpt-4o-mini", _llm("gpt-4o-mini", None, None), agent, t, 0.1, error="429")
            self._span("chat gpt-4o-mini", _llm("gpt-4o-mini", None, None), agent, t, 0.4)  # a stream without usage
        self._vendor_mix(t)
        self.start = t + 5 * SECOND

    def _vendor_mix(self, t: int) -> None:
        """OpenInference's agent span (its calls' usage summed on it) over OpenInference's LangChain
        model span over OpenLLMetry's openai span: one call seen by two libraries, priced once."""
        usage = {"llm.token_count.prompt": 900, "llm.token_count.completion": 90}
        agent = {"openinference.span.kind": "AGENT", "agent.name": "mixer", **usage}
        agent = self.provider.get_tracer("openinference.instrumentation.langchain").start_span(
            "mixer", attributes=agent, start_time=t
        )
        model = {"openinference.span.kind": "LLM", "llm.provider": "openai", "llm.model_name": "gpt-4o-mini", **usage}
        model = self.provider.get_tracer("openinference.instrumentation.langchain").start_span(
            "ChatOpenAI", context=trace.set_span_in_context(agent), attributes=model, start_time=t
        )
        call = {**_llm("gpt-4o-mini", 900, 90), "gen_ai.response.id": "chatcmpl-mix"}
        self.provider.get_tracer("opentelemetry.instrumentation.openai.v1").start_span(
            "openai.chat", context=trace.set_span_in_context(model), attributes=call, start_time=t
        ).end(end_time=t + SECOND // 2)
        model.end(end_time=t + SECOND)
        agent.end(end_time=t + 2 * SECOND)

    def _tree(self, name: str, attributes: dict, parent: Any = None) -> contextlib.AbstractContextManager:
        """``with`` a span that ends after what is made inside it (at the tree's start + 2 s)."""

        @contextlib.contextmanager
        def opened():
            span = self.open(name, attributes, parent)
            yield span
            span.end(end_time=self.start + 2 * SECOND)

        return opened()


def sdk_span_results(spans: Iterable[ReadableSpan]) -> dict[int, tuple[str, dict, list]]:
    """span id -> (name, attributes, events as (name, attributes, time)) of SDK spans."""
    return {
        span.context.span_id: (
            span.name,
            dict(span.attributes),
            [(event.name, dict(event.attributes), event.timestamp) for event in span.events],
        )
        for span in spans
    }


def proto_span_results(request: ExportTraceServiceRequest) -> dict[int, tuple[str, dict, list]]:
    """The same for the spans of an OTLP request (attribute keys must be unique)."""
    found = {}
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                keys = [kv.key for kv in span.attributes]
                assert len(keys) == len(set(keys)), f"duplicate attribute keys on {span.name}"
                found[int.from_bytes(span.span_id, "big")] = (
                    span.name,
                    {kv.key: to_python(kv.value) for kv in span.attributes},
                    [
                        (event.name, {kv.key: to_python(kv.value) for kv in event.attributes}, event.time_unix_nano)
                        for event in span.events
                    ],
                )
    return found


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def aggregator_points(aggregator: MetricAggregator, skip: Iterable[str] = ()) -> set[tuple]:
    """(metric, attributes, value) of every series; histograms as (buckets, sum, count, min, max)."""
    skip = set(skip)
    return {
        (point.metric, frozenset(point.attributes.items()), _freeze(point.value))
        for point in aggregator.points()
        if point.metric not in skip
    }


def reader_points(reader: InMemoryMetricReader, skip: Iterable[str] = ()) -> set[tuple]:
    """The same shape from an SDK metric reader (spanmeter's scope only)."""
    skip = set(skip)
    found = set()
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope.name != "spanmeter":
                continue
            for metric in scope_metrics.metrics:
                if metric.name in skip:
                    continue
                for point in metric.data.data_points:
                    if hasattr(point, "bucket_counts"):
                        value = (tuple(point.bucket_counts), point.sum, point.count, point.min, point.max)
                    else:
                        value = point.value
                    found.add((metric.name, frozenset(point.attributes.items()), value))
    return found


def sampling_mix(tracer: trace.Tracer, warm_up: int = 10) -> None:
    """Traces as a web app with an agent makes them, for tail sampling: each under a SERVER root
    without spanmeter attributes of its own. ``warm_up`` cheap searches (a tool call and a
    database query) teach the anomaly baseline; then an expensive report (an agent with two
    LLM calls), a cheap greeting (one small LLM call), a refund whose tool fails and a search
    whose tool call takes 30 s (a latency anomaly). LLM calls use model ``m`` of provider
    ``test``: price it with :data:`SAMPLING_PRICES`."""
    start = T0

    def span(name: str, attributes: dict, parent: Any, seconds: float, *, error: bool = False, kind=None):
        context = trace.set_span_in_context(parent) if parent is not None else None
        options = {"kind": kind} if kind is not None else {}
        opened = tracer.start_span(name, context=context, attributes=attributes, start_time=start, **options)
        if error:
            opened.set_attribute("error.type", "RefundRejected")
            opened.set_status(Status(StatusCode.ERROR, "refund rejected"))
        return opened, start + int(seconds * SECOND)

    def request(name: str, children: list[tuple[str, dict, float, bool]], *, agent: bool = False) -> None:
        nonlocal start
        root, root_end = span(name, {"http.request.method": name.split()[0]}, None, 40.0, kind=trace.SpanKind.SERVER)
        parent, parent_end = span("invoke_agent writer", _agent("writer"), root, 39.0) if agent else (root, None)
        for child_name, attributes, seconds, error in children:
            child, child_end = span(child_name, attributes, parent, seconds, error=error)
            child.end(end_time=child_end)
        if parent_end is not None:
            parent.end(end_time=parent_end)
        root.end(end_time=root_end)
        start += 60 * SECOND

    search = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
    for i in range(warm_up):
        request("GET /search", [("execute_tool search", search, 0.10 + 0.01 * (i % 3), False),
                                ("SELECT orders", {"db.system.name": "postgresql"}, 0.02, False)])  # fmt: skip
    request("POST /report", [("chat m", _test_llm(200_000, 10_000), 2.0, False),
                             ("chat m", _test_llm(100_000, 5_000), 1.0, False)], agent=True)  # fmt: skip
    request("POST /hello", [("chat m", _test_llm(1_000, 100), 0.5, False)])
    refund = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "refund"}
    request("POST /refund", [("execute_tool refund", refund, 0.2, True)])
    request("GET /slow-search", [("execute_tool search", search, 30.0, False)])


SAMPLING_PRICES = "test:\n  m: {input: 1, output: 2}\n"
"""Model ``m`` of provider ``test`` at $1 per million input tokens and $2 per million output tokens."""
SAMPLING_ROOT_COSTS = {"POST /report": 0.3 + 0.03, "POST /hello": 0.001 + 0.0002}
"""The roll-up each priced root of :func:`sampling_mix` must carry."""


def _test_llm(input_tokens: int, output_tokens: int) -> dict:
    return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "test", "gen_ai.request.model": "m",
            "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens}  # fmt: skip
