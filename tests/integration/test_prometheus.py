"""A real Prometheus server scrapes an app run under ``opentelemetry-instrument`` with
``OTEL_METRICS_EXPORTER=prometheus``; its HTTP query API returns spanmeter's cost and
duration series with the values the app's spans imply.

Both processes bind 127.0.0.1, every wait is bounded by one deadline, and both are
stopped in ``finally``. The Debian ``prometheus`` package (server and promtool) is
required: ``scripts/test.sh`` installs it, and without it this test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

pytestmark = pytest.mark.integration

DEADLINE_S = 60
CALLS, INPUT_TOKENS, OUTPUT_TOKENS = 3, 1200, 350
APP = f"""\
import sys, time
from opentelemetry import trace
import spanmeter

tracer = trace.get_tracer("prometheus-test-app")
with spanmeter.workflow("nightly-report"):
    with spanmeter.agent("researcher"):
        for _ in range({CALLS}):
            attributes = {{
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": {INPUT_TOKENS}, "gen_ai.usage.output_tokens": {OUTPUT_TOKENS},
            }}
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attributes):
                time.sleep(0.01)
trace.get_tracer_provider().force_flush()  # enrich now: the metrics are on /metrics from here on
print("ready", flush=True)
sys.stdin.read()  # serve /metrics until the test closes stdin
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"`{name}` not found: install the Debian package prometheus (bash scripts/test.sh does)")
    return path


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def _query(port: int, promql: str) -> dict[tuple, float]:
    """Prometheus' instant query: {sorted label items (without __name__): value}."""
    body = _get(f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    if body is None:
        return {}
    return {
        tuple(sorted((k, v) for k, v in series["metric"].items() if k != "__name__")): float(series["value"][1])
        for series in json.loads(body)["data"]["result"]
    }


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def test_prometheus_scrapes_cost_and_duration_series(tmp_path):
    prometheus, promtool = _binary("prometheus"), _binary("promtool")
    deadline = time.monotonic() + DEADLINE_S
    app_port, prometheus_port = _free_port(), _free_port()
    script = tmp_path / "app.py"
    script.write_text(APP)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: spanmeter-app\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{app_port}']\n"
    )
    check = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=20, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANMETER_"))}
    environ.update(
        OTEL_PYTHON_DISTRO="spanmeter",
        OTEL_PYTHON_CONFIGURATOR="spanmeter",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="*",  # peers' instrumentors would add spans of their own
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(app_port),
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    app = server = None
    try:
        app = subprocess.Popen(
            [str(instrument), sys.executable, str(script)], cwd=tmp_path, env=environ,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        while "spanmeter_cost" not in (_get(f"http://127.0.0.1:{app_port}/metrics") or ""):
            assert app.poll() is None, f"the app exited {app.returncode}: {app.stderr.read()}"
            assert time.monotonic() < deadline, "the app never served spanmeter's metrics"
            time.sleep(0.2)

        server = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        cost = durations = agent = {}
        while not (cost and durations and agent):
            assert server.poll() is None, f"prometheus exited {server.returncode}: {server.stderr.read()}"
            assert time.monotonic() < deadline, f"no series in Prometheus: {cost=} {durations=} {agent=}"
            time.sleep(0.5)
            cost = _query(prometheus_port, "spanmeter_cost_USD_total")
            durations = _query(prometheus_port, "gen_ai_client_operation_duration_seconds_count")
            agent = _query(
                prometheus_port, 'spanmeter_span_duration_seconds_count{gen_ai_operation_name="invoke_agent"}'
            )
    finally:
        if app is not None and app.poll() is None:
            app.stdin.close()
        _stop(app)
        _stop(server)

    one_call = calc_price(Usage(input_tokens=INPUT_TOKENS, output_tokens=OUTPUT_TOKENS), "gpt-4o-mini",
                          provider_id="openai")  # fmt: skip
    ((cost_labels, cost_value),) = cost.items()
    assert cost_value == pytest.approx(CALLS * float(one_call.total_price))
    labels = dict(cost_labels)
    assert labels["job"] == "spanmeter-app"
    assert labels["gen_ai_request_model"] == "gpt-4o-mini"
    assert labels["spanmeter_cost_source"] == "genai-prices" and labels["spanmeter_cost_kind"] == "llm"
    ((duration_labels, count),) = durations.items()
    assert count == CALLS and dict(duration_labels)["gen_ai_operation_name"] == "chat"
    assert list(agent.values()) == [1]
