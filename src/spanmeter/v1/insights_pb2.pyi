from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GroupBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GROUP_BY_UNSPECIFIED: _ClassVar[GroupBy]
    GROUP_BY_MODEL: _ClassVar[GroupBy]
    GROUP_BY_AGENT: _ClassVar[GroupBy]
    GROUP_BY_USER: _ClassVar[GroupBy]
    GROUP_BY_TEAM: _ClassVar[GroupBy]
    GROUP_BY_DATA_SOURCE: _ClassVar[GroupBy]
    GROUP_BY_SERVICE: _ClassVar[GroupBy]
GROUP_BY_UNSPECIFIED: GroupBy
GROUP_BY_MODEL: GroupBy
GROUP_BY_AGENT: GroupBy
GROUP_BY_USER: GroupBy
GROUP_BY_TEAM: GroupBy
GROUP_BY_DATA_SOURCE: GroupBy
GROUP_BY_SERVICE: GroupBy

class TimeWindow(_message.Message):
    __slots__ = ("start_time_unix_nano", "end_time_unix_nano")
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    start_time_unix_nano: int
    end_time_unix_nano: int
    def __init__(self, start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ...) -> None: ...

class Horizon(_message.Message):
    __slots__ = ("start_time_unix_nano", "end_time_unix_nano", "bucket_seconds", "description")
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    start_time_unix_nano: int
    end_time_unix_nano: int
    bucket_seconds: int
    description: str
    def __init__(self, start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ..., bucket_seconds: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class GetCostSummaryRequest(_message.Message):
    __slots__ = ("window", "group_by")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    window: TimeWindow
    group_by: GroupBy
    def __init__(self, window: _Optional[_Union[TimeWindow, _Mapping]] = ..., group_by: _Optional[_Union[GroupBy, str]] = ...) -> None: ...

class CostRow(_message.Message):
    __slots__ = ("key", "calls", "input_tokens", "output_tokens", "cost_usd", "unpriced_calls", "data_bytes", "cost_per_gb_usd", "errors", "p50_s", "p95_s", "p99_s")
    KEY_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_CALLS_FIELD_NUMBER: _ClassVar[int]
    DATA_BYTES_FIELD_NUMBER: _ClassVar[int]
    COST_PER_GB_USD_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    P50_S_FIELD_NUMBER: _ClassVar[int]
    P95_S_FIELD_NUMBER: _ClassVar[int]
    P99_S_FIELD_NUMBER: _ClassVar[int]
    key: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced_calls: int
    data_bytes: int
    cost_per_gb_usd: float
    errors: int
    p50_s: float
    p95_s: float
    p99_s: float
    def __init__(self, key: _Optional[str] = ..., calls: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., unpriced_calls: _Optional[int] = ..., data_bytes: _Optional[int] = ..., cost_per_gb_usd: _Optional[float] = ..., errors: _Optional[int] = ..., p50_s: _Optional[float] = ..., p95_s: _Optional[float] = ..., p99_s: _Optional[float] = ...) -> None: ...

class GetCostSummaryResponse(_message.Message):
    __slots__ = ("rows", "total", "horizon", "group_by", "observed")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[CostRow]
    total: CostRow
    horizon: Horizon
    group_by: GroupBy
    observed: TimeWindow
    def __init__(self, rows: _Optional[_Iterable[_Union[CostRow, _Mapping]]] = ..., total: _Optional[_Union[CostRow, _Mapping]] = ..., horizon: _Optional[_Union[Horizon, _Mapping]] = ..., group_by: _Optional[_Union[GroupBy, str]] = ..., observed: _Optional[_Union[TimeWindow, _Mapping]] = ...) -> None: ...

class AnomalyValue(_message.Message):
    __slots__ = ("reason", "value", "baseline")
    REASON_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    value: float
    baseline: float
    def __init__(self, reason: _Optional[str] = ..., value: _Optional[float] = ..., baseline: _Optional[float] = ...) -> None: ...

class Anomaly(_message.Message):
    __slots__ = ("span_name", "service", "trace_id", "span_id", "reasons", "score", "values", "time_unix_nano", "model", "agent", "ancestors", "flagged_spans")
    SPAN_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    ANCESTORS_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_SPANS_FIELD_NUMBER: _ClassVar[int]
    span_name: str
    service: str
    trace_id: str
    span_id: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    score: float
    values: _containers.RepeatedCompositeFieldContainer[AnomalyValue]
    time_unix_nano: int
    model: str
    agent: str
    ancestors: _containers.RepeatedCompositeFieldContainer[AnomalyContext]
    flagged_spans: int
    def __init__(self, span_name: _Optional[str] = ..., service: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., score: _Optional[float] = ..., values: _Optional[_Iterable[_Union[AnomalyValue, _Mapping]]] = ..., time_unix_nano: _Optional[int] = ..., model: _Optional[str] = ..., agent: _Optional[str] = ..., ancestors: _Optional[_Iterable[_Union[AnomalyContext, _Mapping]]] = ..., flagged_spans: _Optional[int] = ...) -> None: ...

class AnomalyContext(_message.Message):
    __slots__ = ("span_name", "span_id", "reasons", "score")
    SPAN_NAME_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    span_name: str
    span_id: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    score: float
    def __init__(self, span_name: _Optional[str] = ..., span_id: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., score: _Optional[float] = ...) -> None: ...

class ListAnomaliesRequest(_message.Message):
    __slots__ = ("since_unix_nano", "limit")
    SINCE_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    since_unix_nano: int
    limit: int
    def __init__(self, since_unix_nano: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListAnomaliesResponse(_message.Message):
    __slots__ = ("anomalies", "horizon", "evicted")
    ANOMALIES_FIELD_NUMBER: _ClassVar[int]
    HORIZON_FIELD_NUMBER: _ClassVar[int]
    EVICTED_FIELD_NUMBER: _ClassVar[int]
    anomalies: _containers.RepeatedCompositeFieldContainer[Anomaly]
    horizon: Horizon
    evicted: int
    def __init__(self, anomalies: _Optional[_Iterable[_Union[Anomaly, _Mapping]]] = ..., horizon: _Optional[_Union[Horizon, _Mapping]] = ..., evicted: _Optional[int] = ...) -> None: ...

class GetBudgetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BudgetWindow(_message.Message):
    __slots__ = ("window", "spend_usd", "budget_usd", "utilization", "projected_usd", "start_time_unix_nano", "end_time_unix_nano")
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SPEND_USD_FIELD_NUMBER: _ClassVar[int]
    BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_FIELD_NUMBER: _ClassVar[int]
    PROJECTED_USD_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    window: str
    spend_usd: float
    budget_usd: float
    utilization: float
    projected_usd: float
    start_time_unix_nano: int
    end_time_unix_nano: int
    def __init__(self, window: _Optional[str] = ..., spend_usd: _Optional[float] = ..., budget_usd: _Optional[float] = ..., utilization: _Optional[float] = ..., projected_usd: _Optional[float] = ..., start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ...) -> None: ...

class GetBudgetStatusResponse(_message.Message):
    __slots__ = ("windows",)
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    windows: _containers.RepeatedCompositeFieldContainer[BudgetWindow]
    def __init__(self, windows: _Optional[_Iterable[_Union[BudgetWindow, _Mapping]]] = ...) -> None: ...

class WatchAnomaliesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
