"""Running ``spanmeter pipeline`` in tests: a controllable OTLP sink, configs, in-process and subprocess runs.

Everything binds 127.0.0.1 on port 0 (or a port picked free just before) and is
stopped by the context managers, whatever the test does.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from spanmeter.pipeline.config import load
from spanmeter.pipeline.service import PipelineService

FAST_RETRY = """
    retry_on_failure:
      initial_interval: 50ms
      max_interval: 200ms
      max_elapsed_time: 0
"""


def wait_until(predicate, timeout: float = 8.0):
    """Poll ``predicate`` until its answer is truthy or ``timeout`` passes; returns its last answer."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return result


class OTLPSink(trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer):
    """An OTLP/gRPC traces+metrics endpoint that keeps what it receives, or fails as told.

    ``fail = (grpc.StatusCode.X, retry_delay_s or None)`` makes every call fail that way
    (and counts it in ``failures``) until set back to None.
    """

    def __init__(self, port: int = 0, credentials: grpc.ServerCredentials | None = None):
        self.trace_requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.metadata: list[dict[str, str]] = []
        self.fail: tuple[grpc.StatusCode, float | None] | None = None
        self.failures = 0
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self._server)
        address = f"127.0.0.1:{port}"
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        self._server.start()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.endpoint}"

    def Export(self, request, context):
        with self._lock:
            if self.fail is not None:
                self.failures += 1
                code, delay = self.fail
                if delay is not None:
                    status = status_pb2.Status(code=code.value[0], message="sink told to fail")
                    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(nanos=int(delay * 1e9)))
                    status.details.add().Pack(info)
                    context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
                context.abort(code, "sink told to fail")
            self.metadata.append(dict(context.invocation_metadata()))
            if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
                self.trace_requests.append(request)
                return trace_service_pb2.ExportTraceServiceResponse()
            self.metric_requests.append(request)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    def spans(self) -> list:
        with self._lock:
            return [
                span
                for request in self.trace_requests
                for resource_spans in request.resource_spans
                for scope_spans in resource_spans.scope_spans
                for span in scope_spans.spans
            ]

    def wait_for_spans(self, count: int, timeout: float = 8.0) -> list:
        deadline = time.monotonic() + timeout
        while len(spans := self.spans()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return spans

    def stop(self) -> None:
        self._server.stop(grace=None)


@contextlib.contextmanager
def otlp_sink(**kwargs) -> Iterator[OTLPSink]:
    sink = OTLPSink(**kwargs)
    try:
        yield sink
    finally:
        sink.stop()


def write_config(directory: Path, text: str, name: str = "pipeline.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def basic_config(sink_endpoint: str, exporter_extra: str = FAST_RETRY, receiver_extra: str = "",
                 extensions: str = "") -> str:  # fmt: skip
    """Receivers on port 0 -> spanmeter -> otlp_grpc/sink (insecure); a metrics pipeline to the same sink."""
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0{receiver_extra}
      http:
        endpoint: 127.0.0.1:0{receiver_extra}
processors:
  spanmeter: {{}}
exporters:
  otlp_grpc/sink:
    endpoint: {sink_endpoint}
    compression: none
    tls:
      insecure: true{exporter_extra}
{extensions}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [spanmeter]
      exporters: [otlp_grpc/sink]
"""


@contextlib.contextmanager
def running_pipeline(directory: Path, text: str, drain_timeout: float = 5.0) -> Iterator[PipelineService]:
    """The service in this process (``.endpoints`` names its ports); stopped at the end."""
    service = PipelineService(load(write_config(directory, text)))
    service.start()
    try:
        yield service
    finally:
        service.stop(drain_timeout)


class PipelineProcess:
    """``spanmeter pipeline --config FILE`` as a subprocess; ``endpoints`` from its start-up log line."""

    def __init__(self, config: Path, *extra: str):
        command = [sys.executable, "-c", "from spanmeter.cli import main; main()", "pipeline", "--config",
                   str(config), *extra]  # fmt: skip
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANMETER_"))}
        self.process = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.endpoints = self.wait_for_event("pipeline_started")["endpoints"]

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def events(self) -> list[dict]:
        found = []
        for line in list(self.lines):
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
        return found

    def wait_for_event(self, name: str, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if isinstance(event, dict) and event.get("event") == name:
                    return event
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no {name} event; exit {self.process.poll()}; log:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def pipeline_process(config: Path, *extra: str) -> Iterator[PipelineProcess]:
    process = PipelineProcess(config, *extra)
    try:
        yield process
    finally:
        process.stop()


LLM_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 350,
}


def send_llm_spans(exporter, count: int, service: str = "svc-a", **extra_attributes) -> None:
    """Export ``count`` LLM spans through an official OTLP span exporter (one batch each), then shut it down."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("pipeline-test")
    for _ in range(count):
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes={**LLM_ATTRIBUTES, **extra_attributes}):
            pass
    provider.shutdown()


def attributes(span) -> dict:
    """A protobuf span's attributes as {key: python value}."""
    values = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        values[kv.key] = getattr(kv.value, kind) if kind else None
    return values
