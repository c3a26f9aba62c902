"""Who a span's work is for: ``user.id`` and ``spanmeter.team`` on every span started inside
``with spanmeter.attribution(...)``, whoever starts it (spanmeter, another
instrumentor, the user).

The values ride in the OpenTelemetry context, so they follow asyncio tasks for
free; ``concurrent.futures`` threads (``submit``, ``loop.run_in_executor``) get
them through :mod:`spanmeter.instrumentation.context_propagation`, which the first
``attribution`` block enables so the promise holds however the SDK was set up.
SpanmeterProcessor.on_start copies them onto each span; until the first
``attribution`` block that costs one flag check, then one context lookup.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span

from spanmeter import semconv
from spanmeter.internal_errors import guard

_KEY = otel_context.create_key("spanmeter.attribution")
_used = False  # set by the first attribution block; spares every span a context lookup until then
_propagation_guard = guard("instrumentation.context_propagation")  # threads lose attribution; the app goes on
_apply_guard = guard("instrumentation.attribution")  # attribution must never break span creation


@contextmanager
def attribution(*, user: str | None = None, team: str | None = None) -> Iterator[None]:
    """Attribute every span started inside the block to ``user`` and/or ``team``.

    Nested blocks inherit what they do not override.
    """
    global _used
    _used = True
    with _propagation_guard:
        # Imported here: processing imports this module and must not pull in instrumentation.
        from spanmeter.instrumentation import context_propagation

        context_propagation.enable()
    current = dict(otel_context.get_value(_KEY) or ())
    if user is not None:
        current[semconv.USER_ID] = str(user)
    if team is not None:
        current[semconv.TEAM] = str(team)
    token = otel_context.attach(otel_context.set_value(_KEY, tuple(current.items())))
    try:
        yield
    finally:
        otel_context.detach(token)


def current_attribution(context: Context | None = None) -> dict[str, str]:
    """The attribution in force in ``context`` (default: the current one)."""
    return dict(otel_context.get_value(_KEY, context) or ())


def apply_attribution(span: Span, parent_context: Context | None = None) -> None:
    """Copy the attribution in force onto a starting span. Never raises."""
    if not _used:
        return
    with _apply_guard:
        items = otel_context.get_value(_KEY, parent_context)
        if items:
            for key, value in items:
                span.set_attribute(key, value)
