"""`spanmeter top` in a pseudo-terminal against a served Insights API: shows cost and an
anomaly as it streams in, quits on q, and says clearly when nothing answers."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import pexpect
import pytest

from spanmeter.pipeline.insights_store import InsightsStore
from support.insights import llm_outcome, served

pytestmark = pytest.mark.integration
SPANMETER = str(Path(sys.executable).with_name("spanmeter"))


def _spawn(target: str) -> pexpect.spawn:
    assert shutil.which(SPANMETER), SPANMETER
    env = {**os.environ, "LINES": "60", "COLUMNS": "200", "TERM": "xterm"}  # rich sizes the view by these first
    return pexpect.spawn(
        SPANMETER, ["top", "--target", target, "--interval", "0.3"], dimensions=(60, 200), encoding="utf-8",
        timeout=20, env=env,
    )  # fmt: skip


def test_top_shows_cost_and_a_streamed_anomaly_then_quits_on_q():
    store = InsightsStore()
    store.on_outcome(llm_outcome(model="gpt-4o-mini", agent="planner", cost_usd=1.2345))
    with served(store) as (_, target):
        child = _spawn(target)
        try:
            child.expect("top spenders by model")
            child.expect(r"\$1\.2345")
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
