"""The Debian Prometheus server in tests: find its binaries, query its HTTP API, stop processes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"`{name}` not found: install the Debian package prometheus (bash scripts/test.sh does)")
    return path


def get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def query(port: int, promql: str) -> dict[tuple, float]:
    """Prometheus' instant query: {sorted label items (without __name__): value}."""
    body = get(f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    if body is None:
        return {}
    return {
        tuple(sorted((k, v) for k, v in series["metric"].items() if k != "__name__")): float(series["value"][1])
        for series in json.loads(body)["data"]["result"]
    }


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
