"""The Insights API over real gRPC on loopback: each RPC's answer, bounds, reflection."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from spanmeter.pipeline.insights_api import SERVICE_NAME
from spanmeter.pipeline.insights_store import OVERFLOW_KEY, InsightsStore
from spanmeter.processing.budgets import WindowStatus
from spanmeter.processing.outcome import SpanOutcome
from spanmeter.v1 import insights_pb2 as pb
from support.insights import llm_outcome, served

pytestmark = pytest.mark.integration
NOW = 1_800_000_000 * 10**9
MINUTE = 60 * 10**9


class Clock:
    def __init__(self, now: int = NOW):
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_empty_request_groups_everything_held_by_model():
    store = InsightsStore(clock=Clock())
    store.on_outcome(llm_outcome(model="gpt-4o-mini", cost_usd=0.25, input_tokens=100, output_tokens=10))
    store.on_outcome(llm_outcome(model="gpt-4o-mini", cost_usd=0.5, input_tokens=200, output_tokens=20))
    store.on_outcome(
        llm_outcome(model="claude-x", cost_usd=None, unpriced_reason="no_price", input_tokens=7, output_tokens=3)
    )
    with served(store) as (stub, _):
        reply = stub.GetCostSummary(pb.GetCostSummaryRequest())
    assert reply.group_by == pb.GROUP_BY_MODEL
    assert [(r.key, r.calls, r.input_tokens, r.output_tokens, r.cost_usd, r.unpriced_calls) for r in reply.rows] == [
        ("gpt-4o-mini", 2, 300, 30, 0.75, 0),
        ("claude-x", 1, 7, 3, 0.0, 1),
    ]
    assert (reply.total.calls, reply.total.cost_usd, reply.total.unpriced_calls) == (3, 0.75, 1)
    assert not reply.rows[0].HasField("cost_per_gb_usd")
    assert reply.horizon.bucket_seconds == 60
    assert reply.horizon.end_time_unix_nano - reply.horizon.start_time_unix_nano == 6 * 3600 * 10**9


def test_group_by_and_time_window():
    clock = Clock()
    store = InsightsStore(clock=clock)
    store.on_outcome(llm_outcome(agent="planner", team="core", end_time_ns=NOW - 30 * MINUTE, cost_usd=1.0))
    store.on_outcome(llm_outcome(agent="writer", team="core", end_time_ns=NOW - 2 * MINUTE, cost_usd=2.0))
    store.on_outcome(llm_outcome(agent=None, team="ads", end_time_ns=NOW, cost_usd=4.0))
    with served(store) as (stub, _):
        by_agent = stub.GetCostSummary(pb.GetCostSummaryRequest(group_by=pb.GROUP_BY_AGENT))
        by_team = stub.GetCostSummary(pb.GetCostSummaryRequest(group_by=pb.GROUP_BY_TEAM))
        recent = stub.GetCostSummary(
            pb.GetCostSummaryRequest(window=pb.TimeWindow(start_time_unix_nano=NOW - 5 * MINUTE))
        )
        old = stub.GetCostSummary(
            pb.GetCostSummaryRequest(
                group_by=pb.GROUP_BY_AGENT, window=pb.TimeWindow(end_time_unix_nano=NOW - 10 * MINUTE)
            )
        )
    assert [(r.key, r.cost_usd) for r in by_agent.rows] == [("", 4.0), ("writer", 2.0), ("planner", 1.0)]
    assert [(r.key, r.cost_usd) for r in by_team.rows] == [("ads", 4.0), ("core", 3.0)]
    assert recent.total.cost_usd == 6.0
    assert [(r.key, r.cost_usd) for r in old.rows] == [("planner", 1.0)]


def test_cost_per_gb_from_stages_with_data():
    store = InsightsStore(clock=Clock())
    stage = SpanOutcome(
        service="etl", span_name="run_stage load", kind="stage", operation="run_stage", trace_id=1, span_id=2,
        end_time_ns=NOW, duration_s=3.0, error_type=None, source="orders", total_usd=0.02, data_bytes=4 * 10**9, per_gb_usd=0.005,
    )  # fmt: skip
    store.on_outcome(stage)
    with served(store) as (stub, _):
        reply = stub.GetCostSummary(pb.GetCostSummaryRequest(group_by=pb.GROUP_BY_DATA_SOURCE))
    (row,) = reply.rows
    assert (row.key, row.calls, row.data_bytes, row.cost_per_gb_usd) == ("orders", 1, 4 * 10**9, 0.005)
    assert row.cost_usd == 0.02  # a data source's cost: the roll-up of its stages


def test_spans_older_than_the_horizon_are_counted_not_kept():
    store = InsightsStore(horizon_s=600, bucket_s=60, clock=Clock())
    store.on_outcome(llm_outcome(end_time_ns=NOW - 11 * MINUTE))
    store.on_outcome(llm_outcome(end_time_ns=NOW - 9 * MINUTE))
    total = store.cost_summary().total
    assert (total.calls, store.too_old) == (1, 1)


def test_groups_per_bucket_are_bounded_with_an_overflow_group():
    store = InsightsStore(max_groups_per_bucket=2, clock=Clock())
    for model in ("a", "b", "c", "d"):
        store.on_outcome(llm_outcome(model=model, cost_usd=1.0))
    summary = store.cost_summary()
    rows, total = summary.rows, summary.total
    assert [(key, cell.calls) for key, cell in rows] == [(OVERFLOW_KEY, 2), ("a", 1), ("b", 1)]
    assert (total.calls, store.overflowed) == (4, 2)


def test_a_breakdown_by_one_dimension_stays_exact_whatever_the_cardinality_of_the_others():
    """Unique user ids overflow the user table only: by model, every call is in its model's row."""
    store = InsightsStore(max_groups_per_bucket=4, clock=Clock())
    for n in range(60):
        store.on_outcome(llm_outcome(model=("gpt-4o", "gpt-4o-mini")[n % 2], user=f"user-{n}", cost_usd=1.0))
    summary = store.cost_summary("model")
    by_model, total = summary.rows, summary.total
    assert [(key, group.calls, group.cost_usd) for key, group in by_model] == [
        ("gpt-4o", 30, 30.0), ("gpt-4o-mini", 30, 30.0),
    ]  # fmt: skip
    by_user = store.cost_summary("user").rows
    assert {key: group.calls for key, group in by_user}[OVERFLOW_KEY] == 56
    assert total.calls == 60 and store.overflowed == 56


def test_rows_carry_error_rate_and_latency_percentiles_and_the_window_observed():
    """What ``spanmeter top`` shows beside cost: errors and p95 per group, and the span ends a rate
    divides by (a 40 s burst is 40 s, not the 5 minutes asked for)."""
    store = InsightsStore(clock=Clock(NOW))
    for n in range(20):
        store.on_outcome(llm_outcome(model="gpt-4o", user="alice", duration_s=1.0 + n, end_time_ns=NOW - 40 * 10**9 + 2 * n * 10**9,
                                     error_type="RateLimitError" if n < 5 else None))  # fmt: skip
    with served(store) as (stub, _):
        window = pb.TimeWindow(start_time_unix_nano=NOW - 5 * MINUTE)
        response = stub.GetCostSummary(pb.GetCostSummaryRequest(window=window))
        by_user = stub.GetCostSummary(pb.GetCostSummaryRequest(window=window, group_by=pb.GROUP_BY_USER))
    assert not by_user.rows[0].HasField("p95_s")  # one sketch per user per bucket would not stay small
    row = response.rows[0]
    assert (row.key, row.calls, row.errors) == ("gpt-4o", 20, 5)
    assert row.p95_s == pytest.approx(19.0, rel=0.01) and row.p50_s == pytest.approx(10.0, rel=0.01)
    assert response.total.HasField("p95_s") and response.total.p99_s == pytest.approx(20.0, rel=0.01)
    observed = response.observed
    assert (observed.end_time_unix_nano - observed.start_time_unix_nano) / 1e9 == pytest.approx(38.0)


def test_an_empty_window_leaves_latency_and_observed_unset():
    with served(InsightsStore(clock=Clock())) as (stub, _):
        response = stub.GetCostSummary(pb.GetCostSummaryRequest())
    assert not response.total.HasField("p95_s") and not response.HasField("observed")


def test_an_inverted_time_window_is_refused():
    store = InsightsStore(clock=Clock())
    store.on_outcome(llm_outcome(end_time_ns=NOW - MINUTE))
    with served(store) as (stub, _):
        window = pb.TimeWindow(start_time_unix_nano=NOW, end_time_unix_nano=NOW - 5 * MINUTE)
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetCostSummary(pb.GetCostSummaryRequest(window=window))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "after its end" in refused.value.details()


def _flagged(n: int, **fields) -> SpanOutcome:
    values = {
        "span_id": n,
        "trace_id": 0xABC + n,
        "end_time_ns": NOW + n,
        "anomaly_reasons": ("latency",),
        "anomaly_score": 4.5 + n,
        "anomaly_values": {"latency": (9.0, 1.5)},
    }
    return llm_outcome(**{**values, **fields})


def test_list_anomalies_newest_first_since_and_limit_and_eviction():
    store = InsightsStore(max_anomalies=3, clock=Clock(NOW + 100))
    for n in range(1, 6):
        store.on_outcome(_flagged(n))
    with served(store) as (stub, _):
        everything = stub.ListAnomalies(pb.ListAnomaliesRequest())
        limited = stub.ListAnomalies(pb.ListAnomaliesRequest(since_unix_nano=NOW + 4, limit=1))
    assert [a.span_id for a in everything.anomalies] == [f"{n:016x}" for n in (5, 4, 3)]
    assert everything.evicted == 2
    first = everything.anomalies[0]
    assert (first.trace_id, first.service, first.span_name, list(first.reasons), first.score) == (
        f"{0xABC + 5:032x}",
        "checkout",
        "chat gpt-4o-mini",
        ["latency"],
        9.5,
    )
    assert [(v.reason, v.value, v.baseline) for v in first.values] == [("latency", 9.0, 1.5)]
    assert [a.span_id for a in limited.anomalies] == [f"{5:016x}"]


def test_an_incident_is_listed_once_per_trace_at_its_deepest_flagged_span_with_its_ancestors():
    store = InsightsStore(clock=Clock(NOW + 100))
    trace = {"trace_id": 0xD00D, "duration_s": 1e-9}
    store.on_outcome(_flagged(1, trace_id=0xD00D, duration_s=1e-9))  # the slow call ends first
    store.on_outcome(llm_outcome(span_id=2, span_name="execute_tool search", end_time_ns=NOW + 2, **trace))  # a sibling
    store.on_outcome(
        llm_outcome(
            span_id=3, span_name="invoke_agent planner", kind="agent", trace_id=0xD00D, end_time_ns=NOW + 3,
            duration_s=3e-9, anomaly_reasons=("latency",), anomaly_score=3.5, anomaly_values={"latency": (9.0, 2.0)},
        )
    )  # fmt: skip
    store.on_outcome(
        llm_outcome(
            span_id=4, span_name="invoke_workflow checkout", trace_id=0xD00D, end_time_ns=NOW + 4, duration_s=4e-9
        )
    )
    store.on_outcome(_flagged(5))  # another trace: another incident
    with served(store) as (stub, _):
        listed = stub.ListAnomalies(pb.ListAnomaliesRequest()).anomalies
    assert [(a.trace_id, a.span_id) for a in listed] == [
        (f"{0xABC + 5:032x}", f"{5:016x}"),
        (f"{0xD00D:032x}", f"{1:016x}"),
    ]
    incident = listed[1]
    assert [(a.span_name, list(a.reasons)) for a in incident.ancestors] == [
        ("invoke_agent planner", ["latency"]),
        ("invoke_workflow checkout", []),
    ]
    assert incident.flagged_spans == 2
    assert listed[0].flagged_spans == 1 and not listed[0].ancestors


def test_watchers_get_each_incident_once():
    store = InsightsStore(clock=Clock(NOW + 100))
    watcher = store.watch()
    store.on_outcome(_flagged(1, trace_id=0xD00D, duration_s=1e-9))
    store.on_outcome(_flagged(2, trace_id=0xD00D, duration_s=2e-9))  # its agent, flagged too
    store.on_outcome(_flagged(3))
    delivered = [watcher.get_nowait().span_id for _ in range(watcher.qsize())]
    assert delivered == [f"{1:016x}", f"{3:016x}"]


def test_budget_status_reads_the_trackers_windows():
    status = [WindowStatus("day", 2.5, 10.0, 0.25, 1_800_000_000.0, 1_800_086_400.0, 7.5)]
    store = InsightsStore(budget_status=lambda: status, clock=Clock())
    with served(store) as (stub, _):
        (window,) = stub.GetBudgetStatus(pb.GetBudgetStatusRequest()).windows
    assert (window.window, window.spend_usd, window.budget_usd, window.utilization, window.projected_usd) == (
        "day",
        2.5,
        10.0,
        0.25,
        7.5,
    )
    assert window.end_time_unix_nano - window.start_time_unix_nano == 86_400 * 10**9


def test_watch_anomalies_streams_a_flagged_span_within_a_second():
    store = InsightsStore(clock=Clock())
    with served(store) as (stub, _):
        stream = stub.WatchAnomalies(pb.WatchAnomaliesRequest())
        received: list[pb.Anomaly] = []
        reader = threading.Thread(target=lambda: received.append(next(stream)), daemon=True)
        reader.start()
        deadline = time.monotonic() + 5
        while not store._watchers and time.monotonic() < deadline:  # the stream is registered
            time.sleep(0.01)
        flagged_at = time.monotonic()
        store.on_outcome(_flagged(7))
        reader.join(timeout=1.0)
        elapsed = time.monotonic() - flagged_at
        stream.cancel()
    assert received and received[0].span_id == f"{7:016x}", f"nothing within {elapsed:.2f} s"
    deadline = time.monotonic() + 5
    while store._watchers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store._watchers == [], "a cancelled stream must unregister its queue"


def test_reflection_lists_the_service():
    with served(InsightsStore()) as (_, target), grpc.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        (reply,) = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {service.name for service in reply.list_services_response.service}
    assert SERVICE_NAME == "spanmeter.v1.Insights"
    assert SERVICE_NAME in names
