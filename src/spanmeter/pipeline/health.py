"""The ``health_check`` extension: ``/healthz`` (alive), ``/readyz`` (receivers listening, queues below
capacity), and its Collector ``path`` (default ``/``) answering like ``/healthz``."""

from __future__ import annotations

import json
from collections.abc import Callable

from spanmeter.pipeline.http_server import Routes


def health_routes(path: str, ready: Callable[[], tuple[bool, str]]) -> Routes:
    def alive() -> tuple[int, str, bytes]:
        return 200, "application/json", b'{"status":"Server available"}'

    def readiness() -> tuple[int, str, bytes]:
        ok, detail = ready()
        body = json.dumps({"status": "ready" if ok else "not ready", "detail": detail}).encode()
        return (200 if ok else 503), "application/json", body

    return {path: alive, "/healthz": alive, "/readyz": readiness}
