"""``spanmeter top``: a live terminal view of a running pipeline, over its Insights API.

Polls ``GetCostSummary`` (by the chosen grouping over everything held, and the last five
minutes for the cost rate), ``GetBudgetStatus`` and ``ListAnomalies`` every ``interval``
seconds, and keeps a ``WatchAnomalies`` stream open on a thread so incidents show as they are
flagged. Each incident is one row per trace: its deepest flagged span, within its ancestors
(filled in by the next refresh, as they end).

The view fits the terminal (down to 80x24): rows and columns are dropped by size, the anomaly
list always keeps rows. The cost rate divides by the time actually observed (a 40 s burst is
40 s, not five minutes). When the pipeline stops answering, the last data stays on screen under
a "reconnecting" banner until it answers again. Keys: ``m``/``a``/``s`` group by model, agent,
service; ``c``/``e``/``l`` sort by cost, error rate, p95 latency; ``/`` filters the groups by
name (Enter keeps it, Esc clears it); ``q`` quits. Ctrl-C quits too (the command exits 130).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from spanmeter.v1 import insights_pb2 as pb
from spanmeter.v1 import insights_pb2_grpc as pb_grpc

RATE_WINDOW_S = 300
MAX_ANOMALIES = 50
"""Incidents kept on screen (the terminal's height decides how many show)."""
_RPC_TIMEOUT_S = 5.0
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_CHANNEL_OPTIONS = [  # a restarted pipeline is seen within about a second, not after gRPC's 2-minute backoff
    ("grpc.initial_reconnect_backoff_ms", 300),
    ("grpc.min_reconnect_backoff_ms", 300),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
GROUPINGS = {
    "m": ("model", pb.GROUP_BY_MODEL),
    "a": ("agent", pb.GROUP_BY_AGENT),
    "s": ("service", pb.GROUP_BY_SERVICE),
}
SORTS = {"c": "cost", "e": "errors", "l": "latency"}
_SORT_KEYS: dict[str, Callable[[pb.CostRow], tuple]] = {
    "cost": lambda row: (-row.cost_usd, -row.calls, row.key),
    "errors": lambda row: (-_error_rate(row), -row.errors, row.key),
    "latency": lambda row: (-(row.p95_s if row.HasField("p95_s") else -1.0), row.key),
}
_WIDE, _MEDIUM = 140, 100
"""Terminal widths from which more columns show."""


class Unreachable(Exception):
    """The pipeline's Insights API did not answer, or refused us."""


@dataclass
class Snapshot:
    """What one refresh read."""

    rows: list[pb.CostRow] = field(default_factory=list)
    total: pb.CostRow = field(default_factory=pb.CostRow)
    recent: pb.CostRow = field(default_factory=pb.CostRow)
    observed_s: float = 0.0
    """Seconds from the first span counted in the rate window to now (0: none counted)."""
    budgets: list[pb.BudgetWindow] = field(default_factory=list)
    anomalies: list[pb.Anomaly] = field(default_factory=list)

    @property
    def rate_usd_per_min(self) -> float:
        return self.recent.cost_usd / self.observed_s * 60 if self.observed_s else 0.0


@dataclass
class ViewState:
    """What the keys chose, and whether the pipeline answers."""

    grouping: str = "m"
    sort: str = "cost"
    filter: str = ""
    typing_filter: bool = False
    down_since: float | None = None
    """Wall-clock time the pipeline stopped answering; None while it answers."""

    def press(self, key: str) -> bool:
        """Apply one key; False when it quits."""
        if self.typing_filter:
            self._type(key)
        elif key in ("q", "Q"):
            return False
        elif key in GROUPINGS:
            self.grouping = key
        elif key in SORTS:
            self.sort = SORTS[key]
        elif key == "/":
            self.typing_filter, self.filter = True, ""
        elif key == "\x1b":
            self.filter = ""
        return True

    def _type(self, key: str) -> None:
        if key in ("\r", "\n"):
            self.typing_filter = False
        elif key == "\x1b":
            self.typing_filter, self.filter = False, ""
        elif key in ("\x7f", "\b"):
            self.filter = self.filter[:-1]
        elif key.isprintable():
            self.filter += key

    @property
    def grouping_name(self) -> str:
        return GROUPINGS[self.grouping][0]

    def shown_rows(self, rows: list[pb.CostRow]) -> list[pb.CostRow]:
        """The groups matching the filter (a case-insensitive substring), in the chosen order."""
        needle = self.filter.lower()
        return sorted((row for row in rows if needle in (row.key or "-").lower()), key=_SORT_KEYS[self.sort])


def connect(target: str, *, token: str | None = None, ca_file: str | None = None, timeout_s: float = 3.0):
    """A stub for the Insights API at ``target``; Unreachable when nothing answers in time."""
    if ca_file:
        with open(ca_file, "rb") as file:
            credentials = grpc.ssl_channel_credentials(root_certificates=file.read())
        channel = grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)
    else:
        channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
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


def read_snapshot(stub: pb_grpc.InsightsStub, metadata, group_by: int = pb.GROUP_BY_MODEL,
                  now_ns: int | None = None) -> Snapshot:  # fmt: skip
    """One refresh: cost by ``group_by`` over everything held, the recent rate, budgets, anomalies."""
    now_ns = now_ns or time.time_ns()
    call = {"metadata": metadata, "timeout": _RPC_TIMEOUT_S}
    held = stub.GetCostSummary(pb.GetCostSummaryRequest(group_by=group_by), **call)
    window = pb.TimeWindow(start_time_unix_nano=now_ns - RATE_WINDOW_S * 1_000_000_000)
    recent = stub.GetCostSummary(pb.GetCostSummaryRequest(window=window), **call)
    budgets = stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), **call)
    anomalies = stub.ListAnomalies(pb.ListAnomaliesRequest(limit=MAX_ANOMALIES), **call)
    return Snapshot(
        rows=list(held.rows),
        total=held.total,
        recent=recent.total,
        observed_s=observed_seconds(recent, now_ns),
        budgets=list(budgets.windows),
        anomalies=list(anomalies.anomalies),
    )


def observed_seconds(response: pb.GetCostSummaryResponse, now_ns: int) -> float:
    """From the first span the window counted to now, at least a second; 0 when it counted none."""
    if not response.HasField("observed"):
        return 0.0
    first = response.observed.start_time_unix_nano
    return min(max((now_ns - first) / 1e9, 1.0), RATE_WINDOW_S)


def merge_anomalies(shown: deque[pb.Anomaly], listed: list[pb.Anomaly]) -> None:
    """One row per trace, newest first: the listed incidents (with the ancestors known so far)
    and any streamed since that the list does not have yet."""
    listed_traces = {anomaly.trace_id for anomaly in listed}
    rows = [*listed, *(anomaly for anomaly in list(shown) if anomaly.trace_id not in listed_traces)]
    rows.sort(key=lambda anomaly: anomaly.time_unix_nano, reverse=True)
    shown.clear()
    shown.extend(rows[: shown.maxlen])


# -- rendering ---------------------------------------------------------------------------------


def _money(usd: float) -> str:
    return f"${usd:,.4f}" if usd < 100 else f"${usd:,.2f}"


def _error_rate(row: pb.CostRow) -> float:
    return row.errors / row.calls if row.calls else 0.0


def _seconds(row: pb.CostRow) -> str:
    return f"{row.p95_s:.3g} s" if row.HasField("p95_s") else "-"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _table(title: str) -> Table:
    """A borderless table: a title line, a header line and a rule, then one line per row."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, expand=True, pad_edge=False)


_GROUP_COLUMNS = (  # (header, minimum width, cell)
    ("calls", 0, lambda row: f"{row.calls:,}"),
    ("errors", _WIDE, lambda row: f"{row.errors:,}"),
    ("error %", 0, lambda row: f"{_error_rate(row):.1%}"),
    ("p50", _WIDE, lambda row: f"{row.p50_s:.3g} s" if row.HasField("p50_s") else "-"),
    ("p95", 0, _seconds),
    ("tokens in", _MEDIUM, lambda row: f"{row.input_tokens:,}"),
    ("tokens out", _MEDIUM, lambda row: f"{row.output_tokens:,}"),
    ("cost", 0, lambda row: _money(row.cost_usd)),
    ("unpriced", _MEDIUM, lambda row: f"{row.unpriced_calls:,}"),
)


def groups_table(state: ViewState, rows: list[pb.CostRow], width: int, limit: int) -> Table:
    """Cost, error rate and p95 per group (named by the grouping), the columns the width allows."""
    shown = state.shown_rows(rows)
    title = f"by {state.grouping_name}, sorted by {state.sort}"
    if state.filter or state.typing_filter:
        title += f", filter /{state.filter}" + ("_" if state.typing_filter else "")
    table = _table(f"{title} ({len(shown)} of {len(rows)})")
    columns = [column for column in _GROUP_COLUMNS if width >= column[1]]
    table.add_column(state.grouping_name, ratio=1, no_wrap=True, overflow="ellipsis")
    for header, _, _ in columns:
        table.add_column(header, justify="right", no_wrap=True)
    for row in shown[:limit]:
        table.add_row(row.key or "-", *(cell(row) for _, _, cell in columns))
    if not shown:
        table.add_row("no calls yet" if not rows else "no group matches the filter")
    return table


def budget_lines(windows: list[pb.BudgetWindow], width: int) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True, overflow="ellipsis")
    bar_width = 30 if width >= _MEDIUM else 12
    for window in windows:
        table.add_row(
            f"budget {window.window}",
            ProgressBar(total=1.0, completed=min(window.utilization, 1.0), width=bar_width),
            f"{window.utilization:.0%}  {_money(window.spend_usd)} / {_money(window.budget_usd)}"
            f"  projected {_money(window.projected_usd)}",
        )
    if not windows:
        table.add_row("budget", "none configured", "")
    return table


def short_trace_id(trace_id: str, width: int) -> str:
    """The whole id when it fits; else its first 8 hex digits (unique enough to find it in Jaeger)."""
    return trace_id if width >= _WIDE else trace_id[:8]


_ANOMALY_COLUMNS = (  # (header, minimum width, cell, flexible)
    ("time", 0, lambda a, w: time.strftime("%H:%M:%S", time.localtime(a.time_unix_nano / 1e9)), False),
    ("service", _MEDIUM, lambda a, w: a.service, True),
    ("span", 0, lambda a, w: a.span_name, True),
    ("within", _MEDIUM, lambda a, w: " < ".join(ancestor.span_name for ancestor in a.ancestors) or "-", True),
    ("reasons", 0, lambda a, w: ", ".join(a.reasons), True),
    ("value / baseline", 0, lambda a, w: _value_and_baseline(a), False),
    ("score", _MEDIUM, lambda a, w: f"{a.score:.1f}", False),
    ("trace", 0, lambda a, w: short_trace_id(a.trace_id, w), False),
)


def anomalies_table(anomalies: list[pb.Anomaly], width: int, limit: int) -> Table:
    table = _table(f"anomaly incidents, newest first, one per trace ({len(anomalies)})")
    columns = [column for column in _ANOMALY_COLUMNS if width >= column[1]]
    for header, _, _, flexible in columns:
        table.add_column(header, no_wrap=True, overflow="ellipsis", ratio=1 if flexible else None)
    for anomaly in anomalies[:limit]:
        table.add_row(*(cell(anomaly, width) for _, _, cell, _ in columns))
    if not anomalies:
        table.add_row("none flagged yet")
    return table


def _value_and_baseline(anomaly: pb.Anomaly) -> str:
    """The top reason's value against its baseline, in its unit (s, tokens, calls...)."""
    for value in anomaly.values:
        if anomaly.reasons and value.reason == anomaly.reasons[0]:
            unit = " s" if value.reason == "latency" else ""
            return f"{value.value:.4g}{unit} / {value.baseline:.4g}{unit}"
    return "-"


def header(target: str, snapshot: Snapshot, state: ViewState) -> Text:
    """Two lines: the connection and the recent window; everything held and the keys."""
    recent, total = snapshot.recent, snapshot.total
    if state.down_since is not None:
        since = time.strftime("%H:%M:%S", time.localtime(state.down_since))
        status = (f"reconnecting to {target} (no answer since {since}; data as of then)", "bold yellow")
    else:
        status = (target, "")
    observed = (
        f"over the last {_duration(snapshot.observed_s)}"
        if snapshot.observed_s
        else f"nothing in the last {RATE_WINDOW_S // 60} min"
    )
    recent_p95 = f"  p95 {_seconds(recent)}" if recent.calls else ""
    return Text.assemble(
        ("spanmeter top ", "bold"), status,
        f"\ncost rate {_money(snapshot.rate_usd_per_min)}/min {observed}: {recent.calls:,} calls, "
        f"{_error_rate(recent):.1%} errors{recent_p95}",
        f"\nheld: {_money(total.cost_usd)} over {total.calls:,} calls   "
        "keys: m/a/s group  c/e/l sort  / filter  q quit",
        no_wrap=True, overflow="ellipsis",
    )  # fmt: skip


def render(target: str, snapshot: Snapshot, anomalies: list[pb.Anomaly], state: ViewState, size: tuple[int, int]):
    """The whole view for a terminal of ``size`` (width, height): rows split between the groups and
    the anomaly list, which always keeps at least a few."""
    width, height = size
    budgets = max(len(snapshot.budgets), 1)
    fixed = 3 + budgets + 3 + 3 + 1  # header, budgets, two tables' title/header/rule, a spare line
    free = max(height - fixed, 4)
    group_rows = min(max(len(state.shown_rows(snapshot.rows)), 1), max(free // 2, 2))
    return Group(
        header(target, snapshot, state),
        budget_lines(snapshot.budgets, width),
        groups_table(state, snapshot.rows, width, group_rows),
        anomalies_table(anomalies, width, free - group_rows),
    )


# -- running -----------------------------------------------------------------------------------


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
def _keys() -> Iterator[Callable[[float], str | None]]:
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
    """The live view until q (returns) or Ctrl-C (KeyboardInterrupt propagates). Raises Unreachable
    when the pipeline does not answer at start, or refuses the calls."""
    channel, stub, metadata = connect(target, token=token, ca_file=ca_file)
    anomalies: deque[pb.Anomaly] = deque(maxlen=MAX_ANOMALIES)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(stub, metadata, anomalies, stop), daemon=True)
    watcher.start()
    try:
        console = Console()
        with _keys() as read_key, Live(console=console, auto_refresh=False, screen=True) as live:
            _Loop(target, stub, metadata, anomalies, interval_s).run(live, console, read_key)
    finally:
        stop.set()
        channel.close()


@dataclass
class _Loop:
    target: str
    stub: pb_grpc.InsightsStub
    metadata: tuple
    anomalies: deque[pb.Anomaly]
    interval_s: float
    state: ViewState = field(default_factory=ViewState)
    snapshot: Snapshot = field(default_factory=Snapshot)

    def refresh(self) -> None:
        """Read a snapshot; a pipeline that stops answering is shown as reconnecting, not left."""
        try:
            self.snapshot = read_snapshot(self.stub, self.metadata, GROUPINGS[self.state.grouping][1])
        except grpc.RpcError as exc:
            if exc.code() not in _RETRYABLE:
                raise Unreachable(f"the Insights API at {self.target} refused: {exc.code().name} {exc.details()}")
            if self.state.down_since is None:
                self.state.down_since = time.time()
            return
        self.state.down_since = None
        merge_anomalies(self.anomalies, self.snapshot.anomalies)

    def run(self, live: Live, console: Console, read_key: Callable[[float], str | None]) -> None:
        next_read = 0.0
        while True:
            now = time.monotonic()
            if now >= next_read:
                self.refresh()
                next_read = now + self.interval_s
            view = render(self.target, self.snapshot, list(self.anomalies), self.state, console.size)
            live.update(view, refresh=True)
            key = read_key(min(0.2, self.interval_s))
            if key is None:
                continue
            grouping = self.state.grouping
            if not self.state.press(key):
                return
            if self.state.grouping != grouping:
                next_read = 0.0  # the new grouping's rows now, not at the next tick
