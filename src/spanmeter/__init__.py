"""spanmeter: OpenTelemetry for LLM agents and data pipelines.

Tokens, cost, cost per GB, budgets and anomaly flags on every span; see README.md.
"""

from spanmeter.instrumentation.attribution import attribution
from spanmeter.settings import ConfigError, Settings

__version__ = "0.1.0"

__all__ = ["ConfigError", "Settings", "attribution", "__version__"]
