"""The Debian Prometheus server in tests: its HTTP query API (binaries and processes: support.binaries)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request


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
