"""Patch a library when the app imports it, not when ``instrument()`` runs.

``opentelemetry-instrument`` calls every instrumentor at start-up; importing the
openai and anthropic SDKs there cost an app that never used them seconds of wall
time and tens of MB. With :func:`patch_on_import` an instrumentor pays nothing until
the app's own ``import openai`` (wrapt's post-import hooks); an app that imported the
library before instrumenting is patched at once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

import wrapt

from spanmeter.internal_errors import guard

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
