"""PromQL building blocks shared by the alert quantities (:mod:`.metrics`) and the generated rule
file (:mod:`.prometheus_rules`): the recorded series they read, and how labels are grouped."""

from __future__ import annotations

from spanmeter.alerting import names as n

CALLS = "spanmeter:calls:rate{w}"
"""Calls per second over a window, from both duration histograms (``kind``: work or llm)."""
BUCKETS = "spanmeter:span_duration_bucket:rate{w}"
"""spanmeter.span.duration's bucket rates over a window."""


def service(expr: str) -> str:
    """``expr`` with the scrape job copied into the ``service`` label."""
    return f'label_replace({expr}, "{n.SERVICE}", "$1", "{n.JOB}", "(.*)")'


def by(labels: tuple[str, ...]) -> str:
    return ", ".join(labels)


def error_ratio(window: str, labels: tuple[str, ...]) -> str:
    calls = CALLS.format(w=window)
    return f'sum by ({by(labels)}) ({calls}{{{n.ERROR_TYPE}!=""}}) / sum by ({by(labels)}) ({calls})'
