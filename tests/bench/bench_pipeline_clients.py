"""``spanmeter pipeline`` under careless and hostile clients, on loopback: the figures issue 22 quoted.

    python tests/bench/bench_pipeline_clients.py [--idle 500] [--big 8] [--slow 20] [--read-timeout 5]

Against one ``spanmeter pipeline`` subprocess (its HTTP receiver's read and idle timeouts set by
``--read-timeout``), it prints:
- idle connections: opened, and how many the pipeline has closed after the idle timeout;
- slow senders (1 byte/s): how many were cut off, and after how long;
- concurrent large requests (19.9 MiB each): answers by status, the pipeline's peak RSS,
  and the slowest /healthz answer while they were in flight.
Every request goes to 127.0.0.1 and the run stops by itself.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent import futures
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.pipeline

from support.pipeline import PipelineProcess

CONFIG = """
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0
        read_timeout: {timeout}s
        idle_timeout: {timeout}s
exporters:
  file/out:
    path: {out}
extensions:
  health_check:
    endpoint: 127.0.0.1:0
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file/out]
"""


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _connect(endpoint: str) -> socket.socket:
    host, port = endpoint.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=120)


def _closed(sock: socket.socket, wait: float) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def idle_connections(endpoint: str, count: int, timeout: float) -> str:
    sockets = [_connect(endpoint) for _ in range(count)]
    time.sleep(timeout + 1)
    closed = sum(_closed(sock, 0.2) for sock in sockets)
    for sock in sockets:
        sock.close()
    return f"idle connections: {count} opened, {closed} closed by the pipeline after its {timeout:g} s idle timeout"


def _trickle(endpoint: str) -> float | None:
    sock, started = _connect(endpoint), time.monotonic()
    sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                 b"Content-Length: 100000\r\n\r\n")  # fmt: skip
    try:
        while time.monotonic() - started < 60:
            sock.sendall(b"\x0a")
            time.sleep(1.0)
    except OSError:
        return time.monotonic() - started
    finally:
        sock.close()
    return None


def slow_senders(endpoint: str, count: int) -> str:
    with futures.ThreadPoolExecutor(count) as pool:
        ends = list(pool.map(lambda _: _trickle(endpoint), range(count)))
    cut = [end for end in ends if end is not None]
    after = f", after {min(cut):.1f}-{max(cut):.1f} s" if cut else ""
    return f"slow senders (1 byte/s): {len(cut)} of {count} cut off within 60 s{after}"


def _big_body() -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for index in range(20):
        span = scope.spans.add(name="x" * (1_000_000 - 40), trace_id=os.urandom(16), span_id=os.urandom(8))
        span.start_time_unix_nano = index
    body = request.SerializeToString()
    return body[: int(19.9 * 2**20)] if len(body) > 19.9 * 2**20 else body


def _post(endpoint: str, body: bytes) -> int:
    request = urllib.request.Request(f"http://{endpoint}/v1/traces", data=body,
                                     headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def large_requests(endpoint: str, health: str, pid: int, count: int) -> str:
    body, done = _big_body(), threading.Event()
    peak, slowest = [_rss_mb(pid)], [0.0]

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb(pid))
            started = time.monotonic()
            urllib.request.urlopen(f"http://{health}/healthz", timeout=30).read()
            slowest[0] = max(slowest[0], time.monotonic() - started)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with futures.ThreadPoolExecutor(count) as pool:
        statuses = list(pool.map(lambda _: _post(endpoint, body), range(count)))
    done.set()
    watcher.join()
    answers = ", ".join(f"{statuses.count(s)} x {s or 'no answer'}" for s in sorted(set(statuses)))
    return (f"{count} concurrent {len(body) / 2**20:.1f} MiB requests: {answers}; peak RSS {peak[0]:.0f} MB; "
            f"slowest /healthz {slowest[0] * 1000:.0f} ms")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--big", type=int, default=8)
    parser.add_argument("--read-timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "pipeline.yaml"
        config.write_text(CONFIG.format(timeout=args.read_timeout, out=Path(directory) / "out.jsonl"))
        pipeline = PipelineProcess(config)
        try:
            endpoint, health = pipeline.endpoints["otlp/http"], pipeline.endpoints["health_check"]
            print(idle_connections(endpoint, args.idle, args.read_timeout), flush=True)
            print(slow_senders(endpoint, args.slow), flush=True)
            print(large_requests(endpoint, health, pipeline.process.pid, args.big), flush=True)
        finally:
            pipeline.stop()


if __name__ == "__main__":
    main()
