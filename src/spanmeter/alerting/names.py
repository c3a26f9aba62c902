"""spanmeter's metric and label names as Prometheus shows them, in one place.

The OpenTelemetry Prometheus exporter (and the Collector's ``prometheus`` exporter)
turn an OTLP metric into Prometheus names by rules of their own: dots become
underscores, the unit is appended in words (``s`` -> ``_seconds``, ``USD/GBy`` ->
``_USD_per_GBy``; annotations such as ``{span}`` or ``{token}`` are dropped), and
counters gain ``_total``. The family names are derived from the metric specs by the
pipeline's own exposition rule (:func:`spanmeter.processing.aggregator.prometheus_name`);
``tests/integration/test_alert_names.py`` scrapes a real exposition of the OpenTelemetry
exporter and fails if any of them is missing, so the rules never query names nobody exports.
"""

from __future__ import annotations

from spanmeter import semconv
from spanmeter.processing.aggregator import prometheus_name
from spanmeter.processing.derived_metrics import SPECS


def label(attribute: str) -> str:
    """The Prometheus label name of a metric attribute (``gen_ai.agent.name`` -> ``gen_ai_agent_name``)."""
    return attribute.replace(".", "_")


# OTLP metric name -> the Prometheus metric family name, for the metrics the rules read.
FAMILIES = {
    name: prometheus_name(SPECS[name])
    for name in (
        semconv.METRIC_SPAN_DURATION, semconv.GEN_AI_CLIENT_OPERATION_DURATION, semconv.GEN_AI_CLIENT_TOKEN_USAGE,
        semconv.METRIC_COST, semconv.METRIC_SPAN_ERRORS, semconv.METRIC_ANOMALIES, semconv.METRIC_ANOMALY_INCIDENTS,
        semconv.METRIC_BUDGET_UTILIZATION,
        semconv.METRIC_DATA_QUALITY, semconv.METRIC_DATA_FRESHNESS, semconv.METRIC_COST_PER_GB,
        semconv.METRIC_DATA_PROCESSED, semconv.METRIC_DATA_COST, semconv.METRIC_DATA_PRICED,
    )
}  # fmt: skip

SPAN_DURATION = FAMILIES[semconv.METRIC_SPAN_DURATION]
LLM_DURATION = FAMILIES[semconv.GEN_AI_CLIENT_OPERATION_DURATION]
TOKEN_USAGE = FAMILIES[semconv.GEN_AI_CLIENT_TOKEN_USAGE]
COST = FAMILIES[semconv.METRIC_COST]
ANOMALIES = FAMILIES[semconv.METRIC_ANOMALIES]
ANOMALY_INCIDENTS = FAMILIES[semconv.METRIC_ANOMALY_INCIDENTS]
BUDGET_UTILIZATION = FAMILIES[semconv.METRIC_BUDGET_UTILIZATION]
DATA_QUALITY = FAMILIES[semconv.METRIC_DATA_QUALITY]
DATA_FRESHNESS = FAMILIES[semconv.METRIC_DATA_FRESHNESS]
COST_PER_GB = FAMILIES[semconv.METRIC_COST_PER_GB]
DATA_COST = FAMILIES[semconv.METRIC_DATA_COST]
DATA_PRICED = FAMILIES[semconv.METRIC_DATA_PRICED]

# Labels. ``job`` is the scrape job: the app's name when Prometheus scrapes it directly,
# service.name when it scrapes the Collector with honor_labels (collector-config/prometheus.yml).
# The recording rules copy it into ``service``, the label spanmeter's own alerts carry too.
JOB = "job"
SERVICE = "service"
LE = "le"
OPERATION = label(semconv.GEN_AI_OPERATION_NAME)
AGENT = label(semconv.GEN_AI_AGENT_NAME)
TOOL = label(semconv.GEN_AI_TOOL_NAME)
PROVIDER = label(semconv.GEN_AI_PROVIDER_NAME)
MODEL = label(semconv.GEN_AI_REQUEST_MODEL)
TOKEN_TYPE = label(semconv.GEN_AI_TOKEN_TYPE)
ERROR_TYPE = label(semconv.ERROR_TYPE)
SOURCE = label(semconv.DATA_SOURCE)
REASON = semconv.METRIC_ATTR_REASON
DIMENSION = semconv.METRIC_ATTR_DIMENSION
WINDOW = semconv.METRIC_ATTR_WINDOW

# The ``group_by`` words of spanmeter's own rules -> the Prometheus label of the same thing,
# so an alert from either engine carries the same labels (and Alertmanager groups them alike).
GROUP_LABELS = {
    "service": SERVICE,
    "operation": OPERATION,
    "agent": AGENT,
    "tool": TOOL,
    "provider": PROVIDER,
    "model": MODEL,
    "source": SOURCE,
    "window": WINDOW,
}


def le(bound: float) -> str:
    """A histogram bucket's ``le`` value as the Python exporter writes it (``30.0``, ``+Inf``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def le_matcher(bound: float) -> str:
    """A label matcher for the bucket ``bound``, however it is spelled: the Collector's Go exporter
    writes ``30`` where Python's writes ``30.0`` (Prometheus 3 normalises both; 2.x keeps them)."""
    if bound == float("inf") or not float(bound).is_integer():
        return f'{LE}="{le(bound)}"'
    return f'{LE}=~"{le(bound)}|{bound:g}"'
