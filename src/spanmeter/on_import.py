"""Patch a library when the app imports it, not when ``instrument()`` runs.

``opentelemetry-instrument`` calls every instrumentor at start-up; importing the
openai and anthropic SDKs there cost an app that never used them seconds of wall
time and tens of MB. With :func:`patch_on_import` an instrumentor pays nothing until
the app's own ``import openai`` (wrapt's post-import hooks); an app that imported the
library before instrumenting is patched at once.

:func:`instrument_libraries` applies every instrumentor spanmeter ships, as
``opentelemetry-instrument`` does; ``spanmeter.configure()`` and ``spanmeter bench`` use it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import wrapt
from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
from opentelemetry.instrumentation.environment_variables import OTEL_PYTHON_DISABLED_INSTRUMENTATIONS

from spanmeter.internal_errors import guard

# spanmeter's own entry points in the opentelemetry_instrumentor group (pyproject.toml) start with it.
INSTRUMENTOR_PREFIX = "spanmeter_"
_logger = logging.getLogger("spanmeter")
_lock = threading.Lock()
_registered: set[tuple[str, Callable[[Any], None]]] = set()


def patch_on_import(module_name: str, patch: Callable[[Any], None]) -> None:
    """Call ``patch(module)`` now if ``module_name`` is imported, else right after the app imports it.

    wrapt keeps a hook for the life of the process, so each (module, patch) is registered
    once: an ``instrument()`` / ``uninstrument()`` cycle must not stack hooks, and
    ``patch`` itself decides whether patching is still wanted when it runs. A fault in
    ``patch`` is counted, never raised into the app's ``import``.
    """
    key = (module_name, patch)
    with _lock:
        if key in _registered:
            fire_now = True
        else:
            _registered.add(key)
            fire_now = False
    if fire_now:  # registered before: wrapt will not call it again for a module already imported
        module = sys.modules.get(module_name)
        if module is not None:
            _guarded(module_name, patch)(module)
        return
    wrapt.register_post_import_hook(_guarded(module_name, patch), module_name)


def _guarded(module_name: str, patch: Callable[[Any], None]) -> Callable[[Any], None]:
    component = f"instrumentation.{module_name}"

    def hook(module: Any) -> None:
        with guard(component):
            patch(module)

    return hook


def hooks_while_active(telemetry: Any, patches: Iterable[tuple[str, Callable[[Any], None]]]):
    """``(module, hook)`` pairs whose hook runs ``patch`` only while ``telemetry.active``:
    wrapt's hooks outlive ``uninstrument()``. Build them once, at import, so that
    :func:`patch_on_import` sees the same hook on every ``instrument()`` call."""

    def while_active(patch: Callable[[Any], None]) -> Callable[[Any], None]:
        def hook(module: Any) -> None:
            if telemetry.active:
                patch(module)

        return hook

    return tuple((module, while_active(patch)) for module, patch in patches)


def instrument_libraries(**instrument_kwargs: Any) -> list[str]:
    """Apply spanmeter's instrumentors as ``opentelemetry-instrument`` applies them; their entry-point names.

    Every ``spanmeter_*`` entry point of the ``opentelemetry_instrumentor`` group, less those
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names (``*``: all), gets ``instrument(**instrument_kwargs)``.
    Each patches its library when the app imports it, so an installed library the app never
    imports costs nothing. A library not installed is skipped; one installed at a version the
    instrumentor does not support is skipped with a warning, not left silently untraced. An
    instrumentor already instrumented (by ``opentelemetry-instrument`` or an earlier call) is left as it is.
    """
    disabled = {name.strip() for name in os.environ.get(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, "").split(",")}
    if "*" in disabled:
        return []
    applied = []
    for entry in entry_points(group="opentelemetry_instrumentor"):
        if entry.name.startswith(INSTRUMENTOR_PREFIX) and entry.name not in disabled:
            with guard(f"instrumentation.{entry.name}"):  # one broken instrumentor must not stop the others
                if _instrument(entry, instrument_kwargs):
                    applied.append(entry.name)
    return applied


def _instrument(entry: EntryPoint, instrument_kwargs: dict[str, Any]) -> bool:
    instrumentor = entry.load()()
    conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
    if conflict is not None:
        if conflict.found is not None:  # None: the library is not installed, nothing to say
            _logger.warning("spanmeter: %s is not instrumented: %s", entry.name, conflict)
        return False
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(skip_dep_check=True, **instrument_kwargs)
    return True
