"""Traces files for report tests: spans through the real SDK and SpanmeterProcessor, or OTLP/JSON
written directly (fast enough for a million spans).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from spanmeter.export.otlp_file import OTLPFileSpanExporter
from spanmeter.processing import SpanmeterProcessor
from spanmeter.settings import Settings

BASE_NS = 1_767_000_000 * 10**9  # 2025-12-29, a fixed clock for generated spans


@dataclass
class Call:
    """One span to write through the SDK: times in ns from BASE_NS, attributes as the app would set them."""

    name: str
    start_ns: int
    duration_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    error: bool = False
    children: list[Call] = field(default_factory=list)


def write_with_sdk(path: str | os.PathLike[str], roots: Iterable[Call], service: str = "svc", **settings: Any) -> None:
    """Each root (and its children) as one trace, enriched by a SpanmeterProcessor into a spanmeter_file."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    processor = SpanmeterProcessor(OTLPFileSpanExporter(path), settings=Settings.load(settings),
                                   meter_provider=MeterProvider())  # fmt: skip
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("spanmeter")

    def emit(call: Call) -> None:
        span = tracer.start_span(call.name, attributes=call.attributes, start_time=BASE_NS + call.start_ns)
        with trace.use_span(span, end_on_exit=False):
            for child in call.children:
                emit(child)
        if call.error:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=BASE_NS + call.start_ns + call.duration_ns)

    for root in roots:
        emit(root)
    provider.shutdown()


def attribute(key: str, value: Any) -> dict[str, Any]:
    """An OTLP/JSON KeyValue."""
    if isinstance(value, bool):
        wrapped = {"boolValue": value}
    elif isinstance(value, int):
        wrapped = {"intValue": str(value)}
    elif isinstance(value, float):
        wrapped = {"doubleValue": value}
    elif isinstance(value, (list, tuple)):
        wrapped = {"arrayValue": {"values": [attribute("", item)["value"] for item in value]}}
    else:
        wrapped = {"stringValue": str(value)}
    return {"key": key, "value": wrapped}


def otlp_span(trace_id: int, span_id: int, parent_id: int | None, name: str, start_ns: int, duration_ns: int,
              attributes: dict[str, Any], error: bool = False) -> dict[str, Any]:  # fmt: skip
    """An OTLP/JSON span (hex ids) starting ``start_ns`` after BASE_NS."""
    span = {
        "traceId": f"{trace_id:032x}",
        "spanId": f"{span_id:016x}",
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(BASE_NS + start_ns),
        "endTimeUnixNano": str(BASE_NS + start_ns + duration_ns),
        "attributes": [attribute(key, value) for key, value in attributes.items()],
        "status": {"code": 2} if error else {},
    }
    if parent_id is not None:
        span["parentSpanId"] = f"{parent_id:016x}"
    return span


def request_line(spans: list[dict[str, Any]], service: str = "svc") -> str:
    """One export request (one resource, one scope) as an OTLP/JSON line."""
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [attribute("service.name", service)]},
        "scopeSpans": [{"scope": {"name": "spanmeter"}, "spans": spans}],
    }]}, separators=(",", ":")) + "\n"  # fmt: skip


def nearest_rank(values: list[float], fraction: float) -> float:
    """The textbook nearest-rank percentile, computed on a sorted copy."""
    ordered = sorted(values)
    rank = -(-fraction * len(ordered) // 1)  # ceil without math, so the formula reads as the definition
    return ordered[max(int(rank), 1) - 1]


_MANY_SPAN = (
    '{{"traceId":"{trace:032x}","spanId":"{span:016x}","name":"chat {model}","kind":3,'
    '"startTimeUnixNano":"{start}","endTimeUnixNano":"{end}","attributes":['
    '{{"key":"gen_ai.operation.name","value":{{"stringValue":"chat"}}}},'
    '{{"key":"gen_ai.provider.name","value":{{"stringValue":"openai"}}}},'
    '{{"key":"gen_ai.request.model","value":{{"stringValue":"{model}"}}}},'
    '{{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"{input}"}}}},'
    '{{"key":"gen_ai.usage.output_tokens","value":{{"intValue":"{output}"}}}},'
    '{{"key":"spanmeter.cost.usd","value":{{"doubleValue":{cost}}}}},'
    '{{"key":"user.id","value":{{"stringValue":"user-{user}"}}}}],"status":{{}}}}'
)
_MANY_LINE = '{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},"scopeSpans":[{{"scope":{{"name":"spanmeter"}},"spans":[{spans}]}}]}}]}}\n'


def write_many(path: str | os.PathLike[str], count: int, per_line: int = 200) -> None:
    """``count`` LLM spans as OTLP/JSON from a string template (no SDK, no protobuf): a million in seconds.

    Three models, 50 users, durations and tokens cycling deterministically.
    """
    models = ("gpt-4o", "gpt-4o-mini", "gpt-4.1-nano")
    with open(path, "w", encoding="utf-8") as file:
        for first in range(0, count, per_line):
            spans = []
            for index in range(first, min(first + per_line, count)):
                start = BASE_NS + index * 1_000_000
                spans.append(_MANY_SPAN.format(
                    trace=index + 1, span=index + 1, model=models[index % 3], start=start,
                    end=start + 10_000_000 + (index * 7919 % 2_000_000_000), input=100 + index % 900,
                    output=10 + index % 300, cost=(index % 1000) * 1e-6, user=index % 50,
                ))  # fmt: skip
            file.write(_MANY_LINE.format(spans=",".join(spans)))


_MEASURE = """
import resource, sys
from spanmeter.cli import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.argv = ["spanmeter", "report", "--json", sys.argv[1]]
try:
    main()
except SystemExit as exit:
    code = exit.code
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"RSS {before} {after}", file=sys.stderr)
sys.exit(code)
"""


def report_peak_rss(path: str | os.PathLike[str]) -> tuple[float, float, dict[str, Any]]:
    """Run ``spanmeter report --json path`` in a fresh process: (peak RSS MB once imported, peak RSS MB
    at the end, the report)."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, timeout=600,
                         check=True)  # fmt: skip
    before, after = (int(kb) / 1024 for kb in run.stderr.rsplit("RSS ", 1)[1].split())
    return before, after, json.loads(run.stdout)
