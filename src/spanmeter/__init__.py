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
    "configure",
    "record_data",
    "record_freshness",
    "record_quality",
    "stage",
    "tool",
    "workflow",
    "__version__",
]


def __getattr__(name: str):
    # `configure` pulls in the SDK configurator and the gRPC exporter; load it on first use
    # so that `import spanmeter` (the manual API) stays light.
    if name == "configure":
        from spanmeter.distro import configure

        return configure
    raise AttributeError(f"module 'spanmeter' has no attribute {name!r}")
