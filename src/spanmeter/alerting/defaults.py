"""Default thresholds: the ONE table both alerting engines take theirs from.

``collector-config/prometheus/spanmeter-rules.yml`` is generated from it
(``python -m spanmeter.alerting.prometheus_rules``; a test fails when the checked-in
file drifts), and spanmeter's own rule engine starts from :func:`default_rules` when a
rules file asks for ``defaults: true``. So "error rate above 5 % over 5 m for 5 m" means
the same on either side.

Figures come from the recipes spanmeter grew out of (shared/SEED-NOTES.md): error rate
5 % (degraded) / 10 % (unhealthy), p95 latency 30 s for 5 m, data quality 0.95 over
10 m for 3 m, cost per GB 0.5 USD over 1 h for 10 m, freshness SLA 60 min, budget
alerts at 90 %, cost spike = 50 % over the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RUNBOOKS = "docs/runbooks.md"
"""Where runbook links point; replace with the URL of your hosted copy when you deploy."""


def runbook_url(alert: str) -> str:
    """The runbook section of an alert: ``docs/runbooks.md#<alert name in lower case>``."""
    return f"{RUNBOOKS}#{alert.lower()}"


@dataclass(frozen=True)
class Threshold:
    """One threshold alert, evaluated alike by Prometheus and by spanmeter's own engine."""

    alert: str
    metric: str
    """A metric of spanmeter's own rules (``alerting.metrics.METRICS``)."""
    op: str
    """``above`` or ``below``."""
    value: float
    window: str
    for_: str
    severity: str
    summary: str
    description: str
    """``{value}`` is the observed value, ``{threshold}`` and ``{window}`` the rule's."""
    group_by: tuple[str, ...] = ("service",)
    keep_firing_for: str = "0s"

    @property
    def runbook_url(self) -> str:
        return runbook_url(self.alert)


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(
        "SpanmeterHighErrorRate", "error_rate", "above", 0.05, "5m", "5m", "warning",
        "{service}: more than 5 % of agent, tool, LLM and stage spans fail",
        "{value} of work spans failed over the last {window} (threshold {threshold}).",
    ),
    Threshold(
        "SpanmeterErrorRateCritical", "error_rate", "above", 0.10, "5m", "5m", "critical",
        "{service}: more than 10 % of work spans fail (unhealthy)",
        "{value} of work spans failed over the last {window} (threshold {threshold}).",
    ),
    Threshold(
        "SpanmeterHighLatency", "p95_latency_s", "above", 30.0, "5m", "5m", "warning",
        "{service}: p95 span duration above 30 s",
        "p95 duration of work spans over the last {window} is {value} s (threshold {threshold} s).",
    ),
    Threshold(
        "SpanmeterDataQualityLow", "data_quality", "below", 0.95, "10m", "3m", "critical",
        "{source}: data quality below 0.95",
        "The lowest data-quality dimension averaged {value} over the last {window} (threshold {threshold}).",
        group_by=("service", "source"),
    ),
    Threshold(
        "SpanmeterDataStale", "freshness_s", "above", 3600.0, "5m", "5m", "warning",
        "{source}: input data older than its 60 min freshness SLA",
        "The newest input record was {value} s old over the last {window} (SLA {threshold} s).",
        group_by=("service", "source"),
    ),
    Threshold(
        "SpanmeterAnomalies", "anomalies", "above", 5.0, "15m", "0s", "warning",
        "{service}: more than 5 anomaly incidents in 15 minutes",
        "{value} traces had a span flagged anomalous over the last {window} (threshold {threshold}).",
    ),
    Threshold(
        "SpanmeterCostPerGBHigh", "cost_per_gb_usd", "above", 0.5, "1h", "10m", "warning",
        "{service}: data processing costs more than 0.5 USD per GB",
        "Cost per GB over the last {window} (summed cost / summed GB) is {value} USD (threshold {threshold} USD).",
        group_by=("service", "source"),
    ),
    Threshold(
        "SpanmeterBudgetHigh", "budget_utilization", "above", 0.9, "5m", "0s", "warning",
        "{window_label} LLM budget more than 90 % used",
        "{value} of the {window_label} budget is spent (threshold {threshold}).",
        group_by=("service", "window"),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class SLO:
    """A service-level objective alerted on by multi-window multi-burn-rate rules (SRE workbook ch. 5)."""

    name: str
    target: float
    """Fraction of good events, e.g. 0.999; a recording rule ``spanmeter:slo_target:<name>`` holds it."""
    latency_threshold_s: float | None = None
    """Latency SLOs: a span is good when it finished within this (a bucket bound of spanmeter.span.duration)."""


@dataclass(frozen=True)
class BurnWindow:
    """Alert when the error budget burns ``factor`` times too fast over both windows."""

    long: str
    short: str
    factor: float
    for_: str
    severity: str


SLOS = (SLO("availability", 0.999), SLO("latency", 0.95, latency_threshold_s=30.0))
# 2 % of a 30-day budget in 1 h, 5 % in 6 h: both page (SRE workbook, table 5-8).
BURN_WINDOWS = (BurnWindow("1h", "5m", 14.4, "2m", "critical"), BurnWindow("6h", "30m", 6.0, "15m", "critical"))


@dataclass(frozen=True)
class BudgetForecast:
    """Warn when, at the pace of the last ``lookback``, a budget window is used up within ``horizon``."""

    lookback: str = "6h"
    horizon_s: int = 24 * 3600
    for_: str = "30m"
    severity: str = "warning"


@dataclass(frozen=True)
class CostSpike:
    """Cost over ``window`` more than ``factor`` x the same hour a day and a week ago (their mean)."""

    window: str = "1h"
    factor: float = 1.5
    min_usd: float = 1.0
    """Below this the spike is noise, not money."""
    offsets: tuple[str, ...] = field(default=("1d", "1w"))
    for_: str = "15m"
    severity: str = "warning"


BUDGET_FORECAST = BudgetForecast()
COST_SPIKE = CostSpike()
