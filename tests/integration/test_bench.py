"""``spanmeter bench`` end to end, in its own process: an example agent (real openai SDK over an
in-memory transport, spanmeter's agent/tool spans) under load, with errors, timeouts, Ctrl-C, the
baseline gate passing, failing and refusing an unknown metric, the live figures in a terminal, the
output options (``--json`` on stdout, ``--output``, the deprecated ``--json FILE``) and the HTML page
in headless Chromium.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from genai_prices import Usage, calc_price

from bench import llm_fakes
from support.browser import chromium

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parents[1]
SPANMETER = str(Path(sys.executable).with_name("spanmeter"))
RESULT_FIELDS = {"requests", "errors", "timeouts", "error_rate", "timeout_rate", "requests_per_s", "latency_s",
                 "tokens_per_s", "cost_usd", "cost_per_request_usd", "spans_dropped", "peak_rss_mb", "cpu_percent", "time_share",
                 "recommendations"}  # fmt: skip
CALL_USD = float(calc_price(Usage(input_tokens=llm_fakes.INPUT_TOKENS, output_tokens=llm_fakes.OUTPUT_TOKENS),
                            model_ref=llm_fakes.OPENAI_RESPONSE_MODEL, provider_id="openai").total_price)  # fmt: skip


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANMETER_"))}
    env["PYTHONPATH"] = str(TESTS)
    env["OTEL_METRICS_EXPORTER"] = "none"
    return env


def bench(
    tmp_path, *args: str, check_exit: int | None = 0, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, dict | None]:
    out = tmp_path / f"result-{len(list(tmp_path.glob('result-*')))}.json"
    run = subprocess.run([SPANMETER, "bench", *args, "--output", str(out)], capture_output=True, text=True,
                         cwd=tmp_path, env={**environment(), **(env or {})}, timeout=120, check=False)  # fmt: skip
    if check_exit is not None:
        assert run.returncode == check_exit, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    return run, (json.loads(out.read_text()) if out.exists() else None)


def write_inputs(tmp_path, *inputs: dict) -> str:
    path = tmp_path / "inputs.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in inputs))
    return str(path)


def test_errors_timeouts_tokens_cost_and_time_share_of_a_sync_agent(tmp_path):
    inputs = write_inputs(tmp_path, {"delay": 0.01}, {"fail": True}, {"delay": 0.02}, {"delay": 2.0})
    run, result = bench(tmp_path, "support.bench_agent:answer", "--users", "2", "--requests", "4", "--warmup", "1",
                        "--timeout", "0.5", "--inputs", inputs)  # fmt: skip

    assert RESULT_FIELDS <= result.keys()
    assert set(result["latency_s"]) == {"avg", "p50", "p90", "p95", "p99"}
    # the warm-up takes input 1; the 8 measured requests then cycle from input 2: each input twice
    assert (result["requests"], result["errors"], result["timeouts"]) == (8, 2, 2)
    assert (result["error_rate"], result["timeout_rate"]) == (0.25, 0.25)
    assert result["error_types"] == {"InternalServerError": 2}
    assert result["latency_s"]["p50"] <= result["latency_s"]["p95"] <= result["latency_s"]["p99"] < 0.5
    calls = result["input_tokens"] / llm_fakes.INPUT_TOKENS  # 4 answered; abandoned ones may finish in time
    assert calls in (4, 5, 6)
    assert result["output_tokens"] == calls * llm_fakes.OUTPUT_TOKENS
    assert result["cost_usd"] == pytest.approx(calls * CALL_USD)
    assert result["cost_per_request_usd"] == pytest.approx(result["cost_usd"] / 8)
    share = result["time_share"]
    assert share["llm"] > 0 and share["tool"] > 0 and sum(share.values()) == pytest.approx(1.0)
    assert {item["kind"] for item in result["recommendations"]} >= {"error_rate"}
    assert "requests / errors / timeouts" in run.stdout and "8 / 2 / 2" in run.stdout


def test_an_async_agent_for_a_duration(tmp_path):
    _, result = bench(tmp_path, "support.bench_agent:answer_async", "--users", "3", "--duration", "1",
                        "--ramp-up", "0.3")  # fmt: skip
    assert result["requests"] >= 3 and result["errors"] == result["timeouts"] == 0
    assert result["spans_dropped"] == 0
    assert result["input_tokens"] == result["requests"] * llm_fakes.INPUT_TOKENS
    assert result["requests_per_s"] == pytest.approx(result["requests"] / 1.0, rel=0.3)
    assert result["scenario"]["duration_s"] == 1.0


def test_spans_the_queue_dropped_are_reported_not_hidden_in_short_totals(tmp_path):
    small_queue = {"OTEL_BSP_MAX_QUEUE_SIZE": "4", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4"}  # 2,000 spans cannot fit
    run, result = bench(tmp_path, "support.bench_agent:burst", "--requests", "1", "--users", "1", env=small_queue)
    assert 0 < result["spans_dropped"] < 2000
    assert f"spanmeter's span queue dropped {result['spans_dropped']} span(s)" in run.stderr


def test_the_baseline_gate_passes_within_tolerance_and_fails_beyond_it(tmp_path):
    _, baseline = bench(tmp_path, "support.bench_agent:answer", "--requests", "5")
    base = tmp_path / "base.json"
    base.write_text(json.dumps(baseline))
    run, _ = bench(tmp_path, "support.bench_agent:answer", "--requests", "5", "--baseline", str(base),
                   "--fail-on", "latency_s.p95:+10000%,error_rate:+0.01")  # fmt: skip
    assert "regression gate" in run.stdout and "FAIL" not in run.stdout

    faster = dict(baseline, latency_s=dict(baseline["latency_s"], p95=1e-9))
    base.write_text(json.dumps(faster))
    inputs = write_inputs(tmp_path, {}, {"fail": True})
    run, _ = bench(
        tmp_path,
        "support.bench_agent:answer",
        "--requests",
        "4",
        "--inputs",
        inputs,
        "--baseline",
        str(base),
        check_exit=1,
    )  # default: latency_s.p95:+10%,error_rate:+0.01
    assert "regression: latency_s.p95, error_rate beyond tolerance" in run.stderr
    gate = {line.split("│")[1].strip(): line for line in run.stdout.splitlines() if "FAIL" in line}
    assert set(gate) == {"latency_s.p95", "error_rate"}

    run, _ = bench(tmp_path, "support.bench_agent:answer", "--requests", "2", "--baseline", str(base),
                   "--fail-on", "latency_s.p95:ten", check_exit=2)  # fmt: skip
    assert "expected metric:+N%" in run.stderr


def test_ctrl_c_stops_the_load_and_reports_what_ran(tmp_path):
    inputs = write_inputs(tmp_path, {"delay": 0.05})
    out = tmp_path / "result.json"
    process = subprocess.Popen([SPANMETER, "bench", "support.bench_agent:answer", "--users", "2", "--duration", "60",
                                "--inputs", inputs, "--output", str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=environment())  # fmt: skip
    for line in process.stderr:
        if line.startswith("load started"):
            break
    else:
        pytest.fail(f"the load never started: {process.communicate()}")
    try:
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted:" in stderr
    result = json.loads(out.read_text())
    assert result["interrupted"] is True
    assert 2 <= result["requests"] < 2 * 60 / 0.05 and result["timeouts"] == 0
    assert "(interrupted)" in stdout


def test_an_unknown_gate_metric_is_a_usage_error_naming_the_known_ones(tmp_path):
    base = tmp_path / "base.json"
    base.write_text("{}")
    run, result = bench(tmp_path, "support.bench_agent:answer", "--requests", "2", "--baseline", str(base),
                        "--fail-on", "latency_s.p96:+10%", check_exit=2)  # fmt: skip
    assert "unknown metric 'latency_s.p96'" in run.stderr and "latency_s.p95" in run.stderr
    assert "regression" not in run.stderr and result is None  # refused before the load ran


def test_json_prints_the_result_on_stdout_as_report_does_and_json_file_still_writes_with_a_warning(tmp_path):
    run = subprocess.run([SPANMETER, "bench", "support.bench_agent:answer", "--requests", "3", "--json"],
                         capture_output=True, text=True, cwd=tmp_path, env=environment(), timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)  # stdout is the JSON alone; the tables went to stderr
    assert result["requests"] == 3 and "requests/s" in run.stderr
    assert "deprecated" not in run.stderr

    old = tmp_path / "old.json"
    run = subprocess.run([SPANMETER, "bench", "support.bench_agent:answer", "--requests", "2", "--json", str(old)],
                         capture_output=True, text=True, cwd=tmp_path, env=environment(), timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "--json FILE is deprecated: use --output FILE" in run.stderr
    assert json.loads(old.read_text())["requests"] == 2 and "spanmeter bench" in run.stdout


def test_live_figures_show_while_the_load_runs(tmp_path):
    inputs = write_inputs(tmp_path, {"delay": 0.02}, {"fail": True})
    child = pexpect.spawn(SPANMETER, ["bench", "support.bench_agent:answer", "--duration", "3", "--inputs", inputs],
                          cwd=str(tmp_path), env={**environment(), "COLUMNS": "160", "LINES": "40", "TERM": "xterm"},
                          dimensions=(40, 160), encoding="utf-8", timeout=60)  # fmt: skip
    try:
        child.expect(r"(\d+\.\d) req/s  p95 (\d+\.\d+) s  errors ([1-9]\d*)  timeouts 0")
        assert float(child.match.group(1)) > 0 and float(child.match.group(2)) > 0
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_the_html_page_draws_latency_and_requests_over_time_in_headless_chromium(tmp_path):
    page = tmp_path / "bench.html"
    inputs = write_inputs(tmp_path, {"delay": 0.05}, {"delay": 0.2}, {"fail": True})
    _, result = bench(tmp_path, "support.bench_agent:answer", "--duration", "3", "--inputs", inputs,
                        "--html", str(page))  # fmt: skip
    assert len(result["timeline"]["buckets"]) >= 3 and result["timeline"]["bucket_s"] == 1
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched at view time
    for width in (800, 1400):
        dom = chromium(f"--window-size={width},2000", "--dump-dom", page.as_uri(), profile=tmp_path / f"p{width}")
        assert "Uncaught" not in dom.stderr
        for chart, charts in (("latency-over-time", 2), ("requests-over-time", 1)):
            figure = dom.stdout[dom.stdout.index(f'<figure id="{chart}"') :]
            figure = figure[: figure.index("</figure>")]
            svgs = re.findall(r'<svg class="chart"[^>]*data-rendered="(\d+)x(\d+)"[^>]*data-marks="(\d+)"', figure)
            assert len(svgs) == charts, (chart, figure[:300])
            for drawn_width, height, marks in svgs:
                assert 0 < int(drawn_width) <= width and int(height) > 0 and int(marks) >= 3, (chart, svgs)
    assert "failed" in text and "p95 latency" in text
