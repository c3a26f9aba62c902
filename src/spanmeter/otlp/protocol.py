"""OTLP's protocol tables, shared by both ends of the wire: receivers and exporters import them from here.

Per signal: the gRPC method, the HTTP path, the request and response message types and
the partial-success field that counts refused items. Then the retry facts of the OTLP
specification: which gRPC codes and HTTP statuses are retryable, and the
``google.rpc.RetryInfo`` a server puts in its status details (written by receivers,
read by exporters).
"""

from __future__ import annotations

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

SIGNALS = ("traces", "metrics", "logs")
GRPC_METHODS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
HTTP_PATHS = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}
REQUESTS = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
RESPONSES = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}
# The partial-success field counting refused items, per signal.
REJECTED_FIELDS = {"traces": "rejected_spans", "metrics": "rejected_data_points", "logs": "rejected_log_records"}
# The OTLP specification's retryable gRPC codes (RESOURCE_EXHAUSTED only with RetryInfo) and HTTP statuses.
RETRYABLE_GRPC = frozenset({grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
                            grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS})  # fmt: skip
RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
# The gRPC trailer carrying a serialized google.rpc.Status (with its details).
STATUS_DETAILS_KEY = "grpc-status-details-bin"


def rejected_field(signal: str) -> str:
    """The partial-success field counting refused items, per signal."""
    return REJECTED_FIELDS[signal]


def retry_status(code: int, message: str, delay_s: int) -> bytes:
    """A serialized google.rpc.Status whose details hold RetryInfo(``delay_s``): what a refusing server sends."""
    status = status_pb2.Status(code=code, message=message)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=delay_s)))
    return status.SerializeToString()


def retry_delay(details: bytes | None) -> float | None:
    """RetryInfo's delay (seconds) from a serialized google.rpc.Status, if it has one."""
    if not details:
        return None
    status = status_pb2.Status()
    try:
        status.ParseFromString(details)
    except DecodeError:
        return None
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None
