"""The Debian Prometheus server in tests: its HTTP query API (binaries and processes: support.binaries)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from support.binaries import binary, free_port, run, stop


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


@contextlib.contextmanager
def scraping(directory: Path, target: str, *, honor_labels: bool = False) -> Iterator[int]:
    """Debian's Prometheus scraping ``target`` every second (its config checked by promtool first);
    yields its port, stops it at the end."""
    config = directory / "prometheus.yml"
    honor = "    honor_labels: true\n" if honor_labels else ""
    config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: spanmeter-pipeline\n"
                      f"{honor}    static_configs:\n      - targets: ['{target}']\n")  # fmt: skip
    check = run("promtool", "check", "config", str(config), timeout=20)
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    server = subprocess.Popen(
        [binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={directory / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        yield port
        assert server.poll() is None, f"prometheus exited: {server.stderr.read()}"
    finally:
        stop(server)


def query_until(port: int, promqls: tuple[str, ...], timeout: float = 60) -> dict[str, dict[tuple, float]]:
    """Query each PromQL expression until every one has a result (AssertionError at ``timeout``)."""
    deadline = time.monotonic() + timeout
    found: dict[str, dict[tuple, float]] = {}
    while len(found) < len(promqls):
        assert time.monotonic() < deadline, f"Prometheus returned only {sorted(found)} of {promqls}"
        time.sleep(0.5)
        found = {promql: result for promql in promqls if (result := query(port, promql))}
    return found
