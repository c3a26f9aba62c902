"""``spanmeter top``: a live terminal view of a running pipeline, over its Insights API.

Polls ``GetCostSummary`` (by model, by agent, and the last five minutes for the cost
rate), ``GetBudgetStatus`` and ``ListAnomalies`` every ``interval`` seconds, and keeps a
``WatchAnomalies`` stream open on a thread so incidents show as they are flagged. Each
incident is one row per trace: its deepest flagged span, within its ancestors (filled in
by the next refresh, as they end). ``q`` or Ctrl-C quits and restores the terminal.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from spanmeter.v1 import insights_pb2 as pb
from spanmeter.v1 import insights_pb2_grpc as pb_grpc

RATE_WINDOW_S = 300
_SHOWN_ROWS = 8
_SHOWN_ANOMALIES = 10


class Unreachable(Exception):
    """The pipeline's Insights API did not answer."""


@dataclass
class Snapshot:
    """What one refresh read."""

    by_model: list[pb.CostRow] = field(default_factory=list)
    by_agent: list[pb.CostRow] = field(default_factory=list)
    total: pb.CostRow | None = None
    rate_usd_per_min: float = 0.0
    budgets: list[pb.BudgetWindow] = field(default_factory=list)
    anomalies: list[pb.Anomaly] = field(default_factory=list)


def connect(target: str, *, token: str | None = None, ca_file: str | None = None, timeout_s: float = 3.0):
    """A stub for the Insights API at ``target``; Unreachable when nothing answers in time."""
    if ca_file:
        with open(ca_file, "rb") as file:
            credentials = grpc.ssl_channel_credentials(root_certificates=file.read())
        channel = grpc.secure_channel(target, credentials)
    else:
        channel = grpc.insecure_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        channel.close()
        raise Unreachable(
            f"cannot reach the Insights API at {target} within {timeout_s:g} s: is `spanmeter pipeline` "
            "running with processors.spanmeter.insights.endpoint set to this address?"
        ) from None
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    return channel, pb_grpc.InsightsStub(channel), metadata


def read_snapshot(stub: pb_grpc.InsightsStub, metadata, now_ns: int | None = None) -> Snapshot:
    """One refresh: cost by model and agent over everything held, the recent rate, budgets."""
    now_ns = now_ns or time.time_ns()
    by_model = stub.GetCostSummary(pb.GetCostSummaryRequest(group_by=pb.GROUP_BY_MODEL), metadata=metadata)
    by_agent = stub.GetCostSummary(pb.GetCostSummaryRequest(group_by=pb.GROUP_BY_AGENT), metadata=metadata)
    recent = stub.GetCostSummary(
        pb.GetCostSummaryRequest(window=pb.TimeWindow(start_time_unix_nano=now_ns - RATE_WINDOW_S * 1_000_000_000)),
        metadata=metadata,
    )
    budgets = stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), metadata=metadata)
    anomalies = stub.ListAnomalies(pb.ListAnomaliesRequest(limit=_SHOWN_ANOMALIES), metadata=metadata)
    return Snapshot(
        by_model=list(by_model.rows),
        by_agent=list(by_agent.rows),
        total=by_model.total,
        rate_usd_per_min=recent.total.cost_usd / (RATE_WINDOW_S / 60),
        budgets=list(budgets.windows),
        anomalies=list(anomalies.anomalies),
    )


def merge_anomalies(shown: deque[pb.Anomaly], listed: list[pb.Anomaly]) -> None:
    """One row per trace, newest first: the listed incidents (with the ancestors known so far)
    and any streamed since that the list does not have yet."""
    listed_traces = {anomaly.trace_id for anomaly in listed}
    rows = [*listed, *(anomaly for anomaly in list(shown) if anomaly.trace_id not in listed_traces)]
    rows.sort(key=lambda anomaly: anomaly.time_unix_nano, reverse=True)
    shown.clear()
    shown.extend(rows[: shown.maxlen])


def _money(usd: float) -> str:
    return f"${usd:,.4f}" if usd < 100 else f"${usd:,.2f}"


def _spenders(title: str, rows: list[pb.CostRow]) -> Table:
    table = Table(title=title, expand=True)
    for column in ("key", "calls", "tokens in", "tokens out", "cost", "unpriced"):
        table.add_column(column, justify="left" if column == "key" else "right")
    for row in rows[:_SHOWN_ROWS]:
        table.add_row(
            row.key or "-",
            f"{row.calls:,}",
            f"{row.input_tokens:,}",
            f"{row.output_tokens:,}",
            _money(row.cost_usd),
            f"{row.unpriced_calls:,}",
        )
    return table


def _budgets(windows: list[pb.BudgetWindow]) -> Table:
    table = Table(title="budgets", expand=True)
    for column in ("window", "used", "spend / budget", "projected"):
        table.add_column(column)
    for window in windows:
        table.add_row(
            window.window,
            ProgressBar(total=1.0, completed=min(window.utilization, 1.0), width=30),
            f"{_money(window.spend_usd)} / {_money(window.budget_usd)} ({window.utilization:.0%})",
            _money(window.projected_usd),
        )
    if not windows:
        table.add_row("-", "", "no budget configured", "")
    return table


def _anomalies(anomalies: deque[pb.Anomaly]) -> Table:
    table = Table(title="latest anomaly incidents (one per trace)", expand=True)
    for column in ("time", "service", "span", "within", "reasons", "value / baseline", "score", "trace id"):
        table.add_column(column)
    for anomaly in list(anomalies)[:_SHOWN_ANOMALIES]:
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(anomaly.time_unix_nano / 1e9)),
            anomaly.service,
            anomaly.span_name,
            " < ".join(ancestor.span_name for ancestor in anomaly.ancestors) or "-",
            ", ".join(anomaly.reasons),
            _value_and_baseline(anomaly),
            f"{anomaly.score:.1f}",
            anomaly.trace_id,
        )
    return table


def _value_and_baseline(anomaly: pb.Anomaly) -> str:
    """The top reason's value against its baseline, in its unit (s, tokens, calls...)."""
    for value in anomaly.values:
        if anomaly.reasons and value.reason == anomaly.reasons[0]:
            unit = " s" if value.reason == "latency" else ""
            return f"{value.value:.4g}{unit} / {value.baseline:.4g}{unit}"
    return "-"


def render(target: str, snapshot: Snapshot, anomalies: deque[pb.Anomaly]) -> Group:
    total = snapshot.total or pb.CostRow()
    header = Text.assemble(
        ("spanmeter top ", "bold"),
        f"{target}   cost rate {_money(snapshot.rate_usd_per_min)}/min (last {RATE_WINDOW_S // 60} min)   ",
        f"total {_money(total.cost_usd)} over {total.calls:,} calls   q: quit",
    )
    return Group(
        header,
        _spenders("top spenders by model", snapshot.by_model),
        _spenders("top spenders by agent", snapshot.by_agent),
        _budgets(snapshot.budgets),
        _anomalies(anomalies),
    )


def _watch(stub: pb_grpc.InsightsStub, metadata, anomalies: deque[pb.Anomaly], stop: threading.Event) -> None:
    """Keep a WatchAnomalies stream open, newest first into ``anomalies``; reconnect on errors."""
    while not stop.is_set():
        stream = stub.WatchAnomalies(pb.WatchAnomaliesRequest(), metadata=metadata)
        stop_watching = threading.Thread(target=lambda s=stream: (stop.wait(), s.cancel()), daemon=True)
        stop_watching.start()
        with contextlib.suppress(grpc.RpcError):
            for anomaly in stream:
                if all(shown.trace_id != anomaly.trace_id for shown in list(anomalies)):
                    anomalies.appendleft(anomaly)
        stop.wait(1.0)


@contextlib.contextmanager
def _keys() -> Iterator[callable]:
    """Single key presses from a terminal stdin (cbreak mode, restored on exit); elsewhere none."""
    if not sys.stdin.isatty():
        yield lambda timeout: (time.sleep(timeout), None)[1]
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:

        def read(timeout: float) -> str | None:
            ready, _, _ = select.select([fd], [], [], timeout)
            return os.read(fd, 1).decode(errors="ignore") if ready else None

        yield read
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run(target: str, *, interval_s: float = 2.0, token: str | None = None, ca_file: str | None = None) -> None:
    """The live view until q or Ctrl-C. Raises Unreachable when the pipeline does not answer."""
    channel, stub, metadata = connect(target, token=token, ca_file=ca_file)
    anomalies: deque[pb.Anomaly] = deque(
        stub.ListAnomalies(pb.ListAnomaliesRequest(limit=_SHOWN_ANOMALIES), metadata=metadata).anomalies,
        maxlen=_SHOWN_ANOMALIES,
    )
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(stub, metadata, anomalies, stop), daemon=True)
    watcher.start()
    try:
        with _keys() as read_key, Live(auto_refresh=False, screen=False) as live:
            _loop(target, stub, metadata, anomalies, live, read_key, interval_s)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        channel.close()


def _loop(target, stub, metadata, anomalies, live: Live, read_key, interval_s: float) -> None:
    next_read = 0.0
    snapshot = Snapshot()
    while True:
        now = time.monotonic()
        if now >= next_read:
            try:
                snapshot = read_snapshot(stub, metadata)
            except grpc.RpcError as exc:
                raise Unreachable(f"the Insights API at {target} stopped answering: {exc.code().name}") from None
            merge_anomalies(anomalies, snapshot.anomalies)
            next_read = now + interval_s
        live.update(render(target, snapshot, anomalies), refresh=True)
        if read_key(0.2) in ("q", "Q"):
            return
