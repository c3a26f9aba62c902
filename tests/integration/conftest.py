"""Real servers on 127.0.0.1 for the integration tests, each stopped when its test ends."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class OTLPReceiver(trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer):
    """An OTLP/gRPC endpoint (traces and metrics) that keeps every request it receives."""

    def __init__(self) -> None:
        self.trace_requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self._lock = threading.Lock()
        self.endpoint = ""

    def Export(self, request, context):
        # Both services name their method Export; the request type tells them apart.
        with self._lock:
            if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
                self.trace_requests.append(request)
                response = trace_service_pb2.ExportTraceServiceResponse()
            else:
                self.metric_requests.append(request)
                response = metrics_service_pb2.ExportMetricsServiceResponse()
        return response

    def spans(self) -> list:
        """Every span received so far (protobuf Span messages)."""
        with self._lock:
            return [
                span
                for request in self.trace_requests
                for resource_spans in request.resource_spans
                for scope_spans in resource_spans.scope_spans
                for span in scope_spans.spans
            ]


@pytest.fixture
def otlp_receiver():
    """An OTLP/gRPC receiver on 127.0.0.1 (a free port); ``.endpoint`` is its http:// URL."""
    receiver = OTLPReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    receiver.endpoint = f"http://127.0.0.1:{port}"
    yield receiver
    server.stop(grace=None)


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANMETER_"))}
    run = subprocess.run(
        command, cwd=cwd, env={**environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return run


@pytest.fixture
def run_command():
    """``run_command(command, cwd, **env)``: run it to completion; fail the test on a non-zero exit.

    The environment is this process's without OTEL_* / SPANMETER_* variables, plus ``env``.
    """
    return _run


@pytest.fixture
def run_instrumented():
    """``run_instrumented(script, cwd, **env)``: ``opentelemetry-instrument python script``, as run_command.

    Other packages' instrumentors are disabled ("*": they would add spans of their
    own; pre-instrument hooks, spanmeter's processing among them, still run).
    """

    def run(script: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        env = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*", "OTEL_LOGS_EXPORTER": "none", **env}
        return _run([str(instrument), sys.executable, str(script)], cwd, **env)

    return run
