"""The Collector's memory_limiter and batch processors in spanmeter pipeline, with the Collector's keys
and meaning: refusal above the soft limit and recovery below it; batches by size and by timeout,
split above send_batch_max_size."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spanmeter.pipeline.batcher import merge, split
from spanmeter.pipeline.config import MIB, load
from spanmeter.settings import ConfigError
from support.pipeline import basic_config, otlp_sink, running_pipeline, wait_until, write_config

pytestmark = pytest.mark.integration

TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _with_processors(sink: str, processors: str, listed: str) -> str:
    return basic_config(sink).replace("processors:\n  spanmeter: {}", "processors:\n  spanmeter: {}\n" + processors).replace(
        "processors: [spanmeter]", f"processors: [{listed}]"
    )  # fmt: skip


def _request(spans: int, start: int = 0) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for index in range(start, start + spans):
        span = scope.spans.add(name=f"span {index}")
        span.trace_id, span.span_id = index.to_bytes(16, "big"), (index + 1).to_bytes(8, "big")
    return request.SerializeToString()


def _send(endpoint: str, body: bytes) -> grpc.StatusCode | None:
    try:
        with grpc.insecure_channel(endpoint) as channel:
            channel.unary_unary(TRACES_METHOD)(body, timeout=5)
    except grpc.RpcError as error:
        return error.code()
    return None


LIMITER = "  memory_limiter:\n    check_interval: 1h\n    limit_mib: 100\n    spike_limit_mib: 20\n"


def test_memory_limiter_refuses_above_the_soft_limit_and_recovers_below_it(tmp_path):
    with (
        otlp_sink() as sink,
        running_pipeline(tmp_path, _with_processors(sink.endpoint, LIMITER, "memory_limiter, spanmeter")) as pipeline,
    ):
        limiter = pipeline.limiters["memory_limiter"]
        endpoint = pipeline.endpoints["otlp/grpc"]
        limiter.read_memory = lambda: 81 * MIB  # above 100 - 20 MiB
        limiter.check()
        refused = _send(endpoint, _request(1))
        limiter.read_memory = lambda: 79 * MIB
        limiter.check()
        accepted = _send(endpoint, _request(1, start=5))
        delivered = sink.wait_for_spans(1)
    assert refused == grpc.StatusCode.UNAVAILABLE and accepted is None
    assert [span.name for span in delivered] == ["span 5"]
    assert pipeline.metrics.value("otelcol_receiver_refused_spans") == 1


def test_memory_limiter_limits_from_a_percentage_and_its_mistakes(tmp_path):
    text = _with_processors("127.0.0.1:1", "  memory_limiter:\n    check_interval: 1s\n    limit_percentage: 50\n",
                            "memory_limiter")  # fmt: skip
    limit = load(write_config(tmp_path, text)).limiters["memory_limiter"]
    assert limit.spike_bytes == limit.limit_bytes // 5 and limit.limit_bytes > 0
    for wrong, right, expected in (
        ("limit_percentage: 50", "limit_percentage: 0", "limit_mib or limit_percentage above 0"),
        ("check_interval: 1s\n", "", "memory_limiter.check_interval: expected a duration like 1s"),
        ("limit_percentage: 50", "limit_mib: 10\n    spike_limit_mib: 10", "expected a spike limit below the limit"),
    ):
        with pytest.raises(ConfigError) as raised:
            load(write_config(tmp_path, text.replace(wrong, right)))
        assert expected in str(raised.value)


def test_batch_sends_when_send_batch_size_items_wait(tmp_path):
    batch = "  batch:\n    send_batch_size: 10\n    timeout: 1h\n"
    with (
        otlp_sink() as sink,
        running_pipeline(tmp_path, _with_processors(sink.endpoint, batch, "spanmeter, batch")) as pipeline,
    ):
        for index in range(3):
            assert _send(pipeline.endpoints["otlp/grpc"], _request(3, start=index * 3)) is None
        held = len(sink.spans())
        _send(pipeline.endpoints["otlp/grpc"], _request(3, start=9))
        wait_until(lambda: len(sink.spans()) == 12)
    assert held == 0
    assert len(sink.trace_requests) == 1  # one request of 12 spans


def test_batch_sends_after_its_timeout_and_splits_above_the_max_size(tmp_path):
    batch = "  batch:\n    send_batch_size: 1000\n    timeout: 200ms\n    send_batch_max_size: 1000\n"
    with otlp_sink() as sink, running_pipeline(tmp_path, _with_processors(sink.endpoint, batch, "batch")) as pipeline:
        _send(pipeline.endpoints["otlp/grpc"], _request(1))
        _send(pipeline.endpoints["otlp/grpc"], _request(1, start=1))
        wait_until(lambda: len(sink.spans()) == 2)
    assert len(sink.trace_requests) == 1
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(_request(12))
    parts = split("traces", merge("traces", [request]), 5)
    assert [items for _, items in parts] == [5, 5, 2]
    assert [s.name for part, _ in parts for s in part.resource_spans[0].scope_spans[0].spans] == [
        f"span {i}" for i in range(12)
    ]


def test_a_stop_sends_what_a_batch_holds(tmp_path):
    batch = "  batch:\n    send_batch_size: 1000\n    timeout: 1h\n"
    with otlp_sink() as sink:
        with running_pipeline(tmp_path, _with_processors(sink.endpoint, batch, "spanmeter, batch")) as pipeline:
            _send(pipeline.endpoints["otlp/grpc"], _request(4))
        assert len(sink.wait_for_spans(4)) == 4
