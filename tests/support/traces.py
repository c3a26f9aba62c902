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
