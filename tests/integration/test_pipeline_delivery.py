"""Nothing accepted is lost: backpressure, outages, permanent errors, SIGTERM drain, kill -9 with the file queue.

The downstream is an OTLP/gRPC sink in the test that can be told to fail; the pipeline
runs in this process, or as ``spanmeter pipeline`` in a subprocess where signals matter.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import time
import urllib.error
import urllib.request

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spanmeter.otlp.protocol import STATUS_DETAILS_KEY, retry_delay
from spanmeter.pipeline.queue import Batch
from spanmeter.pipeline.queue.file import FileQueue
from support.binaries import free_port
from support.pipeline import (
    FAST_RETRY,
    OTLPSink,
    basic_config,
    otlp_sink,
    pipeline_process,
    running_pipeline,
    send_llm_spans,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.integration

TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
HEALTH = """
extensions:
  health_check:
    endpoint: 127.0.0.1:0
"""


def _one_span_request(name: str = "chat gpt-4o-mini") -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name=name)
    span.trace_id, span.span_id = os.urandom(16), os.urandom(8)
    return request.SerializeToString()


def _status(url: str, body: bytes | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/x-protobuf"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=5) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def _events(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "spanmeter.pipeline"]


def _queued_config(endpoint: str, extra: str = "", extensions: str = "") -> str:
    queue = "\n    sending_queue:\n      queue_size: 1\n      num_consumers: 1" + extra
    return basic_config(endpoint, FAST_RETRY + queue, extensions=extensions).replace(
        "service:\n", "service:\n  extensions: [health_check]\n" if extensions else "service:\n"
    )


def test_full_queue_is_refused_with_retry_info_then_everything_accepted_is_delivered(tmp_path):
    with otlp_sink() as sink, running_pipeline(tmp_path, _queued_config(sink.endpoint, extensions=HEALTH)) as pipeline:
        sink.fail = (grpc.StatusCode.UNAVAILABLE, None)
        grpc_endpoint = pipeline.endpoints["otlp/grpc"]
        health = f"http://{pipeline.endpoints['health_check']}"
        exporter = pipeline.exporters["otlp_grpc/sink"]
        with grpc.insecure_channel(grpc_endpoint) as channel:
            call = channel.unary_unary(TRACES_METHOD)
            call(_one_span_request(), timeout=5)  # taken by the consumer, retried
            deadline = time.monotonic() + 5
            while exporter.queue.size() and time.monotonic() < deadline:
                time.sleep(0.01)
            call(_one_span_request(), timeout=5)  # fills the queue (capacity 1)
            with pytest.raises(grpc.RpcError) as refused:
                call(_one_span_request(), timeout=5)
        http_status, http_headers = _status(f"http://{pipeline.endpoints['otlp/http']}/v1/traces", _one_span_request())
        ready_while_full = _status(f"{health}/readyz")[0]
        alive = _status(f"{health}/healthz")[0], _status(f"{health}/")[0]
        sink.fail = None
        delivered = sink.wait_for_spans(2)
        time.sleep(0.1)
        ready_after = _status(f"{health}/readyz")[0]
        text = pipeline.metrics.prometheus_text()
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    details = dict(refused.value.trailing_metadata())[STATUS_DETAILS_KEY]
    assert retry_delay(details) == 1.0
    assert http_status == 503 and http_headers["Retry-After"] == "1"
    assert (ready_while_full, alive, ready_after) == (503, (200, 200), 200)
    assert len(delivered) == 2 and sink.failures >= 1
    assert 'otelcol_receiver_refused_spans_total{receiver="otlp",transport="grpc"} 1' in text
    assert 'otelcol_receiver_refused_spans_total{receiver="otlp",transport="http"} 1' in text
    assert 'otelcol_exporter_queue_capacity{exporter="otlp_grpc/sink"} 1' in text


def test_downstream_outage_and_recovery_delivers_everything_and_logs_down_up(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="spanmeter.pipeline")
    port = free_port()
    with running_pipeline(tmp_path, basic_config(f"127.0.0.1:{port}")) as pipeline:
        send_llm_spans(GrpcSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True), 3)
        time.sleep(0.5)  # a few refused connection attempts
        with otlp_sink(port=port) as sink:
            delivered = sink.wait_for_spans(3)
    assert len(delivered) == 3
    changes = [e["event"] for e in _events(caplog) if e["event"].startswith("downstream_")]
    assert changes == ["downstream_down", "downstream_up"]


def test_permanent_downstream_error_is_dropped_and_counted_while_retry_info_is_honoured(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="spanmeter.pipeline")
    with otlp_sink() as sink, running_pipeline(tmp_path, basic_config(sink.endpoint)) as pipeline:
        grpc_endpoint = pipeline.endpoints["otlp/grpc"]
        sink.fail = (grpc.StatusCode.INVALID_ARGUMENT, None)
        send_llm_spans(GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True), 1)
        deadline = time.monotonic() + 5
        while not pipeline.metrics.value("otelcol_exporter_send_failed_spans") and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        permanent_attempts = sink.failures
        # RESOURCE_EXHAUSTED is retryable only with RetryInfo; its delay (0.4 s) beats the 50 ms backoff
        sink.fail, sink.failures = (grpc.StatusCode.RESOURCE_EXHAUSTED, 0.4), 0
        send_llm_spans(GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True), 1)
        time.sleep(0.6)
        throttled_attempts = sink.failures
        sink.fail = None
        delivered = sink.wait_for_spans(1)
    assert permanent_attempts == 1
    assert pipeline.metrics.value("otelcol_exporter_send_failed_spans", reason="permanent") == 1
    dropped = [e for e in _events(caplog) if e["event"] == "export_dropped"]
    assert dropped[0]["reason"] == "permanent" and "INVALID_ARGUMENT" in dropped[0]["error"]
    assert 1 <= throttled_attempts <= 2
    assert len(delivered) == 1


def test_sigterm_stops_accepting_drains_and_exits_0(tmp_path):
    with otlp_sink() as sink:
        sink.fail = (grpc.StatusCode.UNAVAILABLE, None)
        config = write_config(tmp_path, basic_config(sink.endpoint))
        with pipeline_process(config, "--drain-timeout", "8") as process:
            grpc_endpoint = process.endpoints["otlp/grpc"]
            send_llm_spans(GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True), 5)
            process.process.send_signal(signal.SIGTERM)
            probes: list[grpc.StatusCode | None] = []  # None: accepted before the signal took effect
            refused = wait_until(lambda: probes.append(_refused(grpc_endpoint)) or probes[-1])
            sink.fail = None  # downstream back while draining
            exit_code = process.process.wait(timeout=10)
            stopped = process.wait_for_event("pipeline_stopped")
        assert exit_code == 0
        assert refused == grpc.StatusCode.UNAVAILABLE
        assert len(sink.spans()) == 5 + probes.count(None)  # everything accepted, probes included
        assert stopped["drained"] is True


def _refused(endpoint: str) -> grpc.StatusCode | None:
    """The code a new export gets, or None while the pipeline still accepts."""
    try:
        with grpc.insecure_channel(endpoint) as channel:
            channel.unary_unary(TRACES_METHOD)(_one_span_request(), timeout=2)
    except grpc.RpcError as error:
        return error.code()
    return None


def _file_queue_config(endpoint: str, directory) -> str:
    storage = f"""
extensions:
  file_storage/queue:
    directory: {directory}
"""
    return basic_config(endpoint, FAST_RETRY + "\n    sending_queue:\n      storage: file_storage/queue",
                        extensions=storage)  # fmt: skip


def test_kill_9_with_the_file_queue_loses_nothing_acknowledged(tmp_path):
    port = free_port()
    config = write_config(tmp_path, _file_queue_config(f"127.0.0.1:{port}", tmp_path / "queue"))
    with pipeline_process(config) as process:
        send_llm_spans(GrpcSpanExporter(endpoint=process.endpoints["otlp/grpc"], insecure=True), 4)
        process.process.send_signal(signal.SIGKILL)
        process.process.wait(timeout=10)
    assert len(list((tmp_path / "queue" / "otlp_grpc_sink").glob("*.batch"))) == 4
    sink = OTLPSink(port=port)
    try:
        with pipeline_process(config) as process:
            replayed = process.wait_for_event("queue_replayed")
            delivered = sink.wait_for_spans(4)
    finally:
        sink.stop()
    assert replayed["batches"] == 4 and replayed["corrupt"] == 0
    assert len(delivered) == 4
    assert {s.name for s in delivered} == {"chat gpt-4o-mini"}


def test_corrupt_queue_files_are_set_aside_with_a_log_line_and_the_rest_replayed(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="spanmeter.pipeline")
    directory = tmp_path / "queue" / "otlp_grpc_sink"
    queue = FileQueue(str(directory), capacity=10)
    for name in ("first", "second", "third"):
        queue.put(Batch("traces", _one_span_request(name), 1))
    files = sorted(directory.glob("*.batch"))
    files[1].write_bytes(files[1].read_bytes()[:-7])  # a torn write
    files[2].write_bytes(b"garbage" * 10)
    with otlp_sink() as sink, running_pipeline(tmp_path, _file_queue_config(sink.endpoint, tmp_path / "queue")):
        delivered = sink.wait_for_spans(1)
        time.sleep(0.2)
    assert [s.name for s in delivered] == ["first"]
    corrupt = [e for e in _events(caplog) if e["event"] == "queue_file_corrupt"]
    assert len(corrupt) == 2 and "torn write" in corrupt[0]["reason"]
    assert len(list(directory.glob("*.corrupt"))) == 2 and not list(directory.glob("*.batch"))


def test_memory_queue_left_at_the_drain_deadline_is_counted_as_dropped(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="spanmeter.pipeline")
    with otlp_sink() as sink:
        sink.fail = (grpc.StatusCode.UNAVAILABLE, None)
        config = basic_config(sink.endpoint, FAST_RETRY + "\n    sending_queue:\n      num_consumers: 1")
        with running_pipeline(tmp_path, config, drain_timeout=0.5) as pipeline:
            send_llm_spans(GrpcSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True), 3)
    dropped = pipeline.metrics.value("otelcol_exporter_send_failed_spans", reason="shutdown")
    assert dropped == 3 and sink.spans() == []
    stopped = [e for e in _events(caplog) if e["event"] == "pipeline_stopped"]
    assert stopped[0]["drained"] is False


def test_file_queue_keeps_what_the_drain_could_not_send_for_the_next_start(tmp_path):
    config = _file_queue_config("SINK", tmp_path / "queue")
    with otlp_sink() as sink:
        sink.fail = (grpc.StatusCode.UNAVAILABLE, None)
        with running_pipeline(tmp_path, config.replace("SINK", sink.endpoint), drain_timeout=0.5) as pipeline:
            send_llm_spans(GrpcSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True), 3)
        on_disk = len(list((tmp_path / "queue" / "otlp_grpc_sink").glob("*.batch")))
        sink.fail = None
        with running_pipeline(tmp_path, config.replace("SINK", sink.endpoint)):
            delivered = sink.wait_for_spans(3)
    assert on_disk == 3
    assert pipeline.metrics.value("otelcol_exporter_send_failed_spans") == 0
    assert len(delivered) == 3


def _fixed_ports_config(sink_endpoint: str, queue_directory) -> str:
    """Every receiver and server of the pipeline on a port of its own, as a deployment pins them."""
    grpc_port, http_port, health, insights, prometheus, telemetry = (free_port() for _ in range(6))
    config = _file_queue_config(sink_endpoint, queue_directory)
    config = config.replace("grpc:\n        endpoint: 127.0.0.1:0", f"grpc:\n        endpoint: 127.0.0.1:{grpc_port}")
    config = config.replace("http:\n        endpoint: 127.0.0.1:0", f"http:\n        endpoint: 127.0.0.1:{http_port}")
    config = config.replace("spanmeter: {}", f"spanmeter:\n    insights:\n      endpoint: 127.0.0.1:{insights}")
    config = config.replace("extensions:\n", f"extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health}\n", 1)
    config = config.replace("exporters:\n", f"exporters:\n  prometheus:\n    endpoint: 127.0.0.1:{prometheus}\n", 1)
    return config.replace(
        "service:\n",
        "service:\n  extensions: [health_check, file_storage/queue]\n  telemetry:\n    metrics:\n"
        f"      address: 127.0.0.1:{telemetry}\n",
    )


def _hold_connections_open(endpoints: dict) -> list:
    """A gRPC channel and a keep-alive HTTP connection that have each sent a request and stay open."""
    channel = grpc.insecure_channel(endpoints["otlp/grpc"])
    channel.unary_unary(TRACES_METHOD)(_one_span_request(), timeout=5)
    host, port = endpoints["otlp/http"].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("POST", "/v1/traces", _one_span_request(), {"Content-Type": "application/x-protobuf"})
    connection.getresponse().read()
    return [channel, connection]


def test_a_restart_within_a_second_of_kill_9_listens_on_every_port_and_replays(tmp_path):
    sink_port = free_port()
    config = write_config(tmp_path, _fixed_ports_config(f"127.0.0.1:{sink_port}", tmp_path / "queue"))
    with pipeline_process(config) as process:
        endpoints = process.endpoints
        held = _hold_connections_open(endpoints)
        process.process.send_signal(signal.SIGKILL)
        process.process.wait(timeout=10)
    for connection in held:
        connection.close()  # the server's side of each connection now waits out TIME_WAIT on the pipeline's ports
    sink = OTLPSink(port=sink_port)
    try:
        with pipeline_process(config) as process:  # at once: it exited with "Address already in use" before
            assert process.endpoints == endpoints
            assert process.wait_for_event("queue_replayed")["batches"] == 2
            delivered = sink.wait_for_spans(2)
    finally:
        sink.stop()
    assert len(delivered) == 2


def test_without_a_sending_queue_the_sender_gets_the_backends_answer(tmp_path):
    no_queue = FAST_RETRY + "\n    sending_queue:\n      enabled: false"
    with otlp_sink() as sink, running_pipeline(tmp_path, basic_config(sink.endpoint, no_queue)) as pipeline:
        grpc_endpoint, url = pipeline.endpoints["otlp/grpc"], f"http://{pipeline.endpoints['otlp/http']}/v1/traces"
        sink.fail = (grpc.StatusCode.UNAVAILABLE, None)
        down = (_refused(grpc_endpoint), _status(url, _one_span_request())[0])
        sink.fail = (grpc.StatusCode.INVALID_ARGUMENT, None)
        refused = (_refused(grpc_endpoint), _status(url, _one_span_request())[0])
        sink.fail = None
        up = (_refused(grpc_endpoint), _status(url, _one_span_request())[0])
        delivered = sink.spans()
    assert down == (grpc.StatusCode.UNAVAILABLE, 503)  # the sender's own exporter retries
    assert refused == (grpc.StatusCode.INTERNAL, 500)  # permanent: the Collector's answer too
    assert up == (None, 200)
    assert len(delivered) == 2  # nothing acknowledged while the backend was down, nothing lost after


def test_sigterm_with_a_memory_queue_still_holding_spans_exits_3_and_counts_them(tmp_path):
    with otlp_sink() as sink:
        sink.fail = (grpc.StatusCode.UNAVAILABLE, None)
        config = write_config(tmp_path, basic_config(sink.endpoint))
        with pipeline_process(config, "--drain-timeout", "0.5") as process:
            send_llm_spans(GrpcSpanExporter(endpoint=process.endpoints["otlp/grpc"], insecure=True), 3)
            process.process.send_signal(signal.SIGTERM)
            exit_code = process.process.wait(timeout=15)
            stopped = process.wait_for_event("pipeline_stopped")
    assert exit_code == 3
    assert stopped["items_lost"] == 3 and stopped["drained"] is False


def test_every_stderr_line_is_one_json_event_budget_crossings_included(tmp_path):
    with otlp_sink() as sink:
        config = basic_config(sink.endpoint).replace("spanmeter: {}", "spanmeter:\n    budget_daily_usd: 0.0001")
        with pipeline_process(write_config(tmp_path, config)) as process:
            send_llm_spans(GrpcSpanExporter(endpoint=process.endpoints["otlp/grpc"], insecure=True), 2)
            sink.wait_for_spans(2)
            process.process.send_signal(signal.SIGTERM)
            process.process.wait(timeout=15)
            process.wait_for_event("pipeline_stopped")
        lines = [line for line in process.lines if line.strip()]
    events = [json.loads(line) for line in lines]  # a plain line fails here
    crossings = [e for e in events if e["event"] == "log" and e["logger"] == "spanmeter.budget"]
    assert crossings and crossings[-1]["spanmeter.budget.window"] == "day"
    assert crossings[-1]["level"] == "ERROR" and "budget" in crossings[-1]["message"]
