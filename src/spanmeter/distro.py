"""Zero-code setup: spanmeter's distro, configurator and processing hook for ``opentelemetry-instrument``.

``opentelemetry-instrument`` loads ONE distro and ONE configurator (the first
installed, unless ``OTEL_PYTHON_DISTRO`` / ``OTEL_PYTHON_CONFIGURATOR`` name one),
then runs every ``opentelemetry_pre_instrument`` hook. So spanmeter does its part in
three places:

* :class:`SpanmeterDistro` sets spanmeter's default exporters (OTLP/JSON files) for
  the signals the user left unset;
* :class:`SpanmeterConfigurator` builds the SDK exactly as OpenTelemetry's own
  configurator does from the ``OTEL_*`` variables, then installs processing;
* :func:`install_processing`, the pre-instrument hook, runs whichever configurator
  won (``opentelemetry-distro``'s is often first) and replaces the span processors
  that configurator put in front of its exporters by ONE :class:`SpanmeterProcessor`
  fanning out to all of them, so budgets and metrics are counted once.

:func:`configure` does the same from code for apps not started by ``opentelemetry-instrument``,
instrumentors included; :func:`resolve_settings` checks the files the settings name, for both.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.environment_variables import (
    OTEL_LOGS_EXPORTER,
    OTEL_METRICS_EXPORTER,
    OTEL_TRACES_EXPORTER,
)
from opentelemetry.instrumentation.distro import BaseDistro
from opentelemetry.instrumentation.environment_variables import (
    OTEL_PYTHON_CONFIGURATOR,
    OTEL_PYTHON_DISTRO,
)
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

from spanmeter import sdk_internals
from spanmeter.export import JaegerSpanExporter, OTLPFileMetricExporter, OTLPFileSpanExporter
from spanmeter.instrumentation import context_propagation
from spanmeter.internal_errors import guard
from spanmeter.on_import import instrument_libraries
from spanmeter.output_files import unwritable_reason, writable_or_default
from spanmeter.processing import SpanmeterProcessor
from spanmeter.processing.pricing import load_price_file
from spanmeter.settings import SETTINGS, ConfigError, Problem, Resolution, Settings

_logger = logging.getLogger("spanmeter")
_lock = threading.RLock()

FILE_EXPORTER = "spanmeter_file"  # its entry-point name (pyproject.toml)
# Per signal, used when the user's environment does not choose an exporter.
DEFAULT_EXPORTERS = {
    OTEL_TRACES_EXPORTER: FILE_EXPORTER,
    OTEL_METRICS_EXPORTER: FILE_EXPORTER,
    OTEL_LOGS_EXPORTER: "none",
}
# The SDK's plain processors, which only pass spans to one exporter: safe to merge.
_MERGEABLE = (BatchSpanProcessor, SimpleSpanProcessor)
# Stands in for the exporter of a retired BatchSpanProcessor, whose shutdown shuts its exporter.
_DETACHED = SpanExporter()
_propagation_guard = guard("distro.context_propagation")
_install_guard = guard("distro.install_processing")


class SpanmeterDistro(BaseDistro):
    """Default every unset ``OTEL_*_EXPORTER``: spans and metrics to files, logs off."""

    def _configure(self, **kwargs):
        for variable, value in DEFAULT_EXPORTERS.items():
            if not os.environ.get(variable, "").strip():
                os.environ[variable] = value


class SpanmeterConfigurator(_OTelSDKConfigurator):
    """OpenTelemetry's SDK configurator (every ``OTEL_*`` variable), then spanmeter's processing.

    ``settings`` (a :class:`Settings`) supplies exporter paths and endpoints; by
    default they come from the ``SPANMETER_*`` variables.
    """

    def _configure(self, settings: Settings | None = None, **kwargs):
        if settings is None:
            settings = settings_from_environment()
        kwargs.setdefault(
            "exporter_args_map",
            {
                OTLPFileSpanExporter: {"path": settings.traces_file},
                OTLPFileMetricExporter: {"path": settings.metrics_file},
                JaegerSpanExporter: {"endpoint": settings.jaeger_endpoint},
            },
        )
        super()._configure(**kwargs)
        _install_processing(None, settings, by_other_configurator=False)


def configure(*, instrument: bool = True, **settings) -> TracerProvider | None:
    """Set up OpenTelemetry with spanmeter from code; what ``opentelemetry-instrument`` does.

    Keyword arguments are spanmeter settings (``budget_daily_usd=50``, ...) and win
    over ``SPANMETER_*`` variables; a bad value, a price or alert-rules file that cannot be
    used, or a traces/metrics file that cannot be written raises :class:`ConfigError`. Exporters,
    sampler and resource come from the ``OTEL_*`` variables (with spanmeter's default
    exporters for unset ones, written into ``os.environ`` as the distro does). If a
    TracerProvider is set already (by ``opentelemetry-instrument`` or an earlier call),
    no second one is built: processing is installed into it if missing. With ``instrument``
    the libraries spanmeter supports are instrumented when the app imports them, less those
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names (:func:`spanmeter.on_import.instrument_libraries`);
    ``instrument=False`` leaves instrumenting to the app. Returns the global SDK
    TracerProvider, or None when the global one is not the SDK's.
    """
    resolved = resolve_settings(settings).settings_or_raise()
    with _lock:
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            SpanmeterDistro().configure()
            SpanmeterConfigurator().configure(settings=resolved)
        else:
            _install_processing(None, resolved, by_other_configurator=False)
    if instrument:
        instrument_libraries(settings=resolved)
    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, TracerProvider) else None


def settings_from_environment() -> Settings:
    """``SPANMETER_*`` settings by the OpenTelemetry SDK's rule: a bad one is ONE warning line
    naming it and what is used instead (its default; for a bad price or alert-rules file, none;
    for an unwritable traces or metrics file, the default file), and telemetry keeps working. Raising here would print tracebacks and leave the app without any."""
    resolution = resolve_settings()
    for problem in resolution.problems:
        _logger.warning("spanmeter: %s", problem)
    return resolution.settings


def resolve_settings(
    explicit: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None, source: str = "argument"
) -> Resolution:
    """:meth:`Settings.resolve`, then the files the settings name, checked as the app will use them.

    A price file or alert-rules file that cannot be read or parsed is a problem (and not
    used); so is a traces or metrics file that cannot be written while the ``spanmeter_file``
    exporter is configured for that signal, which would otherwise lose every export.
    """
    environ = os.environ if environ is None else environ
    resolution = Settings.resolve(explicit, environ=environ, source=source)
    resolution = _check_price_file(resolution)
    resolution = _check_alert_rules(resolution)
    return _check_output_files(resolution, environ)


def _check_price_file(resolution: Resolution) -> Resolution:
    if resolution.settings.prices_file is None:
        return resolution
    try:
        load_price_file(resolution.settings.prices_file)
    except ConfigError as exc:
        return resolution.with_problem(
            Problem(str(exc), "no price overrides"), reset="prices_file", because="the file is invalid"
        )
    return resolution


def _check_alert_rules(resolution: Resolution) -> Resolution:
    if resolution.settings.alert_rules is None:
        return resolution
    from spanmeter.alerting import rules  # only apps with alert rules pay for the import

    try:
        rules.load(resolution.settings.alert_rules)
    except ConfigError as exc:
        problem = Problem(f"{resolution.origins['alert_rules']}: {exc}", "no alert rules")
        return resolution.with_problem(problem, reset="alert_rules", because="the file is invalid")
    return resolution


def _check_output_files(resolution: Resolution, environ: Mapping[str, str]) -> Resolution:
    for name, exporter_variable in (("traces_file", OTEL_TRACES_EXPORTER), ("metrics_file", OTEL_METRICS_EXPORTER)):
        chosen = environ.get(exporter_variable, "").strip() or DEFAULT_EXPORTERS[exporter_variable]
        if FILE_EXPORTER not in {exporter.strip() for exporter in chosen.split(",")}:
            continue
        resolution = _check_output_file(resolution, name)
    return resolution


def _check_output_file(resolution: Resolution, name: str) -> Resolution:
    """A file exporter's path that cannot be written: its default if that can be, else the loss is told."""
    path, default, origin = getattr(resolution.settings, name), SETTINGS[name].default, resolution.origins[name]
    reason = unwritable_reason(path)
    if reason is None:
        return resolution
    where = f"{SETTINGS[name].env} (default)" if origin == "default" else origin
    message = f"{where}: cannot write {path!r} ({reason})"
    if writable_or_default(path, default) != path:  # what the exporter will do
        return resolution.with_problem(Problem(message, f"the default {default!r}"), reset=name, because="unwritable")
    return resolution.with_problem(Problem(message, f"no file: what {FILE_EXPORTER} exports there is lost"))


def _retire(processor: SpanProcessor) -> None:
    """Take a merged SDK processor out of service without shutting down the exporter it fed."""
    if isinstance(processor, BatchSpanProcessor):
        processor.force_flush()  # spans it already holds still leave (unenriched) rather than vanish
        sdk_internals.detach_exporter(processor, _DETACHED)  # stops its worker only
        processor.shutdown()


def install_processing(
    provider: TracerProvider | None = None, settings: Settings | None = None
) -> SpanmeterProcessor | None:
    """Put one SpanmeterProcessor in front of every exporter of ``provider`` (default: global).

    The ``opentelemetry_pre_instrument`` hook, so it runs whichever configurator
    built the SDK. Plain Batch/SimpleSpanProcessors are replaced by one
    SpanmeterProcessor over their exporters; other processors are left as they
    are. Idempotent; never raises. When it does install, another configurator built
    the SDK (spanmeter's own installs first), so it says so at WARNING on the
    ``spanmeter`` logger, which Python prints even where logging is not set up.
    Returns the SpanmeterProcessor in use, or None when none could be installed.
    """
    return _install_processing(provider, settings, by_other_configurator=True)


def _install_processing(
    provider: TracerProvider | None, settings: Settings | None, *, by_other_configurator: bool
) -> SpanmeterProcessor | None:
    with _propagation_guard:  # threads lose their parent span; tracing goes on
        context_propagation.enable()
    with _install_guard:  # the app must start even if spanmeter cannot
        try:
            return _install_into(provider or trace.get_tracer_provider(), settings, by_other_configurator)
        except ConfigError as exc:
            _logger.error("spanmeter: %s; spanmeter's processing is NOT installed", exc)
    return None


def _install_into(
    provider: object, settings: Settings | None, by_other_configurator: bool
) -> SpanmeterProcessor | None:
    """:func:`_install` into an SDK TracerProvider whose internals are as spanmeter knows them."""
    if not isinstance(provider, TracerProvider):
        _logger.warning(
            "spanmeter: processing NOT installed: the global TracerProvider is %s, not the "
            "OpenTelemetry SDK's (no configurator ran, or another SDK is in use); spans carry "
            "no cost, metrics or anomaly flags",
            type(provider).__name__,
        )
        return None
    if not sdk_internals.check("opentelemetry-sdk"):
        return None  # the check logged what is missing
    with _lock:
        return _install(provider, settings, by_other_configurator)


def _install_alerting(processor: SpanmeterProcessor) -> None:
    """spanmeter's own alert rules (``SPANMETER_ALERT_RULES``), fed by the processor's enricher."""
    settings = processor.settings
    if not settings.alert_rules:
        return
    from spanmeter import alerting  # only apps with alert rules pay for the notifiers' imports

    with guard("distro.install_alerting"):
        try:
            alerting.install(processor.enricher, settings)
        except ConfigError as exc:
            _logger.error("spanmeter: %s; alert rules are NOT evaluated", exc)


def _install(provider: TracerProvider, settings: Settings | None, by_other_configurator: bool) -> SpanmeterProcessor:
    current = sdk_internals.span_processors(provider)  # the SDK offers no public way to replace them
    for processor in current:
        if isinstance(processor, SpanmeterProcessor):
            return processor
    settings = settings or settings_from_environment()  # after the check above: problems are told once
    merged = [p for p in current if type(p) in _MERGEABLE]
    # Processors of other types that feed an exporter (e.g. BatchSpanProcessor subclasses).
    bypassing = [p for p in current if type(p) not in _MERGEABLE and hasattr(p, "span_exporter")]
    exporters = [p.span_exporter for p in merged]
    spanmeter_processor = SpanmeterProcessor(exporters, settings=settings)
    _install_alerting(spanmeter_processor)
    sdk_internals.replace_span_processors(provider, (*(p for p in current if p not in merged), spanmeter_processor))
    for processor in merged:
        _retire(processor)
    # atexit runs last-registered first: the MeterProvider (built before this) would otherwise
    # take its final reading before the last spans are enriched into metrics.
    atexit.register(spanmeter_processor.force_flush)

    names = ", ".join(type(exporter).__name__ for exporter in exporters) or "none"
    if by_other_configurator:
        _logger.warning(
            "spanmeter: the OpenTelemetry SDK was set up by another configurator (%s=%s), not "
            "spanmeter's; spanmeter's processing now runs in front of its span exporters: %s "
            "(%s=%s). For spanmeter's own defaults set %s=spanmeter %s=spanmeter.",
            OTEL_PYTHON_CONFIGURATOR, os.environ.get(OTEL_PYTHON_CONFIGURATOR, "<first installed>"),
            names, OTEL_TRACES_EXPORTER, os.environ.get(OTEL_TRACES_EXPORTER, "<unset>"),
            OTEL_PYTHON_DISTRO, OTEL_PYTHON_CONFIGURATOR,
        )  # fmt: skip
    else:
        _logger.info("spanmeter: processing installed in front of span exporters: %s", names)
    if not exporters:
        _logger.warning(
            "spanmeter: no span exporter is configured (%s): spans are enriched for metrics, then dropped",
            OTEL_TRACES_EXPORTER,
        )
    if bypassing:
        _logger.warning(
            "spanmeter: exporting span processors left as they are; what they export bypasses "
            "spanmeter's processing (no cost or anomaly flags): %s",
            ", ".join(type(p).__name__ for p in bypassing),
        )
    return spanmeter_processor
