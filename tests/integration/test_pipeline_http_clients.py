"""The OTLP/HTTP receiver under careless and hostile clients: idle and slow connections are closed,
requests beyond the concurrency and in-flight byte bounds are refused with the retryable answer,
GET is 405, and a client's mistake is one log event, not a traceback."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spanmeter.pipeline.receivers import http as http_receiver
from support.pipeline import basic_config, running_pipeline, wait_until

pytestmark = pytest.mark.integration

SHORT_TIMEOUTS = "\n        read_timeout: 1s\n        idle_timeout: 1s"


def _config(extra: str = SHORT_TIMEOUTS) -> str:
    return basic_config("127.0.0.1:1").replace(
        "http:\n        endpoint: 127.0.0.1:0", "http:\n        endpoint: 127.0.0.1:0" + extra
    )


def _connect(endpoint: str) -> socket.socket:
    host, port = endpoint.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed the connection (a read returns EOF or a reset)."""
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_idle_connections_and_slow_senders_are_closed(tmp_path):
    with running_pipeline(tmp_path, _config(), drain_timeout=0.5) as pipeline:
        endpoint = pipeline.endpoints["otlp/http"]
        idle = [_connect(endpoint) for _ in range(20)]
        slow = _connect(endpoint)
        slow.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                     b"Content-Length: 1000\r\n\r\n")  # fmt: skip
        for _ in range(8):  # 1 byte a quarter second: it never stops sending, the server stops it
            try:
                slow.sendall(b"\x0a")
            except OSError:
                break
            time.sleep(0.25)
        for sock in [*idle, slow]:  # while the pipeline runs: closed by the 1 s limits, not by its stop
            sock.settimeout(10)
            assert _closed_by_server(sock)


def test_too_many_request_bytes_at_once_are_refused_retryably(tmp_path, monkeypatch):
    monkeypatch.setattr(http_receiver, "MIN_BYTES_IN_FLIGHT", 0)  # the bound: 3 requests of the size limit
    config = _config("\n        max_request_body_size: 1000")
    with running_pipeline(tmp_path, config, drain_timeout=0.5) as pipeline:
        endpoint = pipeline.endpoints["otlp/http"]
        holders = [_connect(endpoint) for _ in range(3)]
        for sock in holders:  # each declares 1000 bytes and sends them slowly: 3000 bytes held
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                         b"Content-Length: 1000\r\n\r\n\x0a")  # fmt: skip
        time.sleep(0.3)
        host, port = endpoint.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request("POST", "/v1/traces", b"\x0a" * 10, {"Content-Type": "application/x-protobuf"})
        refused = connection.getresponse()
        refused.read()
        uploading = _connect(endpoint)  # a refused upload still gets its answer, not a reset mid-body
        uploading.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                          b"Content-Length: 900\r\n\r\n" + b"\x0a" * 900)  # fmt: skip
        answer = _answer_status(uploading)
        uploading.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                          b"Content-Length: 0\r\n\r\n")  # fmt: skip
        again = _answer_status(uploading)  # the same connection answers the next request
        for sock in holders:
            sock.close()
        connection.close()
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        wait_until(lambda: _post_empty(connection) == 200)
    assert refused.status == 503 and refused.getheader("Retry-After")
    assert answer == 503 and again in (200, 503)


def _answer_status(sock: socket.socket) -> int:
    """The status of the next whole answer on ``sock`` (headers and body read)."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.read()
    return response.status


def _post_empty(connection: http.client.HTTPConnection) -> int:
    body = trace_service_pb2.ExportTraceServiceRequest().SerializeToString()
    connection.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
    response = connection.getresponse()
    response.read()
    return response.status


def test_too_many_requests_at_once_are_refused_retryably(tmp_path, monkeypatch):
    monkeypatch.setattr(http_receiver, "MAX_CONCURRENT_REQUESTS", 2)
    with running_pipeline(tmp_path, _config(), drain_timeout=0.5) as pipeline:
        endpoint = pipeline.endpoints["otlp/http"]
        holders = [_connect(endpoint) for _ in range(2)]
        for sock in holders:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                         b"Content-Length: 100\r\n\r\n")  # fmt: skip
        time.sleep(0.3)
        host, port = endpoint.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        refused = _post_empty(connection)
    assert refused == 503


def test_get_is_405_and_a_client_cutting_a_request_is_one_event(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="spanmeter.pipeline")
    with running_pipeline(tmp_path, _config(), drain_timeout=0.5) as pipeline:
        host, port = pipeline.endpoints["otlp/http"].rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request("GET", "/v1/traces")
        response = connection.getresponse()
        cut = _connect(pipeline.endpoints["otlp/http"])
        cut.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")  # fmt: skip
        cut.settimeout(5)
        answer = cut.recv(4096)
    assert response.status == 405 and response.getheader("Allow") == "POST"
    assert answer.startswith(b"HTTP/1.1 400")
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert tracebacks == []


def test_many_idle_connections_do_not_hold_threads_past_the_idle_timeout(tmp_path):
    with running_pipeline(tmp_path, _config(), drain_timeout=0.5) as pipeline:
        before = threading.active_count()
        idle = [_connect(pipeline.endpoints["otlp/http"]) for _ in range(100)]
        wait_until(lambda: threading.active_count() >= before + 50)
        wait_until(lambda: threading.active_count() <= before + 2, timeout=10)
        for sock in idle:
            sock.close()


def test_the_http_timeouts_are_collector_keys_validated_with_the_file_and_key(tmp_path):
    from spanmeter.pipeline.config import load
    from spanmeter.settings import ConfigError
    from support.pipeline import write_config

    path = write_config(tmp_path, _config("\n        read_timeout: soon"))
    with pytest.raises(ConfigError) as raised:
        load(path)
    message = str(raised.value)
    assert "read_timeout" in message and str(path) in message and "duration" in message
