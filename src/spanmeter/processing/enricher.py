"""Enricher: derives cost, roll-up, data metrics, budgets, anomaly flags and metrics for
batches of finished spans -- SDK spans in process, OTLP protobuf spans in the pipeline.

Per span, a short sequence of named stages runs over a neutral
:class:`~spanmeter.processing.span_view.SpanView` (see :meth:`Enricher._run`); every
domain rule they apply (operation kinds, error.type, cost per GB, provider / model /
usage under old and new names) comes from :mod:`spanmeter.rules`. Results are written
through the view: an enriched copy for SDK spans, in place for protobuf ones.

Which spans are "work": those with ``gen_ai.operation.name`` or
``spanmeter.operation.name`` (agents, tools, workflows, LLM calls, stages) or with
token usage. Only work spans feed the anomaly baselines, work metrics and outcome
listeners; every span takes part in the cost roll-up, so cost climbs through plain
spans in between, and in span metrics when they are on. In the pipeline a span with none of
:data:`rules.WORK_MARKERS` takes a short path that does only that (roll-up, span metrics, a
root's trace facts) without reading its attributes (:meth:`Enricher._ordinary_span`).

Which agent a call's cost belongs to: the innermost enclosing agent run
(:class:`~spanmeter.processing.agent_runs.AgentRuns`), known when that run ends. So an LLM
call's ``spanmeter.cost`` measurement and its :class:`SpanOutcome` wait for it (at once for
calls outside any agent, or that name their agent): cost by agent is the same in process,
in the pipeline and in ``spanmeter report``, whoever wrote the agent span.

Spans of other libraries are read through their convention's table
(:func:`spanmeter.conventions.reader`), and each LLM call is priced once: an LLM span over
another LLM span, or matching its provider response id in another trace, carries
``spanmeter.cost.source=descendant`` and no cost, tokens or call of its own
(:meth:`Enricher._priced_below`); a cost from the span's own library is kept (``upstream``)
unless ``SPANMETER_REPRICE``.

Every stage runs under the one fault guard: a failing stage costs that stage's result,
counted in ``spanmeter.internal.errors``; a span whose enrichment fails as a whole is
exported as it was.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan

from spanmeter import conventions, rules, semconv
from spanmeter.internal_errors import guard, record_internal_error
from spanmeter.otlp.span_bytes import spans_holding
from spanmeter.processing.agent_runs import AgentRuns
from spanmeter.processing.anomaly import AnomalyDetector
from spanmeter.processing.bounded import BoundedMap
from spanmeter.processing.budgets import BudgetTracker, log_crossing
from spanmeter.processing.derived_metrics import COST_DIMS, DerivedMetrics
from spanmeter.processing.outcome import OutcomeListener, SpanOutcome
from spanmeter.processing.pricing import PriceBook
from spanmeter.processing.rollup import TRACE_FAILED, TRACE_FLAGGED, CostRollup, compute_usd
from spanmeter.processing.sinks import MetricSink
from spanmeter.processing.span_view import (
    PROTO_STATUS_ERROR,
    EnrichedSpan,
    ProtoSpanView,
    SdkSpanView,
    SpanView,
    proto_kind_name,
    proto_rollup_ids,
    proto_status_name,
    resource_service,
)
from spanmeter.settings import Settings

__all__ = ["EnrichedSpan", "Enricher"]

_text = rules.text
_STAGE = semconv.OPERATION_RUN_STAGE
_GUARD_ENRICH = guard("processing.enrich")
_GUARD_PRICING = guard("processing.pricing")
_GUARD_BUDGETS = guard("processing.budgets")
_GUARD_ANOMALY = guard("processing.anomaly")
_GUARD_METRICS = guard("processing.metrics")
_GUARD_LISTENER = guard("processing.listener")
_COST_AGENT = COST_DIMS.index(semconv.GEN_AI_AGENT_NAME)
_WORK_MARKERS = rules.WORK_MARKERS
_MARKER_KEYS = tuple(sorted(b"\x0a" + bytes([len(key)]) + key.encode() for key in rules.WORK_MARKERS))
"""Each work marker as protobuf writes it as a KeyValue's key (field 1's tag, its length, the
key; every marker is shorter than 128 bytes): a serialized request holds one of these if any span
in it carries a marker, and a key that merely contains a marker's words (``db.operation.name``
beside ``operation.cost``) does not match."""


def _counts(*values: Any) -> tuple[int, ...]:
    """:func:`_count` of each value, with the common case (an int >= 0) inline."""
    return tuple([value if type(value) is int and value >= 0 else _count(value) for value in values])


def _count(value: Any) -> int:
    """A non-negative count from an attribute value (None -> 0). Raises on malformed input."""
    if type(value) is int and value >= 0:
        return value
    if value is None:
        return 0
    if isinstance(value, float) and math.isfinite(value) and value >= 0 and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a count, got {type(value).__name__}")
    raise ValueError(f"expected a count >= 0, got {value!r}")


_PROFILE_KEYS = (
    semconv.GEN_AI_OPERATION_NAME, semconv.SPANMETER_OPERATION_NAME, semconv.GEN_AI_PROVIDER_NAME,
    semconv.GEN_AI_SYSTEM, semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_RESPONSE_MODEL,
    semconv.GEN_AI_AGENT_NAME, semconv.TEAM,
)  # fmt: skip
"""The attributes a :class:`_Profile` is derived from: every key the rules it applies read."""
_MAX_PROFILES = 1024


class _Profile:
    """What a span's names say (operations, provider, models, agent, team) and the metric
    dimension tuples built from them. Every span of one kind of call has the same names,
    so this is derived once per distinct set of names (:meth:`Enricher._profile`) instead
    of once per span, and the sinks get the same tuple objects again."""

    __slots__ = (
        "agent", "gen_op", "is_llm_op", "kind", "llm_cost_dims", "llm_dims", "llm_duration_ok", "model", "op", "provider",
        "request_model", "response_model", "rollup_op", "span_op", "team", "tokens_input", "tokens_output",
    )  # fmt: skip

    def __init__(self, get: rules.Get):
        self.gen_op, self.span_op = gen_op, span_op = rules.operation_names(get)
        self.op = gen_op or span_op
        self.kind = rules.kind_of(self.op)
        self.is_llm_op = self.op in rules.LLM_OPERATIONS
        self.rollup_op = self.op in rules.ROLLUP_OPERATIONS
        self.request_model, self.response_model = rules.request_model(get), rules.response_model(get)
        self.model = rules.served_model(self.request_model, self.response_model)
        self.provider = rules.provider(get)
        self.agent, self.team = _text(get(semconv.GEN_AI_AGENT_NAME)), _text(get(semconv.TEAM))
        self.llm_dims = (gen_op, self.provider, self.request_model, self.response_model)
        self.tokens_input = (*self.llm_dims, "input")
        self.tokens_output = (*self.llm_dims, "output")
        self.llm_duration_ok = (*self.llm_dims, None)
        self.llm_cost_dims: dict[str | None, tuple] = {}

    def cost_dims(self, cost_source: str | None) -> tuple:
        """The spanmeter.cost dimensions of this profile's LLM cost, per cost source (a handful)."""
        found = self.llm_cost_dims.get(cost_source)
        if found is None:
            found = self.llm_cost_dims[cost_source] = (
                *self.llm_dims, self.span_op, self.agent, self.team, cost_source, semconv.COST_KIND_LLM,
            )  # fmt: skip
        return found


class _Work:
    """What the stages learn about one span; plain values, filled stage by stage."""

    __slots__ = (
        "anomaly", "cache_read_tokens", "compute_usd", "cost_dims", "cost_known", "cost_source", "data_bytes",
        "data_records", "duration", "error_type", "events", "freshness", "get", "has_usage", "input_tokens", "is_llm",
        "llm_usd", "new", "output_tokens", "per_gb", "priced", "profile", "quality", "rare", "rolled_usd",
        "throughput", "total_usd", "trace_flags", "view",
    )  # fmt: skip

    def __init__(self, view: SpanView, get: rules.Get, profile: _Profile):
        """Reads the per-span attributes every stage needs, once (a protobuf lookup decodes a value).
        ``get`` reads the span in GenAI names, whatever convention it was written in."""
        self.view = view
        self.profile = profile
        self.get = get
        start, end = view.start_ns, view.end_ns
        self.duration = (end - start) * 1e-9 if start and end and end >= start else 0.0
        self.error_type = rules.span_error_type(get(semconv.ERROR_TYPE), view.is_error)
        self.data_bytes = get(semconv.DATA_BYTES)
        self.is_llm = self.has_usage = False
        self.input_tokens = self.output_tokens = self.cache_read_tokens = self.data_records = None
        self.cost_source = self.cost_dims = self.compute_usd = None
        self.llm_usd = self.rolled_usd = 0.0
        self.trace_flags = 0
        self.priced = self.cost_known = self.rare = False
        self.total_usd = self.per_gb = self.throughput = self.freshness = None
        self.quality: dict[str, float] | None = None
        self.anomaly: tuple[tuple[str, ...], float, dict[str, tuple[float, float]], bool] | None = None
        self.new: dict[str, Any] = {}
        self.events: list[tuple[str, dict[str, Any], int]] = []


class Enricher:
    """Derives cost, roll-up, budgets, anomaly flags and metrics for batches of spans.

    Thread-safe by a lock (the batcher already serialises exports; the pipeline
    service may call ``enrich_request`` from several threads).
    """

    def __init__(
        self,
        *,
        prices: PriceBook | None = None,
        rollup: CostRollup | None = None,
        agent_runs: AgentRuns | None = None,
        budgets: BudgetTracker | None = None,
        anomaly_detector: AnomalyDetector | None = None,
        metrics: MetricSink | None = None,
        compute_usd_per_hour: float | None = None,
        meter_provider: Any = None,
        logger_provider: Any = None,
        span_metrics: bool = False,
        reprice: bool = False,
        extra_cost_attributes: Sequence[str] = (),
        max_response_ids: int = 10_000,
    ):
        self.prices = prices or PriceBook()
        self.rollup = rollup or CostRollup()
        self.agent_runs = agent_runs or AgentRuns(ended=self.rollup.ended)
        self.budgets = budgets or None
        self.anomaly_detector = anomaly_detector
        self.metrics: MetricSink = metrics or DerivedMetrics(meter_provider)
        self.compute_usd_per_hour = compute_usd_per_hour
        self.logger_provider = logger_provider
        self.span_metrics = span_metrics
        self.reprice = reprice
        self.extra_cost_attributes = frozenset(extra_cost_attributes)
        self._responses = BoundedMap(max_response_ids)  # provider response ids of the latest calls
        self._listeners: list[OutcomeListener] = []
        self._lock = threading.Lock()
        self._resource_cache: list[Any] = [object(), None]
        self._service: Any = object()  # the service last handed to the sink
        self._profiles: dict[tuple, _Profile] = {}
        self._cost_dims: dict[tuple, tuple] = {}
        self._changed = 0  # spans written to (enrich_request: whether the request's bytes still hold)
        if self.budgets is not None:
            self.metrics.observe(semconv.METRIC_BUDGET_UTILIZATION, self.budgets.utilization)
        self.metrics.observe(semconv.METRIC_PROCESSING_OVERFLOW, self.overflow_counts)
        self.metrics.observe(semconv.METRIC_ROLLUP_LATE_CHILDREN, self.late_children)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        meter_provider: Any = None,
        logger_provider: Any = None,
        clock: Callable[[], float] | None = None,
        metrics_sink: MetricSink | None = None,
    ) -> Enricher:
        """Everything built from ``settings``; a malformed price file raises ConfigError here.
        ``metrics_sink`` replaces the OpenTelemetry metrics API (the pipeline's aggregator)."""
        budgets = BudgetTracker(settings.budgets, clock=clock or time.time) if settings.budgets else None
        rollup = CostRollup(settings.rollup_max_open_spans)
        return cls(
            prices=PriceBook.from_settings(settings),
            rollup=rollup,
            agent_runs=AgentRuns(settings.rollup_max_open_spans, settings.rollup_max_open_spans, ended=rollup.ended),
            budgets=budgets,
            anomaly_detector=AnomalyDetector(
                sigma=settings.anomaly_sigma,
                min_samples=settings.anomaly_min_samples,
                max_keys=settings.anomaly_max_keys,
                max_spans=settings.rollup_max_open_spans,
            ),
            metrics=metrics_sink or DerivedMetrics(meter_provider),
            compute_usd_per_hour=settings.compute_usd_per_hour,
            logger_provider=logger_provider,
            span_metrics=settings.span_metrics,
            reprice=settings.reprice,
            extra_cost_attributes=settings.extra_cost_attributes or (),
        )

    def add_listener(self, listener: OutcomeListener) -> None:
        """Call ``listener.on_outcome`` with a :class:`SpanOutcome` for every work span, once
        its agent run is known."""
        self._listeners.append(listener)

    def overflow_counts(self) -> dict[str, int]:
        """Entries dropped or deferred per bounded table (the spanmeter.processing.overflow metric)."""
        counts = {
            "price_models": self.prices.evicted,
            "price_lookups": self.prices.lookups_deferred,
            "rollup_open_spans": self.rollup.evicted,
            "rollup_ended_spans": self.rollup.ended.evicted,
            "agent_runs": self.agent_runs.evicted,
            "agent_runs_expired": self.agent_runs.expired,
            "calls_below": self.rollup.calls_below.evicted,
            "response_ids": self._responses.evicted,
            **self.metrics.overflow_counts(),
        }
        detector = self.anomaly_detector
        if detector is not None:
            counts.update(detector.overflow_counts())
        return counts

    def late_children(self) -> dict[str, int]:
        """Children that ended after their parent, by outcome (the spanmeter.rollup.late_children metric)."""
        return {"attributed": self.rollup.late_attributed, "lost": self.rollup.late_lost}

    # -- batches ---------------------------------------------------------------------------------
    def enrich(self, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
        """Enriched copies of ``spans`` (same order); never raises for a bad span."""
        with self._lock:
            self._begin_batch()
            try:
                return _map_guarded(self._enrich, spans)
            finally:
                self._end_batch()

    def enrich_request(self, request: ExportTraceServiceRequest, raw: bytes | None = None) -> bool:
        """Enrich every span of a decoded OTLP request in place; never raises for a bad span.
        ``raw``: the request's protobuf bytes, when it came as protobuf: spans whose bytes hold
        no work marker take the ordinary path without their attributes being read. Returns
        whether any span changed (if not, the request can be sent on as the bytes it came as)."""
        with self._lock:
            self._begin_batch()
            changed = self._changed
            try:
                marks = _work_marks(request, raw)
                for resource_spans in request.resource_spans:
                    service = resource_service(resource_spans.resource.attributes)
                    for scope_spans in resource_spans.scope_spans:
                        spans, scope = scope_spans.spans, scope_spans.scope.name
                        if marks is None:
                            _map_guarded(lambda span, service=service, scope=scope: self._proto_span(span, service, scope),
                                         spans)  # fmt: skip
                            continue
                        routed = list(zip(spans, itertools.islice(marks, len(spans))))
                        _map_guarded(lambda pair, service=service, scope=scope: self._route_span(*pair, service, scope),
                                     routed)  # fmt: skip
            finally:
                self._end_batch()
            return self._changed != changed

    def shutdown(self) -> None:
        """Count what still waits for an agent run (without one), then release the price book."""
        with self._lock:
            self.metrics.begin_batch()
            try:
                self._resolve(self.agent_runs.flush())
            finally:
                self._end_batch()
        self.prices.shutdown()

    def _begin_batch(self) -> None:
        with _GUARD_PRICING:
            self.prices.refresh()
        self.metrics.begin_batch()
        self._resolve(self.agent_runs.expire(time.monotonic()))

    def _end_batch(self) -> None:
        with _GUARD_METRICS:
            self.metrics.end_batch()

    def _enrich(self, span: ReadableSpan) -> ReadableSpan:
        """One SDK span: its enriched copy, or the span itself when nothing was added."""
        view = SdkSpanView(span, self._resource_cache)
        self._run(view)
        return view.result()

    # -- one protobuf span: the stages, or the ordinary path -----------------------------------
    def _proto_span(self, span: Any, service: str | None, scope: str = "") -> None:
        """The stages over a view of the span, or :meth:`_ordinary_span` when it carries none of
        :data:`rules.WORK_MARKERS` (its attributes are read once, for both)."""
        raw = {kv.key: kv for kv in span.attributes}
        if _WORK_MARKERS.isdisjoint(raw):
            self._ordinary_span(span, service)
        else:
            self._run(ProtoSpanView(span, service, scope, raw))

    def _route_span(self, span: Any, may_mark_work: bool, service: str | None, scope: str = "") -> None:
        if may_mark_work:
            self._proto_span(span, service, scope)
        else:
            self._ordinary_span(span, service)

    def _ordinary_span(self, span: Any, service: str | None) -> None:
        """What the stages do for a span without work markers, without a view: pass its roll-up
        and failure on, write a root's trace facts, count it in span metrics, and resolve the
        agent-run items that waited on it (``tests/unit/test_ordinary_spans.py`` holds it equal)."""
        if service is not self._service:
            self._service = service
            self.metrics.resource(service)
        span_id, parent_id = proto_rollup_ids(span)
        code = span.status.code
        below_usd, flags = self.rollup.take(span_id)
        if code == PROTO_STATUS_ERROR:
            flags |= TRACE_FAILED
        self.rollup.span_ended(span_id, parent_id, below_usd, flags)
        if self.span_metrics:
            self._count_span(
                service, span.name, proto_kind_name(span.kind), proto_status_name(code),
                span.start_time_unix_nano, span.end_time_unix_nano,
            )  # fmt: skip
        if parent_id is None and (below_usd > 0.0 or flags):
            self._changed += 1
            ProtoSpanView(span, service).set_attributes(_trace_facts_of(below_usd, flags))
        self._resolve(self.agent_runs.span_ended(span_id, parent_id, None))

    # -- one span: the stages --------------------------------------------------------------------
    def _run(self, view: SpanView) -> None:
        """The stages in order; each reads what the earlier ones learnt from ``work``."""
        if view.service is not self._service:
            self._service = view.service
            self.metrics.resource(view.service)
        raw = view.get
        get = (
            raw if raw(semconv.GEN_AI_OPERATION_NAME) is not None else conventions.reader(raw)
        )  # the common case inline
        work = _Work(view, get, self._profile(get))
        work.rare = get is not raw  # another convention's names: read every name it maps
        self._usage_and_price(work)
        self._compute_and_rollup(work)
        profile = work.profile
        if work.data_bytes is not None or profile.op == _STAGE:
            self._data(work)
        if work.llm_usd > 0.0 and self.budgets is not None:
            with _GUARD_BUDGETS:
                self._budgets(work)
        is_work = rules.is_work(profile.op, work.is_llm)
        if is_work:
            if self.anomaly_detector is not None:
                with _GUARD_ANOMALY:
                    self._anomalies(work)
            self._work_metrics(work)
        if self.span_metrics:
            self._span_metrics(work)
        self._trace_facts(work)
        if work.new or work.events:
            self._changed += 1
        if work.new:
            view.set_attributes(work.new)
        for name, attributes, time_ns in work.events:
            view.add_event(name, attributes, time_ns)
        self._attribute(work, is_work)

    def _profile(self, get: rules.Get) -> _Profile:
        """The :class:`_Profile` of a span's names, cached by their raw values (cleared when
        full: it only saves work). Values that cannot be a key (a map) get one of their own."""
        key = tuple(map(get, _PROFILE_KEYS))  # no Python frame per key for an SDK span's dict.get
        try:
            profile = self._profiles.get(key)
        except TypeError:
            return _Profile(dict(zip(_PROFILE_KEYS, key)).get)
        if profile is None:
            if len(self._profiles) >= _MAX_PROFILES:
                self._profiles.clear()
            profile = self._profiles[key] = _Profile(dict(zip(_PROFILE_KEYS, key)).get)
        return profile

    def _usage_and_price(self, work: _Work) -> None:
        """Token usage and its price: the cost every other figure builds on. An LLM call
        without usage (a stream without include_usage) is marked unknown, not free."""
        get, profile = work.get, work.profile
        input_raw, output_raw = rules.input_tokens_raw(get), rules.output_tokens_raw(get)
        work.has_usage = input_raw is not None or output_raw is not None
        work.is_llm = rules.is_llm_call(profile.op, work.has_usage)
        if self._priced_below(work) or not work.is_llm:
            return
        if not work.has_usage:
            if rules.marks_no_usage(work.is_llm, profile.model, work.error_type is not None, work.cost_source):
                self._unpriced(work, semconv.UNPRICED_NO_USAGE)
            return
        # Rare names (older cache names, other libraries' costs) are looked up only when present.
        work.rare = work.rare or not conventions.GENAI_RARE.isdisjoint(work.view.keys())
        try:
            counts = _counts(
                input_raw,
                output_raw,
                rules.cache_read_tokens_raw(get, work.rare),
                rules.cache_write_tokens_raw(get, work.rare),
            )
        except (TypeError, ValueError) as exc:  # a malformed count: the span keeps its other results
            record_internal_error("processing.attributes", exc)
            counts = None
        if counts is not None:
            work.input_tokens, work.output_tokens, work.cache_read_tokens = counts[0], counts[1], counts[2]
            if input_raw is not None:
                self.metrics.record(semconv.GEN_AI_CLIENT_TOKEN_USAGE, profile.tokens_input, counts[0])
            if output_raw is not None:
                self.metrics.record(semconv.GEN_AI_CLIENT_TOKEN_USAGE, profile.tokens_output, counts[1])
        self._price(work, counts)
        if work.llm_usd:
            work.cost_dims = profile.cost_dims(work.cost_source)  # added once its agent run is known

    def _priced_below(self, work: _Work) -> bool:
        """Whether this span's LLM call is priced on another span: an LLM span beneath it (a
        framework's model span over a provider SDK's), or a span of another trace with the same
        provider response id that came first. Such a span says so (``descendant``) and counts
        no cost, tokens or call of its own."""
        view, rollup = work.view, self.rollup
        span_id, parent_id = view.rollup_ids()
        below = False
        if rollup.calls_below or (parent_id and work.is_llm):  # else nothing is marked, nor to mark
            scope = view.scope() if work.is_llm else None
            beneath = rollup.call_below(span_id, parent_id, scope)
            # spanmeter's own framework span that an SDK call claimed carries that call's usage; the
            # calls beneath are others (one that reports no usage left it to the call beneath)
            own = beneath == scope == semconv.INSTRUMENTATION_SCOPE and work.has_usage
            below = beneath is not None and not own
        if not work.is_llm:
            return False
        work.cost_source = _text(work.get(semconv.COST_SOURCE))  # priced upstream: stands as it came
        if work.cost_source is not None:
            return False
        if not below and work.has_usage and (parent_id is None or self._responses):
            below = self._same_response_elsewhere(view, parent_id, rules.response_id(work.get))
        if below:
            work.cost_source = work.new[semconv.COST_SOURCE] = semconv.COST_SOURCE_DESCENDANT
            work.priced = True
        return below

    def _same_response_elsewhere(self, view: SpanView, parent_id: Any, response: str | None) -> bool:
        """Whether this span's provider response id was reported, within this span's time, by the
        root span of another trace: a provider SDK's span made outside the framework span that
        holds the call (OpenInference's and OpenLLMetry's LangChain spans do not parent it), which
        keeps the price. Only root spans are remembered, so the common call pays one lookup."""
        if response is None:
            return False
        seen = self._responses.get(response)
        if seen is None:
            if parent_id is None:
                self._responses.put(response, (view.ids()[0], view.start_ns, view.end_ns))
            return False
        trace, start, end = seen
        return trace != view.ids()[0] and view.start_ns <= start and end <= view.end_ns

    def _price(self, work: _Work, counts: tuple[int, int, int, int] | None) -> None:
        """The span's own LLM cost: as priced upstream (an app's spanmeter in front of the
        pipeline, or the cost the span's own library put on it) without pricing it twice, else
        from the price book."""
        get = work.get
        if work.cost_source is not None:
            upstream = get(semconv.COST_USD)
            work.llm_usd = float(upstream) if type(upstream) in (int, float) else 0.0
            work.priced = work.cost_source != semconv.COST_SOURCE_UNKNOWN
            return
        priced = None
        profile = work.profile
        if counts is not None and profile.model is not None:
            with _GUARD_PRICING:
                priced = self.prices.price(
                    profile.provider, profile.request_model, profile.response_model, *counts, work.view.end_ns
                )
        upstream = rules.upstream_cost(get) if work.rare else None
        if upstream is not None and self._keep_upstream(work, upstream, priced):
            return
        if priced is None:
            self._unpriced(work, semconv.UNPRICED_NO_PRICE)
            return
        input_usd, output_usd, work.cost_source = priced
        work.llm_usd = input_usd + output_usd
        work.priced = True
        new = work.new
        new[semconv.COST_USD] = work.llm_usd
        new[semconv.COST_INPUT_USD] = input_usd
        new[semconv.COST_OUTPUT_USD] = output_usd
        new[semconv.COST_SOURCE] = work.cost_source
        if self.extra_cost_attributes:
            self._extra_costs(work, input_usd, output_usd)

    def _keep_upstream(self, work: _Work, upstream: float, priced: tuple | None) -> bool:
        """A cost from the span's own library: drift from spanmeter's price counted, and kept
        (``upstream``, the value unchanged) unless ``SPANMETER_REPRICE`` asks to re-price."""
        profile = work.profile
        if priced is not None and rules.costs_drift(upstream, priced[0] + priced[1]):
            values = (profile.provider, profile.request_model, profile.response_model)
            self.metrics.add(semconv.METRIC_COST_UPSTREAM_DRIFT, values, 1)
        if self.reprice:
            return False
        work.llm_usd = upstream
        work.priced = True
        work.cost_source = semconv.COST_SOURCE_UPSTREAM
        work.new[semconv.COST_USD] = upstream
        work.new[semconv.COST_SOURCE] = semconv.COST_SOURCE_UPSTREAM
        return True

    def _extra_costs(self, work: _Work, input_usd: float, output_usd: float) -> None:
        """spanmeter's price under the names other backends ingest (SPANMETER_EXTRA_COST_ATTRIBUTES)."""
        new = work.new
        if semconv.EXTRA_COST_LANGFUSE in self.extra_cost_attributes:
            new[semconv.LANGFUSE_COST] = work.llm_usd
        if semconv.EXTRA_COST_OPENINFERENCE in self.extra_cost_attributes:
            new[semconv.OPENINFERENCE_COST_PROMPT] = input_usd
            new[semconv.OPENINFERENCE_COST_COMPLETION] = output_usd
            new[semconv.OPENINFERENCE_COST_TOTAL] = work.llm_usd

    def _unpriced(self, work: _Work, reason: str) -> None:
        work.cost_source = work.new[semconv.COST_SOURCE] = semconv.COST_SOURCE_UNKNOWN
        profile = work.profile
        values = (profile.provider, profile.request_model, profile.response_model, reason)
        self.metrics.add(semconv.METRIC_COST_UNPRICED, values, 1)

    def _compute_and_rollup(self, work: _Work) -> None:
        """Compute cost of stages, then the roll-up: own cost plus every descendant's, so an
        agent, workflow or stage shows what it cost as a whole."""
        own = work.llm_usd
        work.cost_known = work.priced
        rate = self.compute_usd_per_hour
        profile = work.profile
        if profile.op == _STAGE and rate is not None:
            compute = work.compute_usd = compute_usd(work.duration, rate)
            work.new[semconv.COST_COMPUTE_USD] = compute
            own += compute
            work.cost_known = True
            if compute:
                values = (
                    profile.gen_op, None, None, None, profile.span_op, None, profile.team, None,
                    semconv.COST_KIND_COMPUTE,
                )  # fmt: skip
                self.metrics.add(semconv.METRIC_COST, values, compute)
        below_usd, work.trace_flags = self.rollup.take(work.view.rollup_ids()[0])
        total = work.rolled_usd = own + below_usd
        work.cost_known = work.cost_known or total > 0.0
        if profile.rollup_op or work.data_bytes is not None:
            work.new[semconv.COST_TOTAL_USD] = work.total_usd = total

    def _trace_facts(self, work: _Work) -> None:
        """Hand the span's total and trace flags (its own failure and flag or-ed in) on to its
        parent; a root writes them: the trace's cost and whether some span failed or was
        flagged, which the Collector's tail_sampling reads (a root's facts cover the spans that
        ended before it: :mod:`.rollup`)."""
        flags = work.trace_flags
        if work.error_type is not None:
            flags |= TRACE_FAILED
        if work.anomaly is not None:
            flags |= TRACE_FLAGGED
        span_id, parent_id = work.view.rollup_ids()
        self.rollup.span_ended(span_id, parent_id, work.rolled_usd, flags)
        if parent_id is None:
            if work.total_usd is None and work.rolled_usd > 0.0:
                work.total_usd = work.rolled_usd
            work.new.update(_trace_facts_of(work.total_usd, flags))

    def _data(self, work: _Work) -> None:
        """Data volume, cost per GB, quality and freshness of a stage: what a pipeline's
        data costs per unit and whether it is any good. A stage whose cost is unknown gets
        no cost per GB (unknown is not free)."""
        get, metrics, profile = work.get, self.metrics, work.profile
        source = _text(get(semconv.DATA_SOURCE))
        values = (profile.gen_op, profile.span_op, source, profile.agent)
        try:
            volume, records = _counts(work.data_bytes, get(semconv.DATA_RECORDS))
            work.data_records = records if get(semconv.DATA_RECORDS) is not None else None
        except (TypeError, ValueError) as exc:  # malformed volume: counted, the rest of the span stands
            record_internal_error("processing.attributes", exc)
            volume = records = 0
        if volume:
            work.data_bytes = volume
            metrics.add(semconv.METRIC_DATA_PROCESSED, values, volume)
            work.per_gb = rules.per_gb_usd(work.total_usd if work.cost_known else None, volume)
            if work.per_gb is not None:
                work.new[semconv.COST_PER_GB_USD] = work.per_gb
                metrics.record(semconv.METRIC_COST_PER_GB, values, work.per_gb)
                metrics.add(semconv.METRIC_DATA_COST, values, work.total_usd)
                metrics.add(semconv.METRIC_DATA_PRICED, values, volume)
            if work.duration > 0:
                work.throughput = volume / work.duration
        if records:
            metrics.add(semconv.METRIC_DATA_RECORDS, values, records)
        if profile.op == _STAGE:
            self._quality(work, source)

    def _quality(self, work: _Work, source: str | None) -> None:
        prefix = semconv.DATA_QUALITY_PREFIX
        quality = {}
        for key, value in work.view.items():
            if key.startswith(prefix) and type(value) in (int, float):
                quality[key[len(prefix) :]] = value
                self.metrics.set(semconv.METRIC_DATA_QUALITY, (key[len(prefix) :], source), value)
        work.quality = quality
        freshness = work.get(semconv.DATA_FRESHNESS_S)
        if type(freshness) in (int, float):
            work.freshness = freshness
            self.metrics.set(semconv.METRIC_DATA_FRESHNESS, (source,), freshness)

    def _budgets(self, work: _Work) -> None:
        """Spend per window; a crossing becomes an event on the span that crossed it and a
        log record linked to it, so an overrun is seen where it happened."""
        crossings = self.budgets.add(work.llm_usd)
        if crossings:
            end = work.view.end_ns
            context = work.view.span_context()
            for crossing in crossings:
                work.events.append((semconv.BUDGET_THRESHOLD_EVENT, crossing.event_attributes(), end))
                log_crossing(crossing, context, end, self.logger_provider)

    def _anomalies(self, work: _Work) -> None:
        """Baselines per (service, span name, model): a call that is slow, token-hungry or
        loops for what it is gets flagged on the span itself (what is judged how:
        :meth:`AnomalyDetector.observe_span`); a span whose key is still warming up says so."""
        detector, view, profile = self.anomaly_detector, work.view, work.profile
        calls, calls_s = detector.calls_below(*view.rollup_ids(), work.duration)
        first_chunk = work.get(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK) if work.is_llm else None
        reasons, score, values = detector.observe_span(
            (view.service, view.name, profile.model),
            work.duration,
            failed=work.error_type is not None,
            output_tokens=work.output_tokens if work.is_llm else None,
            first_chunk_s=first_chunk if type(first_chunk) in (int, float) else None,
            input_tokens=work.input_tokens,
            calls=calls,
            calls_s=calls_s,
            throughput=work.throughput,
        )
        if reasons:
            self._flag(work, reasons, score, values)
        elif score < 0.0:
            work.new[semconv.ANOMALY_WARMING_UP] = True

    def _flag(self, work: _Work, reasons: tuple[str, ...], score: float, values: dict) -> None:
        """The flag, its top reason's value and baseline on the span; spans counted per reason,
        and the trace's first flagged span counted once as an incident."""
        value, baseline = values[reasons[0]]
        new, profile = work.new, work.profile
        new[semconv.ANOMALY] = True
        new[semconv.ANOMALY_REASONS] = reasons
        new[semconv.ANOMALY_SCORE] = float(score)
        new[semconv.ANOMALY_VALUE] = float(value)
        new[semconv.ANOMALY_BASELINE] = float(baseline)
        for reason in reasons:
            self.metrics.add(semconv.METRIC_ANOMALIES, (reason, profile.gen_op, profile.span_op), 1)
        incident = self.anomaly_detector.first_in_trace(work.view.ids()[0])
        if incident:
            self.metrics.add(semconv.METRIC_ANOMALY_INCIDENTS, (reasons[0], profile.gen_op, profile.span_op), 1)
        work.anomaly = (reasons, float(score), values, incident)

    def _work_metrics(self, work: _Work) -> None:
        """Durations and errors of work: LLM calls into the GenAI convention's histogram,
        agents, tools, workflows and stages into spanmeter.span.duration."""
        metrics, get, profile = self.metrics, work.get, work.profile
        context = work.view.exemplar_context() if metrics.exemplars else None
        if work.is_llm and work.cost_source != semconv.COST_SOURCE_DESCENDANT:  # one call, counted once
            values = profile.llm_duration_ok if work.error_type is None else (*profile.llm_dims, work.error_type)
            metrics.record(semconv.GEN_AI_CLIENT_OPERATION_DURATION, values, work.duration, context)
        if not work.is_llm or work.error_type is not None:
            values = (
                profile.gen_op, profile.span_op, profile.agent, _text(get(semconv.GEN_AI_TOOL_NAME)),
                profile.provider, profile.model, work.error_type,
            )  # fmt: skip
            if not work.is_llm:
                metrics.record(semconv.METRIC_SPAN_DURATION, values, work.duration, context)
            if work.error_type is not None:
                metrics.add(semconv.METRIC_SPAN_ERRORS, values, 1)

    def _span_metrics(self, work: _Work) -> None:
        view = work.view
        self._count_span(view.service, view.name, view.kind_name, view.status_name, view.start_ns, view.end_ns)

    def _count_span(self, service: str | None, name: str, kind: str, status: str, start: int, end: int) -> None:
        """Calls and duration of every span, named and shaped as the Collector's spanmetrics
        connector makes them, so Jaeger's Monitor tab works without a Collector."""
        values = (service, name, kind, status)
        self.metrics.add(semconv.METRIC_SPAN_METRICS_CALLS, values, 1)
        self.metrics.record(semconv.METRIC_SPAN_METRICS_DURATION, values, (end - start) / 1e6 if end > start else 0.0)

    def _attribute(self, work: _Work, is_work: bool) -> None:
        """Pass the span to the agent runs; what they resolve now (this span's outcome and LLM
        cost, or those of spans that waited for this agent run) goes out with its agent."""
        item = None
        if is_work and (self._listeners or work.cost_dims is not None):
            item = (_outcome(work) if self._listeners else None, work.cost_dims, work.llm_usd, work.view.service)
        view, profile = work.view, work.profile
        span_id, parent_id = view.rollup_ids()
        agent = rules.run_agent(profile.kind, profile.agent, view.name)
        self._resolve(self.agent_runs.span_ended(span_id, parent_id, agent, item))

    def _resolve(self, resolved: list) -> None:
        """Add the cost and hand on the outcome of each span whose agent run is now known (under the
        service it came from: an expired entry resolves in another service's batch)."""
        for (outcome, cost_dims, usd, service), run in resolved:
            if service is not self._service:
                self._service = service
                self.metrics.resource(service)
            if cost_dims is not None:
                self.metrics.add(semconv.METRIC_COST, self._with_agent(cost_dims, run), usd)
            if outcome is not None:
                outcome.agent = run
                self._notify(outcome)

    def _with_agent(self, cost_dims: tuple, run: str | None) -> tuple:
        """spanmeter.cost dimensions with the agent run's name, the same tuple each time (cleared when full)."""
        key = (cost_dims, run)
        found = self._cost_dims.get(key)
        if found is None:
            if len(self._cost_dims) >= _MAX_PROFILES:
                self._cost_dims.clear()
            found = self._cost_dims[key] = (*cost_dims[:_COST_AGENT], run, *cost_dims[_COST_AGENT + 1 :])
        return found

    def _notify(self, outcome: SpanOutcome) -> None:
        """Hand each listener what was concluded about this work span."""
        for listener in self._listeners:
            with _GUARD_LISTENER:
                listener.on_outcome(outcome)


def _work_marks(request: ExportTraceServiceRequest, raw: bytes | None) -> Iterator[bool] | None:
    """Per span, in order: False when its bytes surely hold no work marker (it takes the ordinary
    path unread), True when they may; None without usable bytes (every span's attributes are read)."""
    if raw is None:
        return None
    if not any(key in raw for key in _MARKER_KEYS):  # the common whole request of ordinary spans
        return itertools.repeat(False)
    marks = spans_holding(raw, _MARKER_KEYS)
    total = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
    return iter(marks) if marks is not None and len(marks) == total else None


def _trace_facts_of(total_usd: float | None, flags: int) -> dict[str, Any]:
    """A root span's trace facts: the trace's cost when it has one, the flags when true."""
    facts: dict[str, Any] = {}
    if total_usd:
        facts[semconv.COST_TOTAL_USD] = total_usd
    if flags & TRACE_FAILED:
        facts[semconv.TRACE_ERROR] = True
    if flags & TRACE_FLAGGED:
        facts[semconv.TRACE_ANOMALY] = True
    return facts


def _map_guarded(function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``function(item)`` for each item; an item whose call raised maps to itself (a span that
    breaks enrichment leaves as it came), counted by the guard. One guard covers the run of
    items and is re-entered after a fault, so the common case pays for it once per batch."""
    out: list[Any] = []
    total = len(items)
    while len(out) < total:
        with _GUARD_ENRICH:
            for item in itertools.islice(items, len(out), None):
                out.append(function(item))
        if len(out) < total:
            out.append(items[len(out)])
    return out


def _outcome(work: _Work) -> SpanOutcome:
    view, get, profile = work.view, work.get, work.profile
    trace_id, span_id = view.ids()
    reasons, score, values, incident = work.anomaly or ((), 0.0, {}, False)
    return SpanOutcome(
        service=view.service, span_name=view.name, kind=rules.work_kind(profile.op, work.is_llm, work.cost_source),
        operation=profile.op, trace_id=trace_id, span_id=span_id, end_time_ns=view.end_ns,
        duration_s=work.duration, error_type=work.error_type, provider=profile.provider, model=profile.model,
        tool=_text(get(semconv.GEN_AI_TOOL_NAME)),
        user=_text(get(semconv.USER_ID)), team=profile.team, source=_text(get(semconv.DATA_SOURCE)),
        input_tokens=work.input_tokens, output_tokens=work.output_tokens, cache_read_tokens=work.cache_read_tokens,
        cost_usd=work.llm_usd if work.priced else None, compute_usd=work.compute_usd, cost_source=work.cost_source,
        unpriced_reason=rules.unpriced_reason(work.cost_source, work.has_usage) if work.is_llm else None,
        total_usd=work.total_usd, data_bytes=work.data_bytes if type(work.data_bytes) is int else None,
        data_records=work.data_records, per_gb_usd=work.per_gb, anomaly_reasons=reasons, anomaly_score=score,
        anomaly_values=values, anomaly_incident=incident, quality=work.quality or {}, freshness_s=work.freshness,
        parent_span_id=view.parent_id(), start_time_ns=view.start_ns,
    )  # fmt: skip
