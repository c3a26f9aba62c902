"""spanmeter's own alert rules and notifiers, and the Prometheus rules generated from the same thresholds.

Where Prometheus runs, use ``collector-config/prometheus/spanmeter-rules.yml`` and
Alertmanager (``collector-config/alertmanager.yml``). Where it does not (the embedded
default, a lone pipeline), ``SPANMETER_ALERT_RULES`` names a rules file
(:mod:`spanmeter.alerting.rules`) that :func:`install` evaluates in process, fed by the
enricher's per-span outcomes.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from spanmeter.alerting import notifiers, rules
from spanmeter.alerting.engine import Alert, AlertEngine
from spanmeter.settings import Settings

__all__ = ["Alert", "AlertEngine", "engine_from_file", "install"]

_installed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def engine_from_file(
    path: str,
    *,
    budget_utilization: Callable[[], Any] | None = None,
    clock: Callable[[], float] = time.time,
) -> AlertEngine:
    """An engine (not started) with the rules and notifiers of ``path``; ConfigError when the file is wrong."""
    config = rules.load(path)
    dispatchers = [notifiers.build(n, config.evaluation_interval_s, clock) for n in config.notifiers]
    return AlertEngine(config, dispatchers, budget_utilization=budget_utilization, clock=clock)


def install(registry: Any, settings: Settings) -> AlertEngine | None:
    """Evaluate ``settings.alert_rules`` on spans ``registry`` (an enricher) reports to its listeners.

    ``registry`` needs ``add_listener(listener)``; its ``budgets`` (a BudgetTracker, if any)
    feed ``budget_utilization`` rules. Starts the evaluation timer and stops it at exit.
    Once per registry; None when no rules file is set. Raises ConfigError for a bad file.
    """
    if not settings.alert_rules:
        return None
    with _lock:
        engine = _installed.get(registry)
        if engine is not None:
            return engine
        budgets = getattr(registry, "budgets", None)
        engine = engine_from_file(settings.alert_rules, budget_utilization=budgets.utilization if budgets else None)
        registry.add_listener(engine)
        _installed[registry] = engine
    engine.start()
    atexit.register(engine.stop)
    return engine
