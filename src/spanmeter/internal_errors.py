"""spanmeter's own faults: swallowed so the app never sees them, counted so users do.

Every place that catches an exception inside instrumentation or processing
calls :func:`record_internal_error`. It logs the first fault per component
(then stays quiet, so a broken hot path cannot flood logs) and adds one to the
``spanmeter.internal.errors`` counter with the component and exception type.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from opentelemetry import metrics

from spanmeter import semconv

_logger = logging.getLogger("spanmeter")
_lock = threading.Lock()
_logged: set[str] = set()
# In-process tally, readable without a metrics pipeline (tests, `spanmeter report`).
counts: Counter[tuple[str, str]] = Counter()
_counter = None


def _get_counter():
    global _counter
    if _counter is None:
        _counter = metrics.get_meter(semconv.INSTRUMENTATION_SCOPE).create_counter(
            semconv.METRIC_INTERNAL_ERRORS,
            unit="{error}",
            description="Faults inside spanmeter that were swallowed to protect the app.",
        )
    return _counter


def record_internal_error(component: str, exc: BaseException) -> None:
    """Count and (once per component) log a swallowed fault. Never raises."""
    try:
        error_type = type(exc).__qualname__
        with _lock:
            counts[(component, error_type)] += 1
            first = component not in _logged
            _logged.add(component)
        if first:
            _logger.warning(
                "spanmeter: %s failed (%s: %s); the app is unaffected, further faults "
                "here are counted in %s",
                component, error_type, exc, semconv.METRIC_INTERNAL_ERRORS,
                exc_info=exc,
            )
        _get_counter().add(1, {"component": component, semconv.ERROR_TYPE: error_type})
    except Exception:  # noqa: BLE001 - the error path itself must not raise
        pass


def reset_for_tests() -> None:
    """Forget logged components, tallies and the cached counter (its meter provider may change)."""
    global _counter
    with _lock:
        counts.clear()
        _logged.clear()
        _counter = None
