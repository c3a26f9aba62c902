"""Carry the OpenTelemetry context into ``concurrent.futures`` worker threads.

asyncio tasks and ``asyncio.to_thread`` copy the context already, but
``ThreadPoolExecutor.submit`` (and so ``loop.run_in_executor``) runs the function
in a worker thread with an empty one: its spans would lose their parent and
``spanmeter.attribution``. :func:`enable` wraps ``submit`` so the function runs
with the submitter's OpenTelemetry context attached (only that context: other
``contextvars`` keep Python's behaviour).

Why not ``opentelemetry-instrumentation-threading``, which does the same: it pins
``opentelemetry-instrumentation`` to its own exact version and lags the core
releases, so depending on it would downgrade the SDK every spanmeter user has (at
the time of writing, 0.66b1 against an installed 0.66b2 and API 1.45.2). If a user
enables it as well, both wrappers attach the same context, which is harmless.
Plain ``threading.Thread`` keeps Python's behaviour (a fresh context), as in the SDK.
"""

from __future__ import annotations

import threading
from concurrent import futures

from opentelemetry import context as otel_context

from spanmeter.internal_errors import guard

_lock = threading.Lock()
_enabled = False


def enable() -> None:
    """Propagate the context through ``ThreadPoolExecutor.submit``. Idempotent, cheap to repeat."""
    global _enabled
    if _enabled:
        return
    from wrapt import wrap_function_wrapper  # imported on first use: `import spanmeter` stays light

    with _lock:
        if not _enabled:
            wrap_function_wrapper(futures.ThreadPoolExecutor, "submit", _submit_in_context)
            _enabled = True


def disable() -> None:
    """Undo :func:`enable` (for tests and uninstrumentation)."""
    global _enabled
    from opentelemetry.instrumentation.utils import unwrap

    with _lock:
        if _enabled:
            unwrap(futures.ThreadPoolExecutor, "submit")
            _enabled = False


_guard = guard("instrumentation.context_propagation")


def _run_in_context(context: otel_context.Context, fn, /, *args, **kwargs):
    token = otel_context.attach(context)
    try:
        return fn(*args, **kwargs)
    finally:
        otel_context.detach(token)


def _submit_in_context(wrapped, instance, args, kwargs):
    context = None
    with _guard:  # a fault: submit as if spanmeter were not there
        context = otel_context.get_current()
    if not context or not args:  # nothing to carry, or a call submit itself will reject
        return wrapped(*args, **kwargs)
    return wrapped(_run_in_context, context, *args, **kwargs)
