"""`spanmeter top` in a pseudo-terminal against a served Insights API: shows cost and an
anomaly as it streams in, fits 80x24 and 160x60 with every section, sorts and filters by key,
reconnects when the pipeline restarts, quits on q (0) and Ctrl-C (130), and says clearly when
nothing answers."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

import pexpect
import pytest
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from spanmeter.cli import main
from spanmeter.pipeline.insights_store import InsightsStore
from spanmeter.pipeline.top import read_snapshot
from support.binaries import free_port
from support.insights import llm_outcome, served
from support.pipeline import basic_config, otlp_sink, running_pipeline, send_llm_spans

pytestmark = pytest.mark.integration
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPANMETER = str(Path(sys.executable).with_name("spanmeter"))


def _spawn(target: str, lines: int = 60, columns: int = 200) -> pexpect.spawn:
    assert shutil.which(SPANMETER), SPANMETER
    env = {**os.environ, "LINES": str(lines), "COLUMNS": str(columns), "TERM": "xterm"}  # rich reads these first
    return pexpect.spawn(
        SPANMETER, ["top", "--target", target, "--interval", "0.3"], dimensions=(lines, columns), encoding="utf-8",
        timeout=20, env=env,
    )  # fmt: skip


def _busy_store() -> InsightsStore:
    """More groups and incidents than an 80x24 terminal holds, with errors and latencies."""
    store = InsightsStore()
    now = time.time_ns()
    for n in range(12):
        for call in range(4):
            store.on_outcome(llm_outcome(model=f"model-{n:02d}", agent=f"agent-{n % 3}", cost_usd=0.01 * (n + 1),
                                         duration_s=0.1 * (n + 1), error_type="Timeout" if call < n % 4 else None,
                                         end_time_ns=now - (40 - n) * 10**9, span_id=n * 10 + call))  # fmt: skip
    for n in range(15):
        store.on_outcome(llm_outcome(span_name=f"invoke_agent slow-{n:02d}", trace_id=TRACE_ID + n, span_id=900 + n,
                                     anomaly_reasons=("latency",), anomaly_score=6.0, end_time_ns=now - n * 10**9,
                                     anomaly_values={"latency": (30.0, 2.0)}))  # fmt: skip
    return store


def _frame(child: pexpect.spawn) -> str:
    """The text of one whole frame (from the view's first line to the next frame's), without styles."""
    child.expect("spanmeter top")
    child.expect("spanmeter top")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)


@pytest.mark.parametrize(("lines", "columns"), [(24, 80), (60, 160)])
def test_every_section_fits_the_terminal(lines, columns):
    with served(_busy_store()) as (_, target):
        child = _spawn(target, lines, columns)
        try:
            frame = _frame(child)
            assert len(frame.rstrip().splitlines()) <= lines
            for section in ("cost rate", "over the last", "budget", "by model, sorted by cost", "anomaly incidents"):
                assert section in frame
            for header in ("model", "calls", "error %", "p95", "cost", "span", "reasons", "trace"):
                assert header in frame
            assert "invoke_agent slow-00" in frame or "invoke_agent sl" in frame  # the newest incident
            trace = f"{TRACE_ID:032x}"  # the newest incident's: whole when it fits, else its first 8 digits
            assert (trace in frame) if columns >= 140 else (trace[:8] in frame and trace not in frame)
            assert frame.count("model-") >= 2 and frame.count("30 s / 2 s") >= 2
            child.send("q")
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
    assert child.exitstatus == 0


def test_keys_switch_the_grouping_sort_and_filter():
    with served(_busy_store()) as (_, target):
        child = _spawn(target, 30, 120)
        try:
            child.expect("by model, sorted by cost")
            child.send("a")
            child.expect("by agent, sorted by cost")
            child.expect("agent-2")
            child.send("l")
            child.expect("by agent, sorted by latency")
            child.send("s")
            child.expect("by service, sorted by latency")
            child.send("m")
            child.send("e")
            child.expect("by model, sorted by errors")
            child.send("/model-07\r")
            child.expect(r"filter /model-07 \(1 of 13\)")
            child.send("\x1b")
            child.expect(r"sorted by errors \(13 of 13\)")
            child.send("q")
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
    assert child.exitstatus == 0


def _pipeline_config(sink_endpoint: str, insights_port: int) -> str:
    """The checked-in shape: OTLP in, spanmeter with its Insights API on a fixed port, a sink out."""
    return basic_config(sink_endpoint).replace(
        "spanmeter: {}", f"spanmeter:\n    insights:\n      endpoint: 127.0.0.1:{insights_port}"
    )


def test_reconnects_when_the_pipeline_restarts_on_the_same_port(tmp_path):
    """A real pipeline (OTLP in, Insights API out) stopped and started again: "reconnecting" while it is
    down, the last data kept on screen, the new pipeline's data once it answers again."""
    port = free_port()
    with otlp_sink() as sink:
        with running_pipeline(tmp_path, _pipeline_config(sink.endpoint, port)) as service:
            send_llm_spans(
                OTLPSpanExporter(endpoint=service.endpoints["otlp/grpc"], insecure=True), 2, "before-restart"
            )
            child = _spawn(f"127.0.0.1:{port}", 30, 120)
            try:
                child.expect("s group")  # the view is up
                child.send("s")
                child.expect("before-restart")
            except BaseException:
                child.close(force=True)
                raise
        try:
            child.expect(f"reconnecting to 127.0.0.1:{port}")
            child.expect("before-restart")  # the last data stays on screen meanwhile
            with running_pipeline(tmp_path, _pipeline_config(sink.endpoint, port)) as service:
                send_llm_spans(
                    OTLPSpanExporter(endpoint=service.endpoints["otlp/grpc"], insecure=True), 1, "after-restart"
                )
                child.expect("after-restart")
                child.send("q")
                child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
    assert child.exitstatus == 0


def test_ctrl_c_exits_130_like_bench():
    with served(InsightsStore()) as (_, target):
        child = _spawn(target)
        try:
            child.expect("anomaly incidents")
            child.sendintr()
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
    assert child.exitstatus == 130


@pytest.mark.parametrize("interval", ["0", "-1", "soon"])
def test_the_interval_is_validated(interval):
    result = CliRunner().invoke(main, ["top", "--interval", interval])
    assert result.exit_code == 2
    assert "--interval" in result.output


def test_top_shows_cost_and_a_streamed_anomaly_then_quits_on_q():
    store = InsightsStore()
    store.on_outcome(llm_outcome(model="gpt-4o-mini", agent="planner", cost_usd=1.2345))
    with served(store) as (_, target):
        child = _spawn(target)
        try:
            child.expect("by model, sorted by cost")
            child.expect(r"\$1\.2345")
            child.send("a")
            child.expect("planner")
            store.on_outcome(
                llm_outcome(
                    span_name="invoke_agent slowpoke",
                    anomaly_reasons=("latency",),
                    anomaly_score=7.0,
                    anomaly_values={"latency": (30.0, 2.0)},
                )
            )
            child.expect("invoke_agent slowpoke")
            child.expect(r"30 s / 2 s")
            store.on_outcome(  # its workflow ends later, around it: the same incident, shown as its context
                llm_outcome(span_name="invoke_workflow checkout", kind="workflow", end_time_ns=10, duration_s=1.0)
            )
            child.expect("invoke_workflow checkout")
            child.send("q")
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
    assert child.exitstatus == 0, child.before


def test_top_says_when_the_pipeline_is_unreachable():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    child = _spawn(f"127.0.0.1:{port}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert f"cannot reach the Insights API at 127.0.0.1:{port}" in child.before


def test_the_cost_rate_divides_by_the_time_observed_not_the_window():
    """A 40 s burst costing $4 is $6/min, not $4 over five minutes ($0.80/min)."""
    now = time.time_ns()
    store = InsightsStore()
    for n in range(5):
        store.on_outcome(llm_outcome(cost_usd=0.8, end_time_ns=now - (40 - 10 * n) * 10**9, span_id=n))
    with served(store) as (stub, _):
        snapshot = read_snapshot(stub, (), now_ns=now)
    assert snapshot.observed_s == pytest.approx(40.0)
    assert snapshot.rate_usd_per_min == pytest.approx(6.0)
