"""spanmeter: OpenTelemetry for LLM agents and data pipelines.

Tokens, cost, cost per GB, budgets and anomaly flags on every span; see README.md.
"""

from spanmeter.instrumentation.attribution import attribution
from spanmeter.instrumentation.manual import (
    agent,
    record_data,
    record_freshness,
    record_quality,
    stage,
    tool,
    workflow,
)
from spanmeter.settings import ConfigError, Settings

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Settings",
    "agent",
    "attribution",
    "record_data",
    "record_freshness",
    "record_quality",
    "stage",
    "tool",
    "workflow",
    "__version__",
]
