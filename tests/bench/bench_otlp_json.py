"""OTLP/JSON encode and parse: the OpenTelemetry project's packages against protobuf's JSON mapping.

    python tests/bench/bench_otlp_json.py [--spans 512] [--rounds 20]

spanmeter_file writes SDK spans with ``opentelemetry-exporter-otlp-json-common``
(``spans_line``); the alternative it replaced is the SDK's protobuf encoder followed
by protobuf's JSON printer with hex ids (``to_json_line``, still used for requests that
are protobuf already). Reading goes through spanmeter's one tolerant decoder
(``spanmeter.otlp.json_codec``): its traces fast path building protobuf messages (the
pipeline's JSON receiver, ``read_trace_requests``) and its read-only walk into plain
records (``spanmeter report``), against protobuf's generic parser, which they replaced,
and ``opentelemetry-proto-json``'s parser (its own classes, not protobuf's; hex ids
only), timed for reference. Milliseconds per batch of LLM-like spans (~10 attributes),
medians of ``--rounds``, all in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto_json.collector.trace.v1.trace_service import (
    ExportTraceServiceRequest as JSONExportTraceServiceRequest,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter.export.otlp_json import spans_line
from spanmeter.otlp.json_codec import decode, to_json_line
from spanmeter.report.reader import spans_of_json


def llm_spans(count: int) -> tuple[ReadableSpan, ...]:
    """``count`` finished spans under one root, each with ten GenAI-like attributes."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    with tracer.start_as_current_span("workflow"):
        for i in range(count - 1):
            attributes = {
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                "gen_ai.response.id": f"chatcmpl-{i}", "gen_ai.usage.input_tokens": 100 + i,
                "gen_ai.usage.output_tokens": 20, "gen_ai.response.finish_reasons": ("stop",),
                "server.address": "api.openai.com", "spanmeter.cost.usd": 0.0012,
            }  # fmt: skip
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attributes):
                pass
    return exporter.get_finished_spans()


def median_ms(function: Callable[[], object], rounds: int) -> float:
    function()
    times = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        function()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1e6


def measure(spans: int, rounds: int) -> dict[str, float]:
    batch = llm_spans(spans)
    line = spans_line(batch)
    base64_line = json_format.MessageToJson(encode_spans(batch), indent=None)
    if decode(line, ExportTraceServiceRequest) != encode_spans(batch):
        raise AssertionError("spans_line does not read back as the SDK's own OTLP encoding")
    return {
        "encode: otlp-json-common (spanmeter_file)": median_ms(lambda: spans_line(batch), rounds),
        "encode: protobuf + json_format, hex ids": median_ms(lambda: to_json_line(encode_spans(batch)), rounds),
        "parse: json_codec.decode -> protobuf": median_ms(lambda: decode(line, ExportTraceServiceRequest), rounds),
        "parse: json_codec.flat_spans -> report records": median_ms(lambda: spans_of_json(line), rounds),
        "parse: json_format.Parse (base64 ids)": median_ms(
            lambda: json_format.Parse(base64_line, ExportTraceServiceRequest()), rounds
        ),
        "parse: proto-json -> its own classes": median_ms(
            lambda: JSONExportTraceServiceRequest.from_json(line), rounds
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"ms per batch of {args.spans} spans (medians of {args.rounds})")
    for name, value in measure(args.spans, args.rounds).items():
        print(f"{name:48} {value:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
