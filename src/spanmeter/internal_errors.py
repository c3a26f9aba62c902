"""spanmeter's own faults: swallowed so the app never sees them, counted so users do.

:class:`guard` is the one place that catches them: ``with guard("processing.pricing"):``
around a step, or ``@guard("export").wrap(default)`` on a function. Nothing else in
spanmeter writes ``except Exception``. A swallowed fault goes to
:func:`record_internal_error`, which logs the first fault per component (then stays
quiet, so a broken hot path cannot flood logs) and adds one to the
``spanmeter.internal.errors`` counter with the component and exception type.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, Self, TypeVar

from opentelemetry import metrics

from spanmeter import semconv

_logger = logging.getLogger("spanmeter")
_lock = threading.Lock()
_logged: set[str] = set()
# In-process tally, readable without a metrics pipeline (tests, `spanmeter report`).
counts: Counter[tuple[str, str]] = Counter()
_counter = None
T = TypeVar("T")


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
    with contextlib.suppress(Exception):  # the error path itself must not raise
        error_type = type(exc).__qualname__
        with _lock:
            counts[(component, error_type)] += 1
            first = component not in _logged
            _logged.add(component)
        if first:
            _logger.warning(
                "spanmeter: %s failed (%s: %s); the app is unaffected, further faults here are counted in %s",
                component,
                error_type,
                exc,
                semconv.METRIC_INTERNAL_ERRORS,
                exc_info=exc,
            )
        _get_counter().add(1, {"component": component, semconv.ERROR_TYPE: error_type})


def reset_for_tests() -> None:
    """Forget logged components, tallies and the cached counter (its meter provider may change)."""
    global _counter
    with _lock:
        counts.clear()
        _logged.clear()
        _counter = None


class guard:  # lowercase: used like a keyword, `with guard("component"):`
    """Swallows and counts an ``Exception`` raised inside it; lets anything else through.

    Stateless, so one instance per component can be built once and reused on hot paths
    (entering costs a method call, no allocation). ``BaseException``s that are not
    ``Exception`` (KeyboardInterrupt, SystemExit, GeneratorExit, cancellation) are the
    app's business and pass through.
    """

    __slots__ = ("component",)

    def __init__(self, component: str):
        self.component = component

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, _tb: object) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        record_internal_error(self.component, exc)
        return True

    def wrap(self, default: Any = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: the function's result, or ``default`` when it raised (counted)."""

        def decorate(function: Callable[..., T]) -> Callable[..., T]:
            @functools.wraps(function)
            def guarded(*args: Any, **kwargs: Any) -> T:
                with self:
                    return function(*args, **kwargs)
                return default

            return guarded

        return decorate
