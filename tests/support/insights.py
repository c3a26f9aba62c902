"""A served Insights API over a store the test fills, and outcomes that look like real spans'."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc

from spanmeter.pipeline.insights_api import serve_insights
from spanmeter.pipeline.insights_store import InsightsStore
from spanmeter.processing.outcome import SpanOutcome
from spanmeter.v1 import insights_pb2_grpc


def llm_outcome(**fields) -> SpanOutcome:
    """An LLM call's outcome; ``fields`` override the defaults."""
    values = {
        "service": "checkout",
        "span_name": "chat gpt-4o-mini",
        "kind": "llm",
        "operation": "chat",
        "trace_id": 0x1F,
        "span_id": 0x2F,
        "end_time_ns": 0,
        "duration_s": 0.5,
        "error_type": None,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 10,
        "cost_usd": 0.001,
    }
    values.update(fields)
    return SpanOutcome(**values)


@contextlib.contextmanager
def served(store: InsightsStore) -> Iterator[tuple[insights_pb2_grpc.InsightsStub, str]]:
    """The Insights API over ``store`` on an ephemeral loopback port: (stub, target)."""
    server, port = serve_insights(store, "127.0.0.1:0")
    target = f"127.0.0.1:{port}"
    channel = grpc.insecure_channel(target)
    try:
        yield insights_pb2_grpc.InsightsStub(channel), target
    finally:
        channel.close()
        server.stop(grace=None)
