"""spanmeter: OpenTelemetry for LLM agents and data pipelines.

Tokens, cost, cost per GB, budgets and anomaly flags on every span; see README.md.
"""

from spanmeter.attribution import attribution
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
from spanmeter.version import __version__

__all__ = [
    "ConfigError",
    "Settings",
    "SpanmeterProcessor",
    "__version__",
    "agent",
    "attribution",
    "configure",
    "record_data",
    "record_freshness",
    "record_quality",
    "stage",
    "tool",
    "workflow",
]


def __getattr__(name: str):
    # `configure` pulls in the SDK configurator and the gRPC exporter, SpanmeterProcessor the
    # pricing tables: load them on first use so that `import spanmeter` (the manual API) stays light.
    if name == "configure":
        from spanmeter.distro import configure

        return configure
    if name == "SpanmeterProcessor":
        from spanmeter.processing import SpanmeterProcessor

        return SpanmeterProcessor
    raise AttributeError(f"module 'spanmeter' has no attribute {name!r}")
