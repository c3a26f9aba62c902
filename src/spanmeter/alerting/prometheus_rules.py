"""Generates Prometheus' recording and alerting rules from :mod:`spanmeter.alerting.defaults`.

    python -m spanmeter.alerting.prometheus_rules > collector-config/prometheus/spanmeter-rules.yml

The checked-in file is this module's output; a test regenerates it and fails on any
difference, so thresholds are changed in ``defaults.py`` and nowhere else.

Conventions: recording rules are named ``level:metric:operation``; every rule copies
the scrape ``job`` into a ``service`` label (the label spanmeter's own alerts carry), so
Alertmanager groups and inhibits alerts from both engines alike. Work spans (agents,
tools, workflows, stages) count in ``spanmeter.span.duration`` and LLM calls in
``gen_ai.client.operation.duration``; both histograms carry ``error.type`` when a span
failed, so "calls" and "errors" are their counts without and with it.
"""

from __future__ import annotations

import sys

import yaml

from spanmeter.alerting import defaults
from spanmeter.alerting import names as n
from spanmeter.alerting.metrics import PROMQL
from spanmeter.alerting.promql import BUCKETS, CALLS, error_ratio
from spanmeter.alerting.promql import by as _by
from spanmeter.alerting.promql import service as _service

GROUP = "spanmeter"
SLO_ERRORS = "spanmeter:slo_error_ratio:rate{w}"
SLO_TARGET = "spanmeter:slo_target"
CALL_LABELS = (n.SERVICE, n.OPERATION, n.AGENT, n.TOOL, n.PROVIDER, n.MODEL, n.ERROR_TYPE)
QUANTILES = (0.5, 0.95, 0.99)
# Placeholders of defaults' summaries/descriptions -> Prometheus templates.
TEMPLATE_LABELS = {"service": n.SERVICE, "source": n.SOURCE, "window_label": n.WINDOW}
PERCENT_METRICS = frozenset({"error_rate", "budget_utilization"})
PERCENT = "{{ $value | humanizePercentage }}"
NUMBER = '{{ printf "%.4g" $value }}'


def calls_rules(window: str) -> list[dict]:
    """Calls per second over ``window`` from both duration histograms, under one recorded name.

    Both rules write the same name, told apart by ``kind``: ``work`` (agents, tools,
    workflows, stages) or ``llm``.
    """
    return [
        {
            "record": CALLS.format(w=window),
            "expr": f"sum by ({_by(CALL_LABELS)}) ({_service(f'rate({family}_count[{window}])')})",
            "labels": {"kind": kind},
        }
        for kind, family in (("work", n.SPAN_DURATION), ("llm", n.LLM_DURATION))
    ]


def _slo_rules(window: str) -> list[dict]:
    """The bad-event ratio of each SLO over ``window``, by service, labelled ``slo``."""
    rules = []
    buckets = BUCKETS.format(w=window)
    for slo in defaults.SLOS:
        if slo.latency_threshold_s is None:
            calls = CALLS.format(w=window)
            ratio = (
                f'(sum by ({n.SERVICE}) ({calls}{{{n.ERROR_TYPE}!=""}}) or sum by ({n.SERVICE}) ({calls}) * 0)'
                f" / sum by ({n.SERVICE}) ({calls})"
            )
        else:
            good = f"sum by ({n.SERVICE}) ({buckets}{{{n.le_matcher(slo.latency_threshold_s)}}})"
            total = f"sum by ({n.SERVICE}) ({buckets}{{{n.le_matcher(float('inf'))}}})"
            ratio = f"1 - {good} / {total}"
        rules.append({"record": SLO_ERRORS.format(w=window), "expr": ratio, "labels": {"slo": slo.name}})
    return rules


def _windows() -> list[str]:
    needed = {"5m"} | {w for b in defaults.BURN_WINDOWS for w in (b.long, b.short)}
    needed |= {t.window for t in defaults.THRESHOLDS if t.metric in ("error_rate", "p95_latency_s")}
    return sorted(needed, key=_seconds)


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return int(duration[:-1]) * units[duration[-1]]


def recording_rules() -> list[dict]:
    rules: list[dict] = []
    for window in _windows():
        rules += calls_rules(window)
        bucket_labels = (n.SERVICE, n.OPERATION, n.AGENT, n.TOOL, n.LE)
        bucket_rate = _service(f"rate({n.SPAN_DURATION}_bucket[{window}])")
        rules.append({"record": BUCKETS.format(w=window), "expr": f"sum by ({_by(bucket_labels)}) ({bucket_rate})"})
        rules.append({"record": f"spanmeter:error_ratio:rate{window}", "expr": error_ratio(window, (n.SERVICE,))})
        rules += _slo_rules(window)
    for slo in defaults.SLOS:
        rules.append({"record": SLO_TARGET, "expr": f"vector({slo.target})", "labels": {"slo": slo.name}})
    return rules + _dimension_rules()


def _dimension_rules() -> list[dict]:
    """Rates, ratios and quantiles per service / agent / model for dashboards and ad-hoc alerts."""
    calls = CALLS.format(w="5m")
    work, llm = (n.SERVICE, n.OPERATION, n.AGENT), (n.SERVICE, n.PROVIDER, n.MODEL)
    rules = [
        {"record": "spanmeter:requests:rate5m", "expr": f"sum by ({_by((*work, n.MODEL))}) ({calls})"},
        {
            "record": "spanmeter:errors:rate5m",
            "expr": f'sum by ({_by((*work, n.MODEL))}) ({calls}{{{n.ERROR_TYPE}!=""}})',
        },
        {"record": "spanmeter:agent_error_ratio:rate5m", "expr": error_ratio("5m", (n.SERVICE, n.AGENT))},
        {"record": "spanmeter:model_error_ratio:rate5m", "expr": error_ratio("5m", llm)},
    ]
    llm_buckets = f"sum by ({_by((*llm, n.LE))}) ({_service(f'rate({n.LLM_DURATION}_bucket[5m])')})"
    for q in QUANTILES:
        p = f"p{round(q * 100)}"
        work_buckets = f"sum by ({_by((*work, n.LE))}) ({BUCKETS.format(w='5m')})"
        rules.append(
            {"record": f"spanmeter:span_duration_seconds:{p}_5m", "expr": f"histogram_quantile({q}, {work_buckets})"}
        )
        rules.append(
            {"record": f"spanmeter:llm_duration_seconds:{p}_5m", "expr": f"histogram_quantile({q}, {llm_buckets})"}
        )
    tokens = _service(f"rate({n.TOKEN_USAGE}_sum[5m])")
    cost = _service(f"rate({n.COST}[1h])")
    anomalies = _service(f"rate({n.ANOMALIES}[5m])")
    rules += [
        {"record": "spanmeter:tokens_per_second:rate5m", "expr": f"sum by ({_by((*llm, n.TOKEN_TYPE))}) ({tokens})"},
        {
            "record": "spanmeter:cost_usd_per_hour:rate1h",
            "expr": f"sum by ({_by((n.SERVICE, n.AGENT, n.MODEL))}) ({cost}) * 3600",
        },
        {"record": "spanmeter:cost_per_gb_usd:ratio1h", "expr": PROMQL["cost_per_gb_usd"]("1h", (n.SERVICE, n.SOURCE))},
        {"record": "spanmeter:cost_per_gb_usd:avg1h", "expr": _mean_per_gb("1h", (n.SERVICE, n.SOURCE))},
        {"record": "spanmeter:anomalies:rate5m", "expr": f"sum by ({_by((n.SERVICE, n.REASON))}) ({anomalies})"},
    ]
    return rules


def _mean_per_gb(window: str, labels: tuple[str, ...]) -> str:
    """The mean of the spans' own cost per GB (``avg``): a different quantity from the ratio of sums
    the report, the Insights API and the ``cost_per_gb_usd`` alerts use (``ratio``)."""
    usd = _service(f"rate({n.COST_PER_GB}_sum[{window}])")
    count = _service(f"rate({n.COST_PER_GB}_count[{window}])")
    return f"sum by ({_by(labels)}) ({usd}) / sum by ({_by(labels)}) ({count})"


METRIC_EXPRESSIONS = PROMQL
"""Threshold metric -> its PromQL (defined with the engine's accumulator in :mod:`.metrics`)."""


def _template(text: str, metric: str, threshold: float | str, window: str) -> str:
    fields = {key: f"{{{{ $labels.{label} }}}}" for key, label in TEMPLATE_LABELS.items()}
    value = PERCENT if metric in PERCENT_METRICS else NUMBER
    return text.format(**fields, value=value, threshold=threshold, window=window)


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str, **labels: str) -> dict:
    rule = {"alert": name, "expr": expr}
    if for_ != "0s":
        rule["for"] = for_
    rule["labels"] = {"severity": severity, **labels}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": defaults.runbook_url(name),
    }
    return rule


def threshold_alert(t: defaults.Threshold) -> dict:
    labels = tuple(n.GROUP_LABELS[g] for g in t.group_by)
    expr = f"{METRIC_EXPRESSIONS[t.metric](t.window, labels)} {'>' if t.op == 'above' else '<'} {t.value:g}"
    rule = _alert(
        t.alert, expr, t.for_, t.severity,
        _template(t.summary, t.metric, f"{t.value:g}", t.window),
        _template(t.description, t.metric, f"{t.value:g}", t.window),
    )  # fmt: skip
    if t.keep_firing_for != "0s":
        rule["keep_firing_for"] = t.keep_firing_for
    return rule


def burn_rate_alerts() -> list[dict]:
    alerts = []
    for slo in defaults.SLOS:
        name = f"Spanmeter{slo.name.capitalize()}BudgetBurn"
        for b in defaults.BURN_WINDOWS:
            over = f"> on (slo) group_left () ({b.factor:g} * (1 - {SLO_TARGET}))"
            selector = f'{{slo="{slo.name}"}}'
            expr = f"{SLO_ERRORS.format(w=b.long)}{selector} {over} and {SLO_ERRORS.format(w=b.short)}{selector} {over}"
            summary = f"{{{{ $labels.service }}}}: {slo.name} error budget burning {b.factor:g}x too fast"
            description = (
                f"{{{{ $value | humanizePercentage }}}} of events were bad over the last {b.long} and {b.short} "
                f"(SLO target {slo.target:g}; burn rate {b.factor:g} uses "
                f"{b.factor * _seconds(b.long) / (30 * 86400):.0%} of a 30-day budget in {b.long})."
            )
            alerts.append(
                _alert(name, expr, b.for_, b.severity, summary, description, burn_window=f"{b.long}/{b.short}")
            )
    return alerts


def forecast_alert() -> dict:
    f = defaults.BUDGET_FORECAST
    utilization = _service(n.BUDGET_UTILIZATION)
    expr = (
        f"max by ({n.SERVICE}, {n.WINDOW}) ({_service(f'predict_linear({n.BUDGET_UTILIZATION}[{f.lookback}], {f.horizon_s})')}) > 1"
        f" and max by ({n.SERVICE}, {n.WINDOW}) ({utilization}) < 1"
    )
    hours = f.horizon_s // 3600
    return _alert(
        "SpanmeterBudgetExhaustionForecast", expr, f.for_, f.severity,
        f"{{{{ $labels.window }}}} LLM budget will run out within {hours} h",
        f"At the pace of the last {f.lookback} the {{{{ $labels.window }}}} budget reaches 100 % within {hours} h "
        f"(forecast: {{{{ $value | humanizePercentage }}}}).",
    )  # fmt: skip


def cost_spike_alert() -> dict:
    c = defaults.COST_SPIKE
    now = f"sum by ({n.SERVICE}) ({_service(f'increase({n.COST}[{c.window}])')})"
    past = [f"sum by ({n.SERVICE}) ({_service(f'increase({n.COST}[{c.window}] offset {o})')})" for o in c.offsets]
    mean = f"(({' + '.join(past)}) / {len(past)})"
    baseline = " or ".join([mean, *past])  # the mean of the offsets there is data for
    expr = f"{now} > {c.factor:g} * ({baseline}) and {now} > {c.min_usd:g}"
    return _alert(
        "SpanmeterCostSpike", expr, c.for_, c.severity,
        f"{{{{ $labels.service }}}}: LLM cost {c.factor:g}x the same hour's baseline",
        f"{NUMBER} USD in the last {c.window}, more than {c.factor:g}x the mean of the same "
        f"hour {' and '.join(c.offsets)} ago.",
    )  # fmt: skip


def render() -> str:
    document = {
        "groups": [
            {"name": f"{GROUP}.recording", "rules": recording_rules()},
            {
                "name": f"{GROUP}.alerts",
                "rules": [
                    *(threshold_alert(t) for t in defaults.THRESHOLDS),
                    *burn_rate_alerts(),
                    forecast_alert(),
                    cost_spike_alert(),
                ],
            },
        ]
    }
    header = (
        "# GENERATED by `python -m spanmeter.alerting.prometheus_rules` from src/spanmeter/alerting/defaults.py.\n"
        "# Do not edit: change the table there and regenerate (tests/unit/test_prometheus_rules.py checks).\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=1000, allow_unicode=True)


if __name__ == "__main__":
    sys.stdout.write(render())
