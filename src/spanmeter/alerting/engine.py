"""spanmeter's own rule engine: threshold rules over SpanOutcomes, for setups without Prometheus.

Two threads touch it, never the app's:

* the batch worker calls :meth:`AlertEngine.on_outcome` once per work span (an
  ``OutcomeListener``): per rule, a filter check and an add into the current time
  bucket of the span's group -- constant work under one short lock, no I/O;
* a timer thread (:meth:`start`) calls :meth:`evaluate` every ``evaluation_interval``:
  per rule and group it computes the value over the window, runs the alert's state
  machine, and hands notifications to the notifiers' bounded queues (never waits on them).

Windows are rings of at most ``BUCKETS_PER_WINDOW`` time buckets per (rule, group);
groups per rule are capped (``max_groups``; the least recently fed group is dropped and
counted in ``groups_evicted``). The state machine is Prometheus': a breach must last
``for`` before the alert fires, and a firing alert stays firing ``keep_firing_for``
after the breach ends. On top, ``cooldown`` is the least time between two firing
notifications of one alert (repeats while it stays firing, and a flapping alert that
re-fires within it stays quiet, its resolution too); every state change is notified once.
"""

from __future__ import annotations

import logging
import operator
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from spanmeter.alerting import names
from spanmeter.alerting.metrics import BUDGET_UTILIZATION, METRICS
from spanmeter.alerting.rules import GROUP_FIELDS, AlertConfig, Rule
from spanmeter.internal_errors import guard
from spanmeter.processing.bounded import BoundedMap
from spanmeter.processing.outcome import SpanOutcome

_logger = logging.getLogger("spanmeter.alerting")
BUCKETS_PER_WINDOW = 60
EXAMPLES = 5
FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True)
class Alert:
    """One notification: what fired (or resolved), where, how far past its threshold, and how to act."""

    name: str
    status: str
    severity: str
    labels: Mapping[str, str]
    """alertname, severity and the group's labels, named as Prometheus' rules name them."""
    metric: str
    value: float | None
    threshold: float
    comparison: str
    """``above`` or ``below``."""
    window: str
    summary: str
    description: str
    runbook_url: str
    trace_ids: tuple[str, ...]
    """Up to five recent spans that show the problem (hex trace ids)."""
    starts_at: float
    ends_at: float | None = None
    repeat: bool = False


class _Group:
    """One rule's time-bucketed window for one group, plus its alert state."""

    __slots__ = (
        "buckets",
        "examples",
        "fired_at",
        "firing",
        "last_breach",
        "last_notified",
        "last_value",
        "notified",
        "pending_since",
    )  # fmt: skip

    def __init__(self) -> None:
        self.buckets: deque = deque()  # [bucket start, metric state]
        self.examples: deque[int] = deque(maxlen=EXAMPLES)
        self.pending_since: float | None = None
        self.firing = False
        self.fired_at = 0.0
        self.last_breach = 0.0
        self.last_value: float | None = None
        self.last_notified: float | None = None
        self.notified = False  # the current firing episode was notified (so its resolution is)


class _RuleState:
    """A rule, its groups, and what ``feed`` needs of the rule, looked up once."""

    __slots__ = (
        "add",
        "bucket_s",
        "example",
        "fields",
        "groups",
        "key",
        "new",
        "rule",
        "threshold",
        "where",
        "window_s",
    )

    def __init__(self, rule: Rule, max_groups: int):
        self.rule, self.where, self.threshold, self.window_s = rule, rule.where, rule.threshold, rule.window_s
        self.bucket_s = max(rule.window_s / BUCKETS_PER_WINDOW, 0.001)
        self.groups = BoundedMap(max_groups)
        self.fields = tuple(GROUP_FIELDS[g] for g in rule.group_by if g in GROUP_FIELDS)
        self.key = _key_function(self.fields)
        metric = METRICS[rule.metric]
        self.new, self.add, self.example = (metric.new, metric.add, metric.example) if metric else (None, None, None)

    def feed(self, outcome: SpanOutcome, now: float, keys: dict) -> None:
        """Add ``outcome`` to its group's current bucket if the rule's ``where`` matches it."""
        for attribute, accepted in self.where:
            value = getattr(outcome, attribute)
            if value is None or str(value) not in accepted:
                return
        key = keys.get(self.fields)
        if key is None:
            key = keys[self.fields] = self.key(outcome)
        group = self.groups.get(key)
        if group is None:
            group = _Group()
            self.groups.put(key, group)
        buckets = group.buckets
        if not buckets or buckets[-1][0] <= now - self.bucket_s:
            buckets.append([now - now % self.bucket_s, self.new()])
            _trim(buckets, now - self.window_s, self.bucket_s)
        if self.add(buckets[-1][1], outcome) and self.example(outcome, self.threshold):
            group.examples.append(outcome.trace_id)


def _key_function(fields: tuple[str, ...]) -> Callable[[SpanOutcome], tuple]:
    """The group key of an outcome: its values of ``fields`` (attrgetter: a generator costs ~10x)."""
    if not fields:
        return lambda _outcome: ()
    if len(fields) == 1:
        get = operator.attrgetter(fields[0])
        return lambda outcome: (get(outcome),)
    return operator.attrgetter(*fields)


class AlertEngine:
    """Evaluates ``config.rules`` over the SpanOutcomes it is fed; sends alerts to ``dispatchers``.

    ``clock`` (epoch seconds) is injectable so tests drive time; ``budget_utilization``
    returns the current spend / budget per window (``BudgetTracker.utilization``).
    ``dispatchers`` take lists of :class:`Alert` (``submit``) and must not block.
    """

    def __init__(
        self,
        config: AlertConfig,
        dispatchers: Iterable = (),
        *,
        budget_utilization: Callable[[], Mapping[str, float]] | None = None,
        clock: Callable[[], float] = time.time,
        max_groups: int = 1000,
    ):
        self.config = config
        self.dispatchers = list(dispatchers)
        self.budget_utilization = budget_utilization
        self.clock = clock
        self._lock = threading.Lock()
        self._rules = [_RuleState(rule, max_groups) for rule in config.rules]
        self._outcome_rules = [state for state in self._rules if state.rule.metric != BUDGET_UTILIZATION]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = guard("alerting.on_outcome")

    @property
    def groups_evicted(self) -> int:
        return sum(state.groups.evicted for state in self._rules)

    # -- the batch worker's side ----------------------------------------------------
    def on_outcome(self, outcome: SpanOutcome) -> None:
        """Add one finished work span to every rule it matches. O(rules), no I/O."""
        with self._guard:
            now = self.clock()
            keys: dict[tuple[str, ...], tuple] = {}  # rules grouping alike share the key
            with self._lock:
                for state in self._outcome_rules:
                    state.feed(outcome, now, keys)

    # -- the timer's side ---------------------------------------------------------------
    def evaluate(self, now: float | None = None) -> list[Alert]:
        """Evaluate every rule once; returns (and dispatches) the notifications it produced."""
        now = self.clock() if now is None else now
        alerts: list[Alert] = []
        firing: list[Alert] = []
        for state in self._rules:
            for key, value, group, examples in self._values(state, now):
                alert = self._step(state, key, group, value, examples, now)
                if alert is not None:
                    alerts.append(alert)
                if group.firing:
                    firing.append(self._alert(state, key, group, examples, FIRING, now))
        for dispatcher in self.dispatchers:
            dispatcher.submit(alerts, firing)
        return alerts

    def _values(self, state: _RuleState, now: float) -> list[tuple[tuple, float | None, _Group, tuple[str, ...]]]:
        """(group key, value over the window, group, example trace ids) per live group of ``state``."""
        rule = state.rule
        if rule.metric == BUDGET_UTILIZATION:
            return self._budget_values(state)
        metric = METRICS[rule.metric]
        oldest = now - rule.window_s
        out = []
        with self._lock:
            for key, group in list(state.groups.items()):
                _trim(group.buckets, oldest, state.bucket_s)
                value = metric.value([b[1] for b in group.buckets], rule.window_s) if group.buckets else None
                if value is None and not group.firing and group.pending_since is None:
                    del state.groups[key]  # no data, no alert: forget the group
                    continue
                out.append((key, value, group, tuple(f"{trace_id:032x}" for trace_id in group.examples)))
        return out

    def _budget_values(self, state: _RuleState) -> list[tuple[tuple, float | None, _Group, tuple[str, ...]]]:
        utilization = {}
        if self.budget_utilization is not None:
            with guard("alerting.budget"):
                utilization = dict(self.budget_utilization())
        keys = set(state.groups) | {(window,) for window in utilization}
        out = []
        for key in keys:
            group = state.groups.get(key)
            if group is None:
                group = _Group()
                state.groups.put(key, group)
            out.append((key, utilization.get(key[0]), group, ()))
        return out

    def _step(
        self, state: _RuleState, key: tuple, group: _Group, value: float | None, examples: tuple[str, ...], now: float
    ) -> Alert | None:
        """Advance one alert's state machine; the notification it causes, if any."""
        rule = state.rule
        if value is not None and rule.breached(value):
            group.last_breach, group.last_value = now, value
            if not group.firing:
                group.pending_since = group.pending_since if group.pending_since is not None else now
                if now - group.pending_since < rule.for_s:
                    return None
                group.firing, group.fired_at, group.notified = True, now, False
            if group.last_notified is None or now - group.last_notified >= rule.cooldown_s:
                repeat = group.notified
                group.last_notified, group.notified = now, True
                return self._alert(state, key, group, examples, FIRING, now, repeat=repeat)
            return None
        group.pending_since = None
        if group.firing and now - group.last_breach >= rule.keep_firing_for_s:
            group.firing = False
            if group.notified:
                group.notified = False
                return self._alert(state, key, group, examples, RESOLVED, now)
        return None

    def _alert(
        self, state: _RuleState, key: tuple, group: _Group, examples: tuple[str, ...], status: str, now: float,
        repeat: bool = False,
    ) -> Alert:  # fmt: skip
        rule = state.rule
        labels = {"alertname": rule.name, "severity": rule.severity}
        words = {word: value or "" for word, value in zip(rule.group_by, key, strict=True)}
        labels.update({names.GROUP_LABELS[word]: value for word, value in words.items() if value})
        fields = {
            "service": words.get("service", ""), "source": words.get("source", ""),
            "window_label": words.get("window", ""), "value": _number(group.last_value),
            "threshold": f"{rule.threshold:g}", "window": rule.window,
        }  # fmt: skip
        comparison = "above" if rule.above else "below"
        summary = _fill(rule.summary, fields) or f"{rule.name}: {rule.metric} {comparison} {rule.threshold:g}"
        description = _fill(rule.description, fields) or (
            f"{rule.metric} was {fields['value']} over the last {rule.window} (threshold: {comparison} {rule.threshold:g})."
        )
        return Alert(
            name=rule.name, status=status, severity=rule.severity, labels=labels, metric=rule.metric,
            value=group.last_value, threshold=rule.threshold, comparison=comparison, window=rule.window,
            summary=summary, description=description, runbook_url=rule.runbook_url,
            trace_ids=examples, starts_at=group.fired_at,
            ends_at=now if status == RESOLVED else None, repeat=repeat,
        )  # fmt: skip

    # -- the timer -----------------------------------------------------------------------
    def start(self) -> None:
        """Evaluate every ``evaluation_interval`` on a daemon thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="spanmeter-alerting", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.config.evaluation_interval_s):
            with guard("alerting.evaluate"):
                self.evaluate()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the timer and give the notifiers ``timeout_s`` in all to send what is queued."""
        deadline = time.monotonic() + timeout_s
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for dispatcher in self.dispatchers:
            dispatcher.close(max(0.0, deadline - time.monotonic()))


def _trim(buckets: deque, oldest: float, width: float) -> None:
    """Drop buckets wholly older than the window (a bucket starting at s covers [s, s + width))."""
    while buckets and buckets[0][0] + width <= oldest:
        buckets.popleft()


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _fill(template: str, fields: Mapping[str, str]) -> str:
    """A rule's summary/description with its placeholders filled; unknown ones are left as written."""
    try:
        return template.format_map(fields)
    except (KeyError, IndexError, ValueError):
        return template
