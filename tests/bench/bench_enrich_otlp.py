"""What the pipeline's enrichment costs per OTLP span: decode, enrich in place, encode.

    python tests/bench/bench_enrich_otlp.py [--batches N] [--spans-per-batch 512] [--json]

Batches of 512 LLM spans (10 attributes each, under a few agent spans) arrive as the
serialized bytes of an ``ExportTraceServiceRequest``. Per batch, timed separately on one
core: decode (``FromString``), ``Enricher.enrich_request`` with the ``MetricAggregator``
sink (pricing, roll-up, budgets, anomaly baselines, metrics, span metrics), and encode
(``SerializeToString``). Target: decode + enrich + encode >= 100,000 spans/s.

Beside it, in the same run, the floor: decode, read every attribute of every span, add one
attribute, encode -- what any Python processor of these messages pays before doing
anything. And the attribute-access strategies ``ProtoSpanView`` chose between, over the
keys the stages look up: scan the KeyValue list per lookup, read once into key -> AnyValue
and decode on lookup (chosen), or decode every value up front.

Figures are printed, never asserted; ``test_bench_smoke.py`` runs it with tiny sizes.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from bench_processor import llm_attributes as processor_llm_attributes
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter.otlp.anyvalue import to_python
from spanmeter.processing.aggregator import MetricAggregator
from spanmeter.processing.enricher import Enricher
from spanmeter.processing.span_view import ProtoSpanView
from spanmeter.settings import Settings

TARGET_SPANS_PER_S = 100_000
MODELS = [
    ("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"), ("gcp.gemini", "gemini-2.5-flash"), ("openai", "o3"),
]  # fmt: skip
# What the stages look up on an LLM span (present or not).
LOOKUPS = (
    "gen_ai.operation.name", "spanmeter.operation.name", "error.type", "gen_ai.response.model",
    "gen_ai.request.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.provider.name", "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_write.input_tokens", "spanmeter.cost.source", "gen_ai.agent.name", "spanmeter.team",
    "spanmeter.data.bytes",
)  # fmt: skip


def llm_attributes(i: int, provider: str, model: str) -> dict:
    """Ten attributes, as an instrumentation sets them on a chat span: bench_processor's usage
    attributes plus the response id, finish reasons and server address."""
    return {
        **processor_llm_attributes(i, provider, model),
        "gen_ai.response.id": f"chatcmpl-{i}",
        "gen_ai.response.finish_reasons": ("stop",),
        "server.address": "api.example.com",
    }


def payload(spans: int, batch: int) -> bytes:
    """Serialized request: ``spans`` chat spans under agent spans, from a fresh set of ids each batch."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    agents = [
        tracer.start_span(f"invoke_agent a{i}", attributes={"gen_ai.operation.name": "invoke_agent"}) for i in range(8)
    ]
    for i in range(spans):
        provider_name, model = MODELS[(i + batch) % len(MODELS)]
        context = trace.set_span_in_context(agents[i % len(agents)])
        tracer.start_span(f"chat {model}", context=context, attributes=llm_attributes(i, provider_name, model)).end()
    request = encode_spans(exporter.get_finished_spans())
    provider.shutdown()
    return request.SerializeToString()


def _timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.thread_time_ns()
    result = function()
    return time.thread_time_ns() - start, result


def pipeline(payloads: list[bytes], spans: int, repeats: int) -> dict:
    """µs per span of decode, enrich, encode (medians over ``repeats`` passes over every payload)."""
    settings = Settings.load({"span_metrics": True, "budget_daily_usd": 1e9}, environ={})
    enricher = Enricher.from_settings(settings, metrics_sink=MetricAggregator(add_service_name=True))
    enricher.enrich_request(ExportTraceServiceRequest.FromString(payloads[0]))  # warm-up: prices resolved
    figures = {"decode": [], "enrich": [], "encode": []}
    for _ in range(repeats):
        totals = dict.fromkeys(figures, 0)
        gc.disable()
        for data in payloads:
            elapsed, request = _timed(lambda data=data: ExportTraceServiceRequest.FromString(data))
            totals["decode"] += elapsed
            elapsed, _ = _timed(lambda request=request: enricher.enrich_request(request))
            totals["enrich"] += elapsed
            elapsed, _ = _timed(request.SerializeToString)
            totals["encode"] += elapsed
        gc.enable()
        for name, total in totals.items():
            figures[name].append(total / (spans * len(payloads)) / 1e3)
    return {name: statistics.median(values) for name, values in figures.items()}


def _floor_pass(data: bytes) -> int:
    request = ExportTraceServiceRequest.FromString(data)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                for kv in span.attributes:
                    to_python(kv.value)
                span.attributes.add(key="floor.seen").value.bool_value = True
    return len(request.SerializeToString())


def floor(payloads: list[bytes], spans: int, repeats: int) -> float:
    """µs per span: decode, read every attribute, add one, encode."""
    timings = []
    for _ in range(repeats):
        gc.disable()
        start = time.thread_time_ns()
        for data in payloads:
            _floor_pass(data)
        timings.append((time.thread_time_ns() - start) / (spans * len(payloads)) / 1e3)
        gc.enable()
    return statistics.median(timings)


def _scan(span) -> None:
    for key in LOOKUPS:
        for kv in span.attributes:
            if kv.key == key:
                to_python(kv.value)
                break


def _read_once_lazy(span) -> None:
    view = ProtoSpanView(span, None)
    for key in LOOKUPS:
        view.get(key)


def _decode_all(span) -> None:
    values = {kv.key: to_python(kv.value) for kv in span.attributes}
    for key in LOOKUPS:
        values.get(key)


def access_strategies(data: bytes, repeats: int) -> dict:
    """µs per span of looking up LOOKUPS under each strategy."""
    spans = [span for rs in ExportTraceServiceRequest.FromString(data).resource_spans
             for ss in rs.scope_spans for span in ss.spans]  # fmt: skip
    found = {}
    for name, strategy in (("scan", _scan), ("read_once_lazy", _read_once_lazy), ("decode_all", _decode_all)):
        timings = []
        for _ in range(repeats):
            start = time.thread_time_ns()
            for span in spans:
                strategy(span)
            timings.append((time.thread_time_ns() - start) / len(spans) / 1e3)
        found[name] = statistics.median(timings)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--spans-per-batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)
    spans = args.spans_per_batch
    payloads = [payload(spans, batch) for batch in range(args.batches)]
    timed = pipeline(payloads, spans, args.repeats)
    floor_us = floor(payloads, spans, args.repeats)
    access = access_strategies(payloads[0], args.repeats)
    total_us = timed["decode"] + timed["enrich"] + timed["encode"]
    results = {
        **{f"{name}_us": value for name, value in timed.items()},
        "total_us": total_us,
        "spans_per_s": 1e6 / total_us,
        "enrich_spans_per_s": 1e6 / timed["enrich"],
        "floor_us": floor_us,
        "floor_spans_per_s": 1e6 / floor_us,
        **{f"access_{name}_us": value for name, value in access.items()},
    }
    verdict = "meets target" if results["spans_per_s"] >= TARGET_SPANS_PER_S else "MISSES target"
    print(f"OTLP enrichment, {args.batches} batches x {spans} LLM spans (10 attributes), one core, µs/span:")
    print(f"  decode {timed['decode']:.2f}  enrich {timed['enrich']:.2f}  encode {timed['encode']:.2f}  "
          f"= {total_us:.2f} -> {results['spans_per_s']:,.0f} spans/s, "
          f"target >= {TARGET_SPANS_PER_S:,}: {verdict}")  # fmt: skip
    print(f"  enrich alone: {results['enrich_spans_per_s']:,.0f} spans/s (aggregator sink, span metrics on)")
    print(
        f"  floor (decode + read every attribute + add one + encode): {floor_us:.2f} "
        f"-> {results['floor_spans_per_s']:,.0f} spans/s; spanmeter = {total_us / floor_us:.2f}x the floor"
    )
    print(
        f"  attribute access for {len(LOOKUPS)} lookups: scan {access['scan']:.2f}, "
        f"read once + lazy decode {access['read_once_lazy']:.2f} (used), decode all {access['decode_all']:.2f}"
    )
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
