"""Entry-point names of installed OpenTelemetry instrumentors, to enable spanmeter's alone."""

from __future__ import annotations

from importlib.metadata import entry_points


def instrumentor_names() -> tuple[list[str], list[str]]:
    """(spanmeter's instrumentor entry points, every other package's)."""
    names = sorted({ep.name for ep in entry_points(group="opentelemetry_instrumentor")})
    ours = [name for name in names if name.startswith("spanmeter_")]
    return ours, [name for name in names if name not in ours]
