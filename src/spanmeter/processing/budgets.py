"""Budgets: LLM spend per UTC day, week (from Monday) and calendar month.

Observability only: nothing is ever blocked. When the spend of a window crosses
50 / 80 / 90 / 100 % of its budget (``SPANMETER_BUDGET_*_USD``), the crossing is
reported once per window and threshold: the enricher puts a
``spanmeter.budget.threshold`` event on the span whose cost crossed it, and
:func:`log_crossing` emits an OpenTelemetry log record (WARNING; ERROR at 100 %)
in that span's context through the Logs API, so it leaves with whatever log
exporter is configured and links to the trace. Where no SDK LoggerProvider is set
(plain ``logging`` apps) it goes to the ``spanmeter.budget`` Python logger instead,
so a crossing is never invisible. ``utilization()`` feeds the
``spanmeter.budget.utilization`` gauge.

Spend is per process: replicas each see their share, so cross-replica budgets are
Prometheus rules over the ``spanmeter.cost`` counter (see alerting/).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber, get_logger_provider
from opentelemetry.sdk._logs import LoggerProvider as SDKLoggerProvider

from spanmeter import sdk_internals, semconv

THRESHOLDS = (0.5, 0.8, 0.9, 1.0)
WINDOWS = ("day", "week", "month")
_logger = logging.getLogger("spanmeter.budget")


@dataclass(frozen=True, slots=True)
class Crossing:
    window: str
    threshold: float
    spend_usd: float
    budget_usd: float

    def event_attributes(self) -> dict[str, object]:
        return {
            semconv.BUDGET_WINDOW: self.window,
            semconv.BUDGET_THRESHOLD: self.threshold,
            semconv.BUDGET_SPEND_USD: self.spend_usd,
            semconv.BUDGET_BUDGET_USD: self.budget_usd,
        }


def window_bounds(window: str, now_s: float) -> tuple[float, float]:
    """[start, end) of the UTC window containing ``now_s`` (epoch seconds)."""
    day = datetime.fromtimestamp(now_s, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if window == "day":
        start, end = day, day + timedelta(days=1)
    elif window == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif window == "month":
        start = day.replace(day=1)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    else:
        raise ValueError(f"unknown budget window {window!r}; known: {', '.join(WINDOWS)}")
    return start.timestamp(), end.timestamp()


class _Window:
    __slots__ = ("name", "budget", "start", "end", "spend", "next_threshold")

    def __init__(self, name: str, budget: float):
        self.name, self.budget = name, budget
        self.start = self.end = 0.0
        self.spend = 0.0
        self.next_threshold = 0  # index into THRESHOLDS of the next one to report

    def roll(self, now: float) -> None:
        if not (self.start <= now < self.end):
            self.start, self.end = window_bounds(self.name, now)
            self.spend, self.next_threshold = 0.0, 0


class BudgetTracker:
    """Spend per configured window. ``add`` runs in the worker; ``utilization`` in the
    metrics reader's thread, hence the lock (uncontended: one per priced span)."""

    def __init__(self, budgets: Mapping[str, float], clock: Callable[[], float] = time.time):
        self._windows = [_Window(name, float(usd)) for name, usd in budgets.items()]
        for window in self._windows:
            window_bounds(window.name, 0.0)  # reject unknown window names up front
        self._clock = clock
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._windows)

    def add(self, usd: float) -> list[Crossing] | None:
        """Add spend; return the thresholds it crossed (None when none)."""
        crossings = None
        now = self._clock()
        with self._lock:
            for window in self._windows:
                window.roll(now)
                window.spend += usd
                while (
                    window.next_threshold < len(THRESHOLDS)
                    and window.spend >= THRESHOLDS[window.next_threshold] * window.budget
                ):
                    if crossings is None:
                        crossings = []
                    crossings.append(
                        Crossing(window.name, THRESHOLDS[window.next_threshold], window.spend, window.budget)
                    )
                    window.next_threshold += 1
        return crossings

    def utilization(self) -> dict[str, float]:
        """Spend / budget per window, as of now (a window that rolled over reads 0)."""
        now = self._clock()
        with self._lock:
            for window in self._windows:
                window.roll(now)
            return {window.name: window.spend / window.budget for window in self._windows}


def _exports_logs(provider: Any) -> bool:
    """Whether ``provider`` sends records anywhere. Under ``OTEL_LOGS_EXPORTER=none`` the SDK
    configurator still installs a LoggerProvider, with no processor: a crossing emitted there
    would vanish, so it goes to Python logging (stderr by default) instead."""
    if not isinstance(provider, SDKLoggerProvider):
        return False
    processors = sdk_internals.log_record_processors(provider)
    return processors is None or len(processors) > 0


def log_crossing(
    crossing: Crossing, span_context: trace.SpanContext | None, time_ns: int | None, logger_provider: Any = None
) -> None:
    """Emit a crossing as an OpenTelemetry log record linked to the span that crossed it."""
    provider = logger_provider or get_logger_provider()
    attributes = {f"spanmeter.budget.{key}": value for key, value in crossing.event_attributes().items()}
    error = crossing.threshold >= 1.0
    body = (
        f"spanmeter: {crossing.window} LLM spend ${crossing.spend_usd:.4f} reached "
        f"{round(crossing.threshold * 100)}% of the ${crossing.budget_usd:.2f} budget"
    )
    if not _exports_logs(provider):
        _logger.log(logging.ERROR if error else logging.WARNING, "%s", body, extra=attributes)
        return
    context = None
    if span_context is not None:
        context = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    provider.get_logger(semconv.INSTRUMENTATION_SCOPE).emit(
        timestamp=time_ns,
        context=context,
        severity_number=SeverityNumber.ERROR if error else SeverityNumber.WARN,
        severity_text="ERROR" if error else "WARNING",
        body=body,
        attributes=attributes,
        event_name=semconv.BUDGET_THRESHOLD_EVENT,
    )
