"""spanmeter's own rule engine with an injected clock: for, keep_firing_for, cooldown, dedup,
windows, group_by/where, and each metric computed as the generated Prometheus rule computes it."""

from __future__ import annotations

import pytest

from spanmeter.alerting import defaults
from spanmeter.alerting.engine import FIRING, RESOLVED, AlertEngine
from spanmeter.alerting.metrics import histogram_quantile
from spanmeter.alerting.rules import AlertConfig, Rule, default_rules
from spanmeter.processing.derived_metrics import SPAN_DURATION_BUCKETS
from support.alerting import outcome


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A dispatcher that keeps what the engine submits."""

    def __init__(self):
        self.alerts, self.firing = [], []

    def submit(self, alerts, firing=()):
        self.alerts.extend(alerts)
        self.firing.append(list(firing))

    def close(self, timeout_s=0):
        pass


def _rule(**overrides) -> Rule:
    values = {"name": "errors", "metric": "error_rate", "threshold": 0.5, "above": True, "window_s": 60.0, "window": "1m",
                  "runbook_url": "https://example.org/runbooks#errors"}  # fmt: skip
    values.update(overrides)
    return Rule(**values)


def _engine(*rules: Rule, **kwargs):
    clock, recorder = Clock(), Recorder()
    engine = AlertEngine(AlertConfig(rules=rules), [recorder], clock=clock, **kwargs)
    return engine, clock, recorder


def _at(engine, clock, t: float):
    clock.now = 1_000_000.0 + t
    return engine.evaluate()


def test_for_holds_the_alert_pending_then_fires_once_with_value_threshold_window_traces_and_runbook():
    engine, clock, recorder = _engine(_rule(for_s=30.0))
    failures = [outcome(error_type="TimeoutError") for _ in range(7)]
    for item in [*failures, outcome()]:
        engine.on_outcome(item)
    assert _at(engine, clock, 0) == []
    assert _at(engine, clock, 29) == []
    (alert,) = _at(engine, clock, 30)
    assert alert.status == FIRING and not alert.repeat
    assert alert.value == pytest.approx(7 / 8) and alert.threshold == 0.5 and alert.window == "1m"
    assert alert.labels == {"alertname": "errors", "severity": "warning", "service": "shop"}
    assert alert.trace_ids == tuple(f"{o.trace_id:032x}" for o in failures[-5:])
    assert alert.runbook_url == "https://example.org/runbooks#errors"
    assert "0.875" in alert.description
    assert _at(engine, clock, 45) == [], "a firing alert is notified once (dedup), not per evaluation"
    assert [a.name for a in recorder.firing[-1]] == ["errors"], "still reported as firing to Alertmanager"


def test_a_breach_shorter_than_for_never_fires():
    engine, clock, _ = _engine(_rule(for_s=30.0, window_s=10.0, window="10s"))
    engine.on_outcome(outcome(error_type="E"))
    assert _at(engine, clock, 0) == []
    clock.now = 1_000_000.0 + 20
    engine.on_outcome(outcome())  # the failure left the 10 s window: 0 % errors now
    assert _at(engine, clock, 20) == [] and _at(engine, clock, 40) == []


def test_resolves_when_the_window_has_no_breach_and_keep_firing_for_delays_it():
    engine, clock, _ = _engine(_rule(window_s=10.0, window="10s", keep_firing_for_s=30.0))
    engine.on_outcome(outcome(error_type="E"))
    assert [a.status for a in _at(engine, clock, 0)] == [FIRING]
    clock.now = 1_000_000.0 + 15
    engine.on_outcome(outcome())
    assert _at(engine, clock, 15) == [], "kept firing: the breach ended 15 s ago, keep_firing_for is 30 s"
    assert _at(engine, clock, 29) == []
    (resolved,) = _at(engine, clock, 30)
    assert resolved.status == RESOLVED and resolved.ends_at == 1_000_030.0 and resolved.value == 1.0


def test_cooldown_repeats_a_firing_alert_and_silences_a_flapping_one():
    engine, clock, recorder = _engine(_rule(window_s=10.0, window="10s", cooldown_s=60.0))
    engine.on_outcome(outcome(error_type="E"))
    assert [a.status for a in _at(engine, clock, 0)] == [FIRING]
    for t in range(5, 60, 5):  # keeps failing: no repeat before the cooldown is over
        clock.now = 1_000_000.0 + t
        engine.on_outcome(outcome(error_type="E"))
        assert _at(engine, clock, t) == []
    clock.now = 1_000_060.0
    engine.on_outcome(outcome(error_type="E"))
    (repeat,) = _at(engine, clock, 60)
    assert repeat.status == FIRING and repeat.repeat
    # Recovers (resolution notified), then flaps back within the cooldown: quiet, and so is its end.
    clock.now = 1_000_075.0
    engine.on_outcome(outcome())
    assert [a.status for a in _at(engine, clock, 75)] == [RESOLVED]
    clock.now = 1_000_080.0
    engine.on_outcome(outcome(error_type="E"))
    assert _at(engine, clock, 80) == []
    clock.now = 1_000_095.0
    engine.on_outcome(outcome())
    assert _at(engine, clock, 95) == []
    clock.now = 1_000_130.0
    engine.on_outcome(outcome(error_type="E"))
    assert [a.status for a in _at(engine, clock, 130)] == [FIRING], "after the cooldown it notifies again"
    assert [a.status for a in recorder.alerts] == [FIRING, FIRING, RESOLVED, FIRING]


def test_where_and_group_by_split_alerts_per_tool_with_prometheus_label_names():
    rule = _rule(where=(("tool", frozenset({"flaky", "slow"})),), group_by=("service", "tool"))
    engine, clock, _ = _engine(rule)
    for _ in range(3):
        engine.on_outcome(outcome(tool="flaky", error_type="E"))
        engine.on_outcome(outcome(tool="slow"))
        engine.on_outcome(outcome(tool="other", error_type="E"))  # not in `where`
    (alert,) = _at(engine, clock, 0)
    assert alert.labels == {
        "alertname": "errors",
        "severity": "warning",
        "service": "shop",
        "gen_ai_tool_name": "flaky",
    }


def test_p95_uses_prometheus_buckets_and_interpolation():
    """94 spans in (10, 30] s and 6 in (30, 60] s: 35 s, as in the promtool test of SpanmeterHighLatency."""
    engine, clock, _ = _engine(_rule(metric="p95_latency_s", threshold=30.0))
    for duration in [20.0] * 94 + [45.0] * 6:
        engine.on_outcome(outcome(duration_s=duration))
    (alert,) = _at(engine, clock, 0)
    assert alert.value == pytest.approx(35.0)
    assert len(alert.trace_ids) == 5  # spans slower than the threshold
    counts = [0] * (len(SPAN_DURATION_BUCKETS) + 1)
    counts[SPAN_DURATION_BUCKETS.index(30.0)] = 96
    counts[SPAN_DURATION_BUCKETS.index(60.0)] = 4
    assert histogram_quantile(0.95, SPAN_DURATION_BUCKETS, counts) == pytest.approx(10 + 20 * 95 / 96)
    assert histogram_quantile(0.95, SPAN_DURATION_BUCKETS, [0] * len(SPAN_DURATION_BUCKETS) + [3]) == 1800.0


@pytest.mark.parametrize(
    ("rule", "outcomes", "value"),
    [
        (_rule(metric="cost_usd_per_hour", threshold=1.0, window_s=600.0, window="10m"),
         [outcome(cost_usd=0.25) for _ in range(2)] + [outcome()], 3.0),
        (
            _rule(metric="anomalies", threshold=1.0),  # incidents: a trace's later flagged spans do not count again
            [outcome(anomaly_reasons=("latency",), anomaly_incident=True)] * 2
            + [outcome(anomaly_reasons=("latency",)), outcome()],
            2.0,
        ),
        (_rule(metric="data_quality", threshold=0.95, above=False, group_by=("source",)),
         [outcome(source="s3", quality={"completeness": 0.9, "validity": 1.0}),
          outcome(source="s3", quality={"completeness": 0.96})], 0.93),
        (_rule(metric="freshness_s", threshold=3600.0, group_by=("source",)),
         [outcome(source="s3", freshness_s=4000.0), outcome(source="s3", freshness_s=100.0)], 4000.0),
        # summed cost / summed GB, as the report computes it: (0.4 + 0.8) / (1 + 0.1) GB, not the mean 4.2
        (_rule(metric="cost_per_gb_usd", threshold=0.5), [
            outcome(per_gb_usd=0.4, total_usd=0.4, data_bytes=10**9),
            outcome(per_gb_usd=8.0, total_usd=0.8, data_bytes=10**8),
        ], 1.2 / 1.1),
    ],
)  # fmt: skip
def test_each_metric_over_its_window(rule, outcomes, value):
    engine, clock, _ = _engine(rule)
    for item in outcomes:
        engine.on_outcome(item)
    (alert,) = _at(engine, clock, 0)
    assert alert.value == pytest.approx(value)


def test_just_below_the_threshold_stays_quiet():
    engine, clock, _ = _engine(_rule(metric="data_quality", threshold=0.95, above=False, group_by=("source",)))
    engine.on_outcome(outcome(source="s3", quality={"completeness": 0.951}))
    assert _at(engine, clock, 0) == []


def test_budget_utilization_is_read_from_the_callable_per_window():
    utilization = {"day": 0.5, "month": 0.95}
    rule = _rule(name="budget", metric="budget_utilization", threshold=0.9, group_by=("window",))
    engine, clock, _ = _engine(rule, budget_utilization=lambda: utilization)
    (alert,) = _at(engine, clock, 0)
    assert alert.labels["window"] == "month" and alert.value == 0.95
    utilization["month"] = 0.2
    assert [a.status for a in _at(engine, clock, 15)] == [RESOLVED]


def test_groups_are_bounded_and_evictions_counted():
    engine, clock, _ = _engine(_rule(group_by=("service",)), max_groups=3)
    for index in range(5):
        engine.on_outcome(outcome(service=f"s{index}", error_type="E"))
    assert len(_at(engine, clock, 0)) == 3 and engine.groups_evicted == 2


@pytest.mark.expect_internal_errors
def test_a_listener_fault_is_counted_not_raised():
    from spanmeter import internal_errors

    internal_errors.reset_for_tests()
    engine, _, _ = _engine(_rule(group_by=("service",)))
    engine.on_outcome(object())  # not a SpanOutcome
    assert internal_errors.counts[("alerting.on_outcome", "AttributeError")] == 1


def test_default_rules_are_the_threshold_table():
    rules = {rule.name: rule for rule in default_rules()}
    assert set(rules) == {t.alert for t in defaults.THRESHOLDS}
    high_errors = rules["SpanmeterHighErrorRate"]
    assert (high_errors.metric, high_errors.threshold, high_errors.window_s, high_errors.for_s) == (
        "error_rate", 0.05, 300.0, 300.0,
    )  # fmt: skip
    assert rules["SpanmeterDataStale"].threshold == 3600.0 and not rules["SpanmeterDataQualityLow"].above
    engine, clock, _ = _engine(rules["SpanmeterDataStale"])
    engine.on_outcome(outcome(source="s3", freshness_s=3601.0))
    _at(engine, clock, 0)
    (alert,) = _at(engine, clock, 300)
    assert alert.summary == "s3: input data older than its 60 min freshness SLA"
    assert alert.runbook_url == "docs/runbooks.md#spanmeterdatastale"
