"""spanmeter's own settings, each declared once and resolved in one order.

Order: an explicit value (argument to ``spanmeter.configure(...)`` or a key of
the pipeline's YAML file), then the ``SPANMETER_*`` environment variable, then
the default written here. A bad value raises :class:`ConfigError` naming the
setting and where the value came from, so nobody has to guess which knob is
wrong. :meth:`Settings.resolve` is the lenient path, the OpenTelemetry SDK's rule
for ``opentelemetry-instrument``: a bad value becomes a :class:`Problem` (one line
naming it and what is used instead, its default) and telemetry goes on. Standard
``OTEL_*`` variables are left to the OpenTelemetry SDK.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any


class ConfigError(ValueError):
    """A setting has a value spanmeter cannot use; the message names it and its source."""


def _positive_float(raw: Any) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def _non_negative_float(raw: Any) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _int_at_least(minimum: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError("must be a whole number")
        value = int(raw)
        if value < minimum:
            raise ValueError(f"must be >= {minimum}")
        return value

    return parse


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip().lower()
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return text

    return parse


def _cost_backends(raw: Any) -> tuple[str, ...]:
    """``langfuse,openinference`` (or a YAML list) -> the backends named, each once, in order."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    names = tuple(dict.fromkeys(str(item).strip().lower() for item in items if str(item).strip()))
    unknown = [name for name in names if name not in _COST_BACKENDS]
    if unknown:
        raise ValueError(f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(_COST_BACKENDS)}")
    return names


_COST_BACKENDS = ("langfuse", "openinference")


def _header_attribute_pairs(raw: Any) -> tuple[tuple[str, str], ...]:
    """``x-tenant=spanmeter.team,x-user=user.id`` (or a mapping in the pipeline's YAML) -> pairs,
    header names lower case (HTTP headers and gRPC metadata keys are case-insensitive)."""
    items = raw.items() if isinstance(raw, Mapping) else (
        part.split("=", 1) if "=" in part else (part, "") for part in str(raw).split(",") if part.strip())  # fmt: skip
    pairs = tuple((str(header).strip().lower(), str(attribute).strip()) for header, attribute in items)
    if any(not header or not attribute for header, attribute in pairs):
        raise ValueError("must be header=attribute pairs, comma-separated")
    return pairs


def _text(raw: Any) -> str:
    text = str(raw).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def one_line(exc: Exception) -> str:
    """A file parser's complaint on one line, for a ConfigError: PyYAML's spans several, with the source quoted."""
    mark = getattr(exc, "problem_mark", None)  # a yaml.MarkedYAMLError's position
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {getattr(exc, 'problem', None) or 'syntax error'}"
    return " ".join(str(exc).split())


@dataclasses.dataclass(frozen=True)
class _Setting:
    env: str
    parse: Callable[[Any], Any]
    default: Any
    doc: str


# name -> declaration. README's configuration table mirrors this (a test checks it).
SETTINGS: dict[str, _Setting] = {
    "prices_file": _Setting(
        "SPANMETER_PRICES_FILE",
        _text,
        None,
        "YAML or TOML price overrides per provider/model (USD per million tokens); wins over genai-prices.",
    ),
    "prices_auto_update": _Setting(
        "SPANMETER_PRICES_AUTO_UPDATE",
        _boolean,
        False,
        "Let genai-prices fetch newer price data in the background (off: bundled data only).",
    ),
    "budget_daily_usd": _Setting("SPANMETER_BUDGET_DAILY_USD", _positive_float, None, "Daily LLM budget (UTC day)."),
    "budget_weekly_usd": _Setting(
        "SPANMETER_BUDGET_WEEKLY_USD", _positive_float, None, "Weekly budget (UTC, from Monday)."
    ),
    "budget_monthly_usd": _Setting(
        "SPANMETER_BUDGET_MONTHLY_USD", _positive_float, None, "Monthly budget (UTC calendar month)."
    ),
    "anomaly_sigma": _Setting(
        "SPANMETER_ANOMALY_SIGMA",
        _positive_float,
        3.0,
        "Standardized deviation beyond which a span is flagged anomalous.",
    ),
    "anomaly_min_samples": _Setting(
        "SPANMETER_ANOMALY_MIN_SAMPLES",
        _int_at_least(2),
        30,
        "Samples a baseline needs before it may flag anything.",
    ),
    "anomaly_max_keys": _Setting(
        "SPANMETER_ANOMALY_MAX_KEYS",
        _int_at_least(1),
        10_000,
        "Baselines kept (service, span name, model); least recently used are evicted and counted.",
    ),
    "rollup_max_open_spans": _Setting(
        "SPANMETER_ROLLUP_MAX_OPEN_SPANS",
        _int_at_least(1),
        100_000,
        "Open parent spans tracked for cost roll-up; the oldest are evicted and counted.",
    ),
    "compute_usd_per_hour": _Setting(
        "SPANMETER_COMPUTE_USD_PER_HOUR",
        _non_negative_float,
        None,
        "Prices compute time of stage spans (duration x rate) into cost per GB.",
    ),
    "jaeger_endpoint": _Setting(
        "SPANMETER_JAEGER_ENDPOINT",
        _text,
        "http://localhost:4317",
        "OTLP/gRPC endpoint of Jaeger for OTEL_TRACES_EXPORTER=jaeger.",
    ),
    "traces_file": _Setting(
        "SPANMETER_TRACES_FILE",
        _text,
        "spanmeter-traces.jsonl",
        "Where the spanmeter_file exporter writes OTLP/JSON trace lines.",
    ),
    "metrics_file": _Setting(
        "SPANMETER_METRICS_FILE",
        _text,
        "spanmeter-metrics.jsonl",
        "Where the spanmeter_file exporter writes OTLP/JSON metric lines.",
    ),
    "genai_span_mode": _Setting(
        "SPANMETER_GENAI_SPAN_MODE",
        _choice("enrich", "separate"),
        "enrich",
        "enrich: when an LLM SDK's own span is active, add spanmeter's attributes to it "
        "instead of starting a second span; separate: always start spanmeter's own span.",
    ),
    "content_max_chars": _Setting(
        "SPANMETER_CONTENT_MAX_CHARS",
        _int_at_least(0),
        16_384,
        "Truncation size of captured gen_ai.input/output.messages JSON (when capture is on).",
    ),
    "span_metrics": _Setting(
        "SPANMETER_SPAN_METRICS",
        _boolean,
        False,
        "Derive traces.span.metrics.calls/duration (the Collector spanmetrics names Jaeger's Monitor tab reads) "
        "from every span; the pipeline turns it on.",
    ),
    "extra_cost_attributes": _Setting(
        "SPANMETER_EXTRA_COST_ATTRIBUTES",
        _cost_backends,
        None,
        "Comma list of other backends' cost names also written on priced spans: langfuse (gen_ai.usage.cost), "
        "openinference (llm.cost.prompt/completion/total).",
    ),
    "reprice": _Setting(
        "SPANMETER_REPRICE",
        _boolean,
        False,
        "Re-price spans that arrive with a cost from their own library (kept as spanmeter.cost.source=upstream "
        "otherwise).",
    ),
    "alert_rules": _Setting(
        "SPANMETER_ALERT_RULES",
        _text,
        None,
        "YAML file of spanmeter's own alert rules and notifiers, evaluated in process (unset: none).",
    ),
    "metadata_attributes": _Setting(
        "SPANMETER_METADATA_ATTRIBUTES",
        _header_attribute_pairs,
        None,
        "Pipeline: request headers copied onto the spans that lack the attribute, as header=attribute pairs "
        "(e.g. x-tenant=spanmeter.team); needs include_metadata: true on the receiver.",
    ),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :meth:`Settings.load`; defaults live in ``SETTINGS``."""

    prices_file: str | None
    prices_auto_update: bool
    budget_daily_usd: float | None
    budget_weekly_usd: float | None
    budget_monthly_usd: float | None
    anomaly_sigma: float
    anomaly_min_samples: int
    anomaly_max_keys: int
    rollup_max_open_spans: int
    compute_usd_per_hour: float | None
    jaeger_endpoint: str
    traces_file: str
    metrics_file: str
    genai_span_mode: str
    content_max_chars: int
    span_metrics: bool
    extra_cost_attributes: tuple[str, ...] | None
    reprice: bool
    alert_rules: str | None
    metadata_attributes: tuple[tuple[str, str], ...] | None

    @classmethod
    def load(
        cls,
        explicit: Mapping[str, Any] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        source: str = "argument",
    ) -> Settings:
        """Resolve every setting: ``explicit`` (from ``source``), then env, then default.

        ``source`` names where ``explicit`` came from (e.g. a YAML file's path)
        so that errors point at it. Unknown explicit keys are an error too. Raises
        ConfigError for the first problem. The files settings name are checked by
        whoever uses them (``spanmeter.distro.resolve_settings`` for an app).
        """
        return cls.resolve(explicit, environ=environ, source=source).settings_or_raise()

    @classmethod
    def resolve(
        cls,
        explicit: Mapping[str, Any] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        source: str = "argument",
    ) -> Resolution:
        """As :meth:`load`, but never raises: a bad value is a problem and its default is used."""
        explicit = {k: v for k, v in (explicit or {}).items() if v is not None}
        environ = os.environ if environ is None else environ
        problems: list[Problem] = []
        unknown = sorted(set(explicit) - set(SETTINGS))
        if unknown:
            message = (
                f"{source}: unknown spanmeter setting(s) {', '.join(unknown)}; known: {', '.join(sorted(SETTINGS))}"
            )
            problems.append(Problem(message, "nothing (ignored)"))
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for name, setting in SETTINGS.items():
            values[name], origins[name] = setting.default, "default"
            if name in explicit:
                raw, where = explicit[name], f"{source}: key '{name}'"
            elif environ.get(setting.env, "").strip():
                raw, where = environ[setting.env], f"environment variable {setting.env}"
            else:
                continue
            try:
                values[name], origins[name] = setting.parse(raw), where
            except (TypeError, ValueError) as exc:
                problems.append(Problem(f"{where}: invalid value {raw!r} ({exc})", f"the default {setting.default!r}"))
                origins[name] = f"default ({where} is invalid)"
        return Resolution(cls(**values), origins, tuple(problems))

    @property
    def budgets(self) -> dict[str, float]:
        """Configured budget windows, e.g. ``{"day": 10.0, "month": 200.0}``."""
        windows = {
            "day": self.budget_daily_usd,
            "week": self.budget_weekly_usd,
            "month": self.budget_monthly_usd,
        }
        return {window: usd for window, usd in windows.items() if usd is not None}


@dataclasses.dataclass(frozen=True)
class Problem:
    """A setting spanmeter could not use: ``message`` names it and its source; ``instead`` what is used."""

    message: str
    instead: str

    def __str__(self) -> str:
        return f"{self.message}; using {self.instead}"


@dataclasses.dataclass(frozen=True)
class Resolution:
    """Settings as resolved, where each value came from (``origins`` by name) and the problems met."""

    settings: Settings
    origins: dict[str, str]
    problems: tuple[Problem, ...]

    def settings_or_raise(self) -> Settings:
        """The settings, or ConfigError with the first problem (the strict path)."""
        if self.problems:
            raise ConfigError(self.problems[0].message)
        return self.settings

    def with_problem(self, problem: Problem, *, reset: str | None = None, because: str = "") -> Resolution:
        """This resolution and one more problem, found by whoever uses a file the settings name;
        ``reset`` names a setting set back to its default ``because`` its value cannot be used."""
        settings, origins = self.settings, self.origins
        if reset is not None:
            settings = dataclasses.replace(settings, **{reset: SETTINGS[reset].default})
            origins = {**origins, reset: f"default ({origins[reset]}: {because})"}
        return Resolution(settings, origins, (*self.problems, problem))
