"""Entry points of the installed OpenTelemetry instrumentors (no instrumented library is imported)."""

from __future__ import annotations

from importlib.metadata import entry_points


def instrumentor_names() -> tuple[list[str], list[str]]:
    """(spanmeter's instrumentor entry points, every other package's): to enable spanmeter's alone."""
    names = sorted({ep.name for ep in entry_points(group="opentelemetry_instrumentor")})
    ours = [name for name in names if name.startswith("spanmeter_")]
    return ours, [name for name in names if name not in ours]
