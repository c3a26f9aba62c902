"""Enricher: turns a batch of finished spans into enriched copies, in the batch worker.

Per span, in one pass over its attributes: price the LLM usage (pricing.py), add
compute cost to stage spans, roll cost up to agent / workflow / stage ancestors and
derive cost per GB (rollup.py), add spend to the budgets (budgets.py), update the
anomaly baselines (anomaly.py) and record the derived metrics (derived_metrics.py).

A finished ReadableSpan is immutable, so a span that gains attributes or events is
re-built as an :class:`EnrichedSpan` sharing everything else with the original
(like logfire's SpanProcessorWrapper). Spans with nothing to add pass through as
they are. Every step catches its own faults: a failing step costs that step, counted
in ``spanmeter.internal.errors``; the span is still exported.

Which spans are "work": those with ``gen_ai.operation.name`` or
``spanmeter.operation.name`` (agents, tools, workflows, LLM calls, stages) or with
token usage. Only work spans feed the anomaly baselines and work metrics; every span
takes part in the cost roll-up, so cost climbs through plain spans in between.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import StatusCode

from spanmeter import semconv
from spanmeter.internal_errors import record_internal_error
from spanmeter.processing import derived_metrics as dm
from spanmeter.processing.anomaly import AnomalyDetector
from spanmeter.processing.budgets import BudgetTracker, log_crossing
from spanmeter.processing.derived_metrics import DerivedMetrics
from spanmeter.processing.pricing import PriceBook
from spanmeter.processing.rollup import CostRollup, compute_usd, per_gb_usd
from spanmeter.settings import Settings

_LLM_OPERATIONS = frozenset(
    op.value
    for op in (
        semconv.Operation.CHAT, semconv.Operation.TEXT_COMPLETION,
        semconv.Operation.GENERATE_CONTENT, semconv.Operation.EMBEDDINGS,
    )
)  # fmt: skip
_ROLLUP_OPERATIONS = frozenset(
    (semconv.Operation.INVOKE_AGENT.value, semconv.Operation.INVOKE_WORKFLOW.value, semconv.OPERATION_RUN_STAGE)
)
_EMPTY: Mapping[str, Any] = {}
_ERROR_OTHER = "_OTHER"


class EnrichedSpan(ReadableSpan):
    """A finished span with spanmeter's attributes/events merged in; dropped counts
    are the original's (the merge itself drops nothing)."""

    def __init__(self, original: ReadableSpan, attributes: dict[str, Any], events: Sequence[Event]):
        super().__init__(
            name=original._name,
            context=original._context,
            parent=original._parent,
            resource=original._resource,
            attributes=attributes,
            events=events,
            links=original._links,
            kind=original._kind,
            instrumentation_info=original._instrumentation_info,
            status=original._status,
            start_time=original._start_time,
            end_time=original._end_time,
            instrumentation_scope=original._instrumentation_scope,
        )
        self._original = original

    @property
    def dropped_attributes(self) -> int:
        return self._original.dropped_attributes

    @property
    def dropped_events(self) -> int:
        return self._original.dropped_events

    @property
    def dropped_links(self) -> int:
        return self._original.dropped_links


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


def _text(value: Any) -> str | None:
    return value if value is None or type(value) is str else None


class Enricher:
    """Derives cost, roll-up, budgets, anomaly flags and metrics for batches of spans.

    Thread-safe by a lock (the batcher already serialises exports; the pipeline
    service may call ``enrich`` from several threads).
    """

    def __init__(
        self,
        *,
        prices: PriceBook | None = None,
        rollup: CostRollup | None = None,
        budgets: BudgetTracker | None = None,
        anomaly_detector: AnomalyDetector | None = None,
        metrics: DerivedMetrics | None = None,
        compute_usd_per_hour: float | None = None,
        meter_provider: Any = None,
        logger_provider: Any = None,
    ):
        self.prices = prices or PriceBook()
        self.rollup = rollup or CostRollup()
        self.budgets = budgets or None
        self.anomaly_detector = anomaly_detector
        self.metrics = metrics or DerivedMetrics(meter_provider)
        self.compute_usd_per_hour = compute_usd_per_hour
        self.logger_provider = logger_provider
        self._lock = threading.Lock()
        self._resource: Any = None
        self._service: str | None = None
        if self.budgets is not None:
            self.metrics.observe(dm.BUDGETS, self.budgets.utilization)
        self.metrics.observe(dm.OVERFLOW, self.overflow_counts)
        self.metrics.observe(dm.LATE_CHILDREN, self.late_children)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        meter_provider: Any = None,
        logger_provider: Any = None,
        clock: Callable[[], float] | None = None,
    ) -> Enricher:
        """Everything built from ``settings``; a malformed price file raises ConfigError here."""
        budgets = BudgetTracker(settings.budgets, clock=clock or time.time) if settings.budgets else None
        return cls(
            prices=PriceBook.from_settings(settings),
            rollup=CostRollup(settings.rollup_max_open_spans),
            budgets=budgets,
            anomaly_detector=AnomalyDetector(
                sigma=settings.anomaly_sigma,
                min_samples=settings.anomaly_min_samples,
                max_keys=settings.anomaly_max_keys,
            ),
            metrics=DerivedMetrics(meter_provider),
            compute_usd_per_hour=settings.compute_usd_per_hour,
            logger_provider=logger_provider,
        )

    def overflow_counts(self) -> dict[str, int]:
        """Entries dropped or deferred per bounded table (the spanmeter.processing.overflow metric)."""
        counts = {
            "price_models": self.prices.evicted,
            "price_lookups": self.prices.lookups_deferred,
            "rollup_open_spans": self.rollup.evicted,
            "rollup_ended_spans": self.rollup.ended.evicted,
            "metric_attribute_sets": self.metrics.attribute_cache_evictions(),
        }
        detector = self.anomaly_detector
        if detector is not None:
            counts["anomaly_baselines"] = detector.evicted
        return counts

    def late_children(self) -> dict[str, int]:
        """Children that ended after their parent, by outcome (the spanmeter.rollup.late_children metric)."""
        return {"attributed": self.rollup.late_attributed, "lost": self.rollup.late_lost}

    def enrich(self, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
        """Enriched copies of ``spans`` (same order); never raises for a bad span."""
        with self._lock:
            try:
                self.prices.refresh()
            except Exception as exc:  # noqa: BLE001
                record_internal_error("processing.pricing", exc)
            out = []
            for span in spans:
                try:
                    out.append(self._enrich(span))
                except Exception as exc:  # noqa: BLE001 - export the span as it was
                    record_internal_error("processing.enrich", exc)
                    out.append(span)
            try:
                self.metrics.flush()
            except Exception as exc:  # noqa: BLE001
                record_internal_error("processing.metrics", exc)
            return out

    def shutdown(self) -> None:
        self.prices.shutdown()

    # -- one span ------------------------------------------------------------------
    def _enrich(self, span: ReadableSpan) -> ReadableSpan:  # noqa: C901 - one pass, on purpose
        raw = span._attributes
        attrs = getattr(raw, "_dict", raw) or _EMPTY  # SDK spans: read BoundedAttributes' dict directly
        get = attrs.get
        metrics = self.metrics
        new: dict[str, Any] = {}

        op = _text(get(semconv.GEN_AI_OPERATION_NAME) or get(semconv.SPANMETER_OPERATION_NAME))
        start, end = span._start_time, span._end_time
        duration = (end - start) * 1e-9 if start and end and end >= start else 0.0
        status = span._status
        error_type = get(semconv.ERROR_TYPE)
        if error_type is None and status is not None and status.status_code is StatusCode.ERROR:
            error_type = _ERROR_OTHER
        elif error_type is not None and type(error_type) is not str:
            error_type = str(error_type)
        model = _text(get(semconv.GEN_AI_RESPONSE_MODEL) or get(semconv.GEN_AI_REQUEST_MODEL))
        context = None

        # -- LLM usage and its price ------------------------------------------------
        llm_usd = 0.0
        tokens = None
        input_raw = get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
        if input_raw is None:
            input_raw = get(semconv.GEN_AI_USAGE_PROMPT_TOKENS)
        output_raw = get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
        if output_raw is None:
            output_raw = get(semconv.GEN_AI_USAGE_COMPLETION_TOKENS)
        is_llm = op in _LLM_OPERATIONS or (op is None and model is not None and input_raw is not None)
        llm_dims = None
        cost_source = None
        if input_raw is not None or output_raw is not None:
            is_llm = True
            provider = _text(get(semconv.GEN_AI_PROVIDER_NAME) or get(semconv.GEN_AI_SYSTEM))
            llm_dims = (
                op,
                provider,
                _text(get(semconv.GEN_AI_REQUEST_MODEL)),
                _text(get(semconv.GEN_AI_RESPONSE_MODEL)),
            )
            try:
                input_tokens = _count(input_raw)
                output_tokens = _count(output_raw)
                cache_read = _count(get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS))
                cache_write_raw = get(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
                if cache_write_raw is None:
                    cache_write_raw = get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)
                cache_write = _count(cache_write_raw)
            except (TypeError, ValueError) as exc:
                record_internal_error("processing.attributes", exc)
                input_tokens = None
            if input_tokens is not None:
                tokens = input_tokens + output_tokens
                token_usage = metrics.token_usage
                if input_raw is not None:
                    token_usage.record(input_tokens, metrics.attributes(dm.TOKEN_DIMS, (*llm_dims, "input")))
                if output_raw is not None:
                    token_usage.record(output_tokens, metrics.attributes(dm.TOKEN_DIMS, (*llm_dims, "output")))
            cost_source = _text(get(semconv.COST_SOURCE))
            if cost_source is not None:  # already priced upstream (e.g. an app's spanmeter before the pipeline)
                upstream = get(semconv.COST_USD)
                llm_usd = float(upstream) if type(upstream) in (int, float) else 0.0
            else:
                priced = None
                if input_tokens is not None and model is not None:
                    try:
                        priced = self.prices.price(
                            provider, llm_dims[2], llm_dims[3], input_tokens, output_tokens, cache_read, cache_write,
                            end or 0,
                        )  # fmt: skip
                    except Exception as exc:  # noqa: BLE001
                        record_internal_error("processing.pricing", exc)
                if priced is None:
                    cost_source = semconv.COST_SOURCE_UNKNOWN
                    new[semconv.COST_SOURCE] = cost_source
                    metrics.add(metrics.unpriced, dm.UNPRICED_DIMS, llm_dims[1:], 1)
                else:
                    input_usd, output_usd, cost_source = priced
                    llm_usd = input_usd + output_usd
                    new[semconv.COST_USD] = llm_usd
                    new[semconv.COST_INPUT_USD] = input_usd
                    new[semconv.COST_OUTPUT_USD] = output_usd
                    new[semconv.COST_SOURCE] = cost_source
            if llm_usd:
                metrics.add(
                    metrics.cost, dm.COST_DIMS,
                    (*llm_dims, _text(get(semconv.GEN_AI_AGENT_NAME)), _text(get(semconv.TEAM)), cost_source,
                     semconv.COST_KIND_LLM),
                    llm_usd,
                )  # fmt: skip

        # -- compute cost, roll-up, cost per GB ------------------------------------------
        own_usd = llm_usd
        if op == semconv.OPERATION_RUN_STAGE and self.compute_usd_per_hour is not None:
            compute = compute_usd(duration, self.compute_usd_per_hour)
            new[semconv.COST_COMPUTE_USD] = compute
            own_usd += compute
            if compute:
                metrics.add(
                    metrics.cost, dm.COST_DIMS,
                    (op, None, None, None, None, _text(get(semconv.TEAM)), None, semconv.COST_KIND_COMPUTE),
                    compute,
                )  # fmt: skip
        parent = span._parent
        parent_id = parent.span_id if parent is not None and not parent.is_remote else None
        span_context = span._context
        total_usd = self.rollup.span_ended(span_context.span_id if span_context else 0, parent_id, own_usd)
        data_bytes = get(semconv.DATA_BYTES)
        if op in _ROLLUP_OPERATIONS or data_bytes is not None:
            new[semconv.COST_TOTAL_USD] = total_usd
        throughput = None
        if data_bytes is not None or op == semconv.OPERATION_RUN_STAGE:
            throughput = self._data(get, op, data_bytes, total_usd, duration, new, attrs)

        # -- budgets ---------------------------------------------------------------------
        events = None
        if llm_usd > 0.0 and self.budgets is not None:
            try:
                crossings = self.budgets.add(llm_usd)
                if crossings:
                    events = (*span.events, *(
                        Event(semconv.BUDGET_THRESHOLD_EVENT, c.event_attributes(), end) for c in crossings
                    ))  # fmt: skip
                    for crossing in crossings:
                        log_crossing(crossing, span_context, end, self.logger_provider)
            except Exception as exc:  # noqa: BLE001
                record_internal_error("processing.budgets", exc)

        # -- work spans: anomalies and work metrics ---------------------------------------
        if op is not None or is_llm:
            if self.anomaly_detector is not None:
                priced_usd = llm_usd if cost_source not in (None, semconv.COST_SOURCE_UNKNOWN) else None
                self._anomaly(span, model, duration, priced_usd, tokens, throughput, op, new)
            if span_context is not None and span_context.trace_flags.sampled:
                context = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
            work_dims = None
            if is_llm:
                llm_dims = llm_dims or (op, _text(get(semconv.GEN_AI_PROVIDER_NAME)), model, None)
                metrics.operation_duration.record(
                    duration, metrics.attributes(dm.LLM_DURATION_DIMS, (*llm_dims, error_type)), context
                )
            else:
                work_dims = self._work_dims(get, op, model, error_type)
                metrics.span_duration.record(duration, metrics.attributes(dm.WORK_DIMS, work_dims), context)
            if error_type is not None:
                metrics.add(metrics.errors, dm.WORK_DIMS, work_dims or self._work_dims(get, op, model, error_type), 1)

        if not new and events is None:
            return span
        merged = dict(attrs)
        merged.update(new)
        return EnrichedSpan(span, merged, events if events is not None else span._events)

    @staticmethod
    def _work_dims(get, op, model, error_type) -> tuple:
        return (
            op, _text(get(semconv.GEN_AI_AGENT_NAME)), _text(get(semconv.GEN_AI_TOOL_NAME)),
            _text(get(semconv.GEN_AI_PROVIDER_NAME)), model, error_type,
        )  # fmt: skip

    def _data(self, get, op, data_bytes, total_usd, duration, new, attrs) -> float | None:
        """Data volume, cost per GB, quality and freshness of a stage; returns bytes/s."""
        metrics = self.metrics
        source = _text(get(semconv.DATA_SOURCE))
        dims = (op, source, _text(get(semconv.GEN_AI_AGENT_NAME)))
        throughput = None
        try:
            volume = _count(data_bytes)
            records = _count(get(semconv.DATA_RECORDS))
        except (TypeError, ValueError) as exc:
            record_internal_error("processing.attributes", exc)
            volume = records = 0
        if volume:
            metrics.add(metrics.data_processed, dm.DATA_DIMS, dims, volume)
            per_gb = per_gb_usd(total_usd, volume)
            new[semconv.COST_PER_GB_USD] = per_gb
            metrics.cost_per_gb.record(per_gb, metrics.attributes(dm.DATA_DIMS, dims))
            if duration > 0:
                throughput = volume / duration
        if records:
            metrics.add(metrics.data_records, dm.DATA_DIMS, dims, records)
        if op == semconv.OPERATION_RUN_STAGE:
            prefix = semconv.DATA_QUALITY_PREFIX
            for key, value in attrs.items():
                if key.startswith(prefix) and type(value) in (int, float):
                    metrics.data_quality.set(value, metrics.attributes(dm.QUALITY_DIMS, (key[len(prefix) :], source)))
            freshness = get(semconv.DATA_FRESHNESS_S)
            if type(freshness) in (int, float):
                metrics.data_freshness.set(freshness, metrics.attributes(dm.FRESHNESS_DIMS, (source,)))
        return throughput

    def _anomaly(self, span, model, duration, cost, tokens, throughput, op, new) -> None:
        """Update the baseline of (service, span name, model); flag the copy if it fired."""
        try:
            resource = span._resource
            if resource is not self._resource:
                service = resource.attributes.get("service.name") if resource is not None else None
                self._resource, self._service = resource, _text(service)
            values = {"latency": duration}
            if cost is not None:
                values["cost"] = cost
            if tokens is not None:
                values["tokens"] = float(tokens)
            if throughput is not None:
                values["throughput"] = throughput
            reasons, score = self.anomaly_detector.observe((self._service, span._name, model), values)
            if reasons:
                new[semconv.ANOMALY] = True
                new[semconv.ANOMALY_REASONS] = tuple(reasons)
                new[semconv.ANOMALY_SCORE] = float(score)
                for reason in reasons:
                    self.metrics.add(self.metrics.anomalies, dm.ANOMALY_DIMS, (reason, op), 1)
        except Exception as exc:  # noqa: BLE001
            record_internal_error("processing.anomaly", exc)
