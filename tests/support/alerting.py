"""Helpers for the alerting tests: SpanOutcomes, a webhook receiver on 127.0.0.1, a real Alertmanager."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

import yaml

from spanmeter.processing.outcome import SpanOutcome
from support.binaries import binary, free_port, stop

_trace_ids = iter(range(1, 1 << 62))


def outcome(**fields) -> SpanOutcome:
    """A work span's outcome: a successful 1 s tool call of service ``shop`` unless ``fields`` say otherwise."""
    values = {
        "service": "shop", "span_name": "execute_tool search", "kind": "tool", "operation": "execute_tool",
        "trace_id": next(_trace_ids), "span_id": 1, "end_time_ns": 0, "duration_s": 1.0, "error_type": None, "tool": "search",
    }  # fmt: skip
    values.update(fields)
    return SpanOutcome(**values)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 (free port) keeping every JSON body POSTed to it.

    ``statuses`` are answered in turn (then 200); ``hang`` makes it hold each request
    until ``release()`` (a receiver that never answers in time).
    """

    def __init__(self, statuses: list[int] | None = None, hang: bool = False):
        self.bodies: list = []
        self.paths: list[str] = []
        self.statuses = list(statuses or [])
        self.hang = hang
        self.requests = 0
        self._released = threading.Event()
        self._received = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._received:
                    receiver.requests += 1
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                if receiver.hang:
                    receiver._released.wait(30)
                    return
                with receiver._received:
                    if status == 200:
                        receiver.bodies.append(json.loads(body))
                        receiver.paths.append(self.path)
                    receiver._received.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        self._released.set()

    def wait_for(self, predicate, timeout_s: float = 30.0):
        """Block until ``predicate(bodies)`` is truthy (returns it) or fail after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._received:
            while not (result := predicate(self.bodies)):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"timed out waiting; received: {json.dumps(self.bodies)[:2000]}"
                self._received.wait(remaining)
        return result


def alertmanager_config(webhook_url: str) -> dict:
    """Everything to one webhook, grouped by alertname and service, with second-long waits."""
    return {
        "route": {"receiver": "hook", "group_by": ["alertname", "service"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": f"{webhook_url}/alertmanager", "send_resolved": True}]}],
    }  # fmt: skip


class Alertmanager:
    """Debian's Alertmanager on 127.0.0.1 (a free port), delivering every alert to ``webhook_url``;
    ``inhibit_rules`` as in its configuration file."""

    def __init__(self, tmp_path: Path, webhook_url: str, inhibit_rules: list | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp_path / "alertmanager.yml"
        config.write_text(yaml.safe_dump({**alertmanager_config(webhook_url), "inhibit_rules": inhibit_rules or []}))
        self.command = [
            binary("prometheus-alertmanager"), f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while True:
            assert self.process.poll() is None, f"alertmanager exited: {self.process.stderr.read()}"
            assert time.monotonic() < deadline, "alertmanager never became ready"
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        stop(self.process)
