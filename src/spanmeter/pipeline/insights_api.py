"""The ``spanmeter.v1.Insights`` gRPC service (proto/spanmeter/v1/insights.proto) over an
:class:`~spanmeter.pipeline.insights_store.InsightsStore`.

Served by the pipeline on its own port (``processors.spanmeter.insights.endpoint``), with
gRPC server reflection on so grpcurl-style clients can list and call it. In-process apps do
not serve it: the state it reads lives in the pipeline.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection

from spanmeter.pipeline.insights_store import DIMENSIONS, AnomalyRecord, Group, InsightsStore
from spanmeter.pipeline.receivers import token_matches
from spanmeter.processing.budgets import WindowStatus
from spanmeter.v1 import insights_pb2 as pb
from spanmeter.v1 import insights_pb2_grpc as pb_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Insights"].full_name
_GROUP_BY = {
    pb.GROUP_BY_UNSPECIFIED: "model",
    pb.GROUP_BY_MODEL: "model",
    pb.GROUP_BY_AGENT: "agent",
    pb.GROUP_BY_USER: "user",
    pb.GROUP_BY_TEAM: "team",
    pb.GROUP_BY_DATA_SOURCE: "source",
    pb.GROUP_BY_SERVICE: "service",
}
assert set(_GROUP_BY.values()) == set(DIMENSIONS)
MAX_WATCHERS = 8
"""Concurrent WatchAnomalies streams; each holds a server thread while it is open."""
_WATCH_POLL_S = 0.25
_PERCENTILES = (0.50, 0.95, 0.99)


def _cost_row(key: str, group: Group) -> pb.CostRow:
    row = pb.CostRow(
        key=key,
        calls=group.calls,
        errors=group.errors,
        input_tokens=group.input_tokens,
        output_tokens=group.output_tokens,
        cost_usd=group.cost_usd or 0.0,
        unpriced_calls=group.unpriced_calls,
        data_bytes=group.data_bytes,
    )
    per_gb = group.cost_per_gb_usd
    if per_gb is not None:
        row.cost_per_gb_usd = per_gb
    if group.latency is not None and group.latency.count:
        row.p50_s, row.p95_s, row.p99_s = group.latency.quantiles(_PERCENTILES)
    return row


def anomaly_message(record: AnomalyRecord) -> pb.Anomaly:
    return pb.Anomaly(
        span_name=record.span_name,
        service=record.service,
        trace_id=record.trace_id,
        span_id=record.span_id,
        reasons=record.reasons,
        score=record.score,
        values=[
            pb.AnomalyValue(reason=reason, value=value, baseline=baseline)
            for reason, (value, baseline) in record.values.items()
        ],
        time_unix_nano=record.time_unix_nano,
        model=record.model,
        agent=record.agent,
        ancestors=[
            pb.AnomalyContext(span_name=a.span_name, span_id=a.span_id, reasons=a.reasons, score=a.score)
            for a in record.ancestors
        ],
        flagged_spans=record.flagged_spans,
    )


def _budget_window(status: WindowStatus) -> pb.BudgetWindow:
    return pb.BudgetWindow(
        window=status.window,
        spend_usd=status.spend_usd,
        budget_usd=status.budget_usd,
        utilization=status.utilization,
        projected_usd=status.projected_usd,
        start_time_unix_nano=round(status.start_s * 1e9),
        end_time_unix_nano=round(status.end_s * 1e9),
    )


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """The receivers' bearer-token check (constant-time) in front of every Insights method."""

    def __init__(self, token: str):
        self.token = token

    def intercept_service(self, continuation, handler_call_details):
        metadata = dict(handler_call_details.invocation_metadata or ())
        if token_matches(metadata.get("authorization"), self.token):
            return continuation(handler_call_details)
        return _UNAUTHENTICATED


def _refuse(request: Any, context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")


_UNAUTHENTICATED = grpc.unary_unary_rpc_method_handler(_refuse)


class InsightsServicer(pb_grpc.InsightsServicer):
    """Answers from the store; every request field is optional."""

    def __init__(self, store: InsightsStore):
        self.store = store
        self._watchers = threading.BoundedSemaphore(MAX_WATCHERS)

    def _horizon(self) -> pb.Horizon:
        start, end = self.store.horizon()
        seconds = self.store.bucket_ns // 1_000_000_000
        return pb.Horizon(
            start_time_unix_nano=start,
            end_time_unix_nano=end,
            bucket_seconds=seconds,
            description=f"cost: the last {(end - start) // 1_000_000_000} s in {seconds} s buckets; "
            f"anomalies: the newest {self.store.anomaly_capacity} flagged",
        )

    def GetCostSummary(self, request: pb.GetCostSummaryRequest, context: grpc.ServicerContext):
        group_by = _GROUP_BY.get(request.group_by)
        if group_by is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown group_by {request.group_by}")
        start, end = request.window.start_time_unix_nano, request.window.end_time_unix_nano
        if start and end and start > end:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"window start {start} is after its end {end}")
        summary = self.store.cost_summary(group_by, start, end)
        response = pb.GetCostSummaryResponse(
            rows=[_cost_row(key, cell) for key, cell in summary.rows],
            total=_cost_row("", summary.total),
            horizon=self._horizon(),
            group_by=request.group_by or pb.GROUP_BY_MODEL,
        )
        if summary.first_ns:
            response.observed.CopyFrom(
                pb.TimeWindow(start_time_unix_nano=summary.first_ns, end_time_unix_nano=summary.last_ns)
            )
        return response

    def ListAnomalies(self, request: pb.ListAnomaliesRequest, context: grpc.ServicerContext):
        found = self.store.anomalies(request.since_unix_nano, request.limit)
        return pb.ListAnomaliesResponse(
            anomalies=[anomaly_message(a) for a in found], horizon=self._horizon(), evicted=self.store.evicted
        )

    def GetBudgetStatus(self, request: pb.GetBudgetStatusRequest, context: grpc.ServicerContext):
        return pb.GetBudgetStatusResponse(windows=[_budget_window(s) for s in self.store.budget_status()])

    def WatchAnomalies(self, request: pb.WatchAnomaliesRequest, context: grpc.ServicerContext) -> Iterator[pb.Anomaly]:
        if not self._watchers.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"at most {MAX_WATCHERS} WatchAnomalies streams")
        watcher = self.store.watch()
        try:
            while context.is_active():
                try:
                    record = watcher.get(timeout=_WATCH_POLL_S)
                except queue.Empty:
                    continue
                yield anomaly_message(record)
        finally:
            self.store.unwatch(watcher)
            self._watchers.release()


def serve_insights(
    store: InsightsStore,
    endpoint: str = "127.0.0.1:0",
    *,
    credentials: grpc.ServerCredentials | None = None,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
    max_message_bytes: int = 4 * 1024 * 1024,
) -> tuple[grpc.Server, int]:
    """Start the Insights service (and reflection) on ``endpoint``; returns the server and
    its bound port. ``credentials`` / ``interceptors`` carry the receivers' TLS and token auth."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=MAX_WATCHERS + 4, thread_name_prefix="spanmeter-insights"),
        interceptors=tuple(interceptors),
        options=[("grpc.max_receive_message_length", max_message_bytes)],
    )
    pb_grpc.add_InsightsServicer_to_server(InsightsServicer(store), server)
    reflection.enable_server_reflection((SERVICE_NAME, reflection.SERVICE_NAME), server)
    if credentials is None:
        port = server.add_insecure_port(endpoint)
    else:
        port = server.add_secure_port(endpoint, credentials)
    if not port:
        raise OSError(f"cannot bind the Insights API to {endpoint}")
    server.start()
    return server, port
