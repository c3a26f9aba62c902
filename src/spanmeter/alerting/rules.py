"""spanmeter's own alert rules: the YAML file ``SPANMETER_ALERT_RULES`` names, parsed and checked.

Shape (all keys but ``rules`` optional)::

    evaluation_interval: 15s
    defaults: true                    # also the default rules of alerting/defaults.py
    rules:
      - name: flaky-tool-errors
        metric: error_rate            # see METRICS in alerting/metrics.py
        where: {gen_ai.tool.name: flaky}   # span attributes (a value or a list of values)
        group_by: [service, tool]     # default [service]
        window: 5m
        above: 0.5                    # or below:
        for: 0s
        keep_firing_for: 0s
        cooldown: 1h                  # least time between two notifications of one alert
        severity: warning
        runbook_url: https://example.org/runbooks#tool-errors
        summary: ...                  # optional; {service} {value} {threshold} {window} ... filled in
    notifiers:
      - type: webhook                 # webhook | slack | alertmanager | log
        url: http://127.0.0.1:9999/hook
        severities: [warning, critical]
        timeout: 5s
        retries: 3

Any mistake is a :class:`~spanmeter.settings.ConfigError` naming the file, the rule and the key
(and the line the rule or notifier starts on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spanmeter import semconv
from spanmeter.alerting import defaults
from spanmeter.alerting.metrics import METRICS
from spanmeter.settings import ConfigError, one_line

# Span attributes a rule's ``where`` may name -> the SpanOutcome field holding them.
WHERE_FIELDS = {
    "service.name": "service",
    "span.name": "span_name",
    semconv.GEN_AI_OPERATION_NAME: "operation",
    semconv.GEN_AI_PROVIDER_NAME: "provider",
    semconv.GEN_AI_REQUEST_MODEL: "model",
    semconv.GEN_AI_RESPONSE_MODEL: "model",
    semconv.GEN_AI_AGENT_NAME: "agent",
    semconv.GEN_AI_TOOL_NAME: "tool",
    semconv.DATA_SOURCE: "source",
    semconv.USER_ID: "user",
    semconv.TEAM: "team",
    semconv.ERROR_TYPE: "error_type",
}
# group_by words -> the SpanOutcome field (``window`` is budget_utilization's own group).
GROUP_FIELDS = {
    "service": "service",
    "operation": "operation",
    "agent": "agent",
    "tool": "tool",
    "provider": "provider",
    "model": "model",
    "source": "source",
}
SEVERITIES = ("info", "warning", "critical")
NOTIFIER_TYPES = ("webhook", "slack", "alertmanager", "log")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_RULE_KEYS = {
    "name", "metric", "where", "group_by", "window", "above", "below", "for", "keep_firing_for",
    "cooldown", "severity", "runbook_url", "summary", "description",
}  # fmt: skip
_NOTIFIER_KEYS = {"type", "url", "severities", "timeout", "retries", "queue_size", "name"}


def parse_duration(raw: Any) -> float:
    """Seconds from a Prometheus-style duration (``15s``, ``5m``, ``1h``; a bare number is seconds)."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw >= 0:
        return float(raw)
    match = _DURATION.match(str(raw).strip())
    if match is None:
        raise ValueError(f"{raw!r} is not a duration such as 30s, 5m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    threshold: float
    above: bool
    window_s: float
    window: str
    """As written (``5m``), for messages and labels."""
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    cooldown_s: float = 3600.0
    severity: str = "warning"
    group_by: tuple[str, ...] = ("service",)
    where: tuple[tuple[str, frozenset[str]], ...] = ()
    """(SpanOutcome field, accepted values as text)."""
    runbook_url: str = ""
    summary: str = ""
    description: str = ""

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.above else value < self.threshold


@dataclass(frozen=True)
class NotifierConfig:
    type: str
    url: str | None = None
    severities: frozenset[str] = frozenset(SEVERITIES)
    timeout_s: float = 5.0
    retries: int = 3
    queue_size: int = 256


@dataclass(frozen=True)
class AlertConfig:
    evaluation_interval_s: float = 15.0
    rules: tuple[Rule, ...] = ()
    notifiers: tuple[NotifierConfig, ...] = field(default=(NotifierConfig("log"),))


class _Where:
    """Builds ConfigErrors that say where the mistake is: file, rule, key and, inside a rule or
    notifier read from a file, the line it starts on."""

    def __init__(self, path: str, lines: dict[int, int] | None = None, line: int | None = None):
        self.path = path
        self.lines = lines or {}  # id() of each mapping read from the file -> its first line
        self.line = line

    def within(self, raw: Any) -> _Where:
        """The same file, with the line of the mapping ``raw`` (a rule or a notifier), if known."""
        return _Where(self.path, self.lines, self.lines.get(id(raw)))

    def error(self, where: str, message: str) -> ConfigError:
        at_line = f" (line {self.line})" if self.line is not None else ""
        return ConfigError(f"{self.path}: {where}: {message}{at_line}")


class _LineLoader(yaml.SafeLoader):
    """PyYAML's safe loader, remembering the line each mapping starts on (by the dict's id)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.lines: dict[int, int] = {}

    def construct_line_map(self, node: yaml.MappingNode):
        data: dict = {}
        self.lines[id(data)] = node.start_mark.line + 1
        yield data
        data.update(self.construct_mapping(node))


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_line_map)


def _read(path: str | Path) -> tuple[Any, dict[int, int]]:
    """The YAML document of ``path`` and the first line of each of its mappings."""
    loader = _LineLoader(Path(path).read_text(encoding="utf-8"))
    try:
        return loader.get_single_data(), loader.lines
    finally:
        loader.dispose()


def default_rules() -> tuple[Rule, ...]:
    """The rules of ``defaults.THRESHOLDS``, as Prometheus' generated rules evaluate them."""
    return tuple(
        Rule(
            name=t.alert,
            metric=t.metric,
            threshold=t.value,
            above=t.op == "above",
            window_s=parse_duration(t.window),
            window=t.window,
            for_s=parse_duration(t.for_),
            keep_firing_for_s=parse_duration(t.keep_firing_for),
            severity=t.severity,
            group_by=t.group_by,
            runbook_url=t.runbook_url,
            summary=t.summary,
            description=t.description,
        )
        for t in defaults.THRESHOLDS
    )


def load(path: str | Path) -> AlertConfig:
    """Read and check a rules file; raises ConfigError naming the file, the rule and the key."""
    where = _Where(str(path))
    try:
        document, lines = _read(path)
    except OSError as exc:
        raise where.error("file", f"cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise where.error("file", f"is not valid YAML ({one_line(exc)})") from None
    return parse(document, _Where(str(path), lines))


def parse(document: Any, where: _Where) -> AlertConfig:
    if not isinstance(document, dict):
        raise where.error("file", "must be a mapping with a 'rules' list")
    unknown = sorted(set(document) - {"evaluation_interval", "defaults", "rules", "notifiers"})
    if unknown:
        raise where.error(f"key '{unknown[0]}'", "unknown; expected evaluation_interval, defaults, rules, notifiers")
    interval = _get(
        where, "key 'evaluation_interval'", lambda: parse_duration(document.get("evaluation_interval", "15s"))
    )
    if interval <= 0:
        raise where.error("key 'evaluation_interval'", "must be > 0")
    raw_rules = document.get("rules") or []
    if not isinstance(raw_rules, list):
        raise where.error("key 'rules'", "must be a list")
    rules = [_rule(raw, index, where.within(raw)) for index, raw in enumerate(raw_rules)]
    if document.get("defaults", False) is True:
        rules = [*default_rules(), *rules]
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise where.error(f"rule '{duplicates[0]}'", "defined twice")
    raw_notifiers = document.get("notifiers", [{"type": "log"}])
    if not isinstance(raw_notifiers, list):
        raise where.error("key 'notifiers'", "must be a list")
    notifiers = tuple(_notifier(raw, index, where.within(raw)) for index, raw in enumerate(raw_notifiers))
    return AlertConfig(interval, tuple(rules), notifiers)


def _get(where: _Where, location: str, read):
    try:
        return read()
    except (TypeError, ValueError) as exc:
        raise where.error(location, str(exc)) from None


def _rule(raw: Any, index: int, where: _Where) -> Rule:
    if not isinstance(raw, dict):
        raise where.error(f"rules[{index}]", "must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise where.error(f"rules[{index}] key 'name'", "required, a non-empty string")
    at = f"rule '{name}'"
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise where.error(f"{at} key '{unknown[0]}'", f"unknown; expected one of {', '.join(sorted(_RULE_KEYS))}")
    metric = raw.get("metric")
    if metric not in METRICS:
        raise where.error(f"{at} key 'metric'", f"{metric!r} is not one of {', '.join(METRICS)}")
    if ("above" in raw) == ("below" in raw):
        raise where.error(f"{at} key 'above'", "exactly one of 'above' or 'below' is required")
    side = "above" if "above" in raw else "below"
    threshold = _get(where, f"{at} key '{side}'", lambda: _number(raw[side]))
    durations = {}
    for key, default in (("window", "5m"), ("for", "0s"), ("keep_firing_for", "0s"), ("cooldown", "1h")):
        durations[key] = _get(
            where, f"{at} key '{key}'", lambda key=key, default=default: parse_duration(raw.get(key, default))
        )
    if durations["window"] <= 0:
        raise where.error(f"{at} key 'window'", "must be > 0")
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        raise where.error(f"{at} key 'severity'", f"{severity!r} is not one of {', '.join(SEVERITIES)}")
    return Rule(
        name=name, metric=metric, threshold=threshold, above=side == "above", window_s=durations["window"],
        window=str(raw.get("window", "5m")), for_s=durations["for"], keep_firing_for_s=durations["keep_firing_for"],
        cooldown_s=durations["cooldown"], severity=severity, group_by=_group_by(raw, metric, at, where),
        where=_where(raw.get("where") or {}, at, where), runbook_url=_text(raw, "runbook_url", at, where),
        summary=_text(raw, "summary", at, where), description=_text(raw, "description", at, where),
    )  # fmt: skip


def _number(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise TypeError(f"{raw!r} is not a number")
    return float(raw)


def _text(raw: dict, key: str, at: str, where: _Where) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise where.error(f"{at} key '{key}'", "must be a string")
    return value


def _group_by(raw: dict, metric: str, at: str, where: _Where) -> tuple[str, ...]:
    allowed = ("window",) if metric == "budget_utilization" else tuple(GROUP_FIELDS)
    group_by = raw.get("group_by", ["window"] if metric == "budget_utilization" else ["service"])
    if not isinstance(group_by, list) or any(word not in allowed for word in group_by):
        raise where.error(f"{at} key 'group_by'", f"{group_by!r}: a list of {', '.join(allowed)}")
    return tuple(group_by)


def _where(raw: Any, at: str, where: _Where) -> tuple[tuple[str, frozenset[str]], ...]:
    if not isinstance(raw, dict):
        raise where.error(f"{at} key 'where'", "must be a mapping of span attribute -> value")
    out = []
    for attribute, value in raw.items():
        if attribute not in WHERE_FIELDS:
            raise where.error(
                f"{at} key 'where.{attribute}'", f"not a span attribute rules can filter on ({', '.join(WHERE_FIELDS)})"
            )
        values = value if isinstance(value, list) else [value]
        out.append((WHERE_FIELDS[attribute], frozenset(str(v) for v in values)))
    return tuple(out)


def _notifier(raw: Any, index: int, where: _Where) -> NotifierConfig:
    at = f"notifiers[{index}]"
    if not isinstance(raw, dict):
        raise where.error(at, "must be a mapping")
    unknown = sorted(set(raw) - _NOTIFIER_KEYS)
    if unknown:
        raise where.error(f"{at} key '{unknown[0]}'", f"unknown; expected one of {', '.join(sorted(_NOTIFIER_KEYS))}")
    kind = raw.get("type")
    if kind not in NOTIFIER_TYPES:
        raise where.error(f"{at} key 'type'", f"{kind!r} is not one of {', '.join(NOTIFIER_TYPES)}")
    url = raw.get("url")
    if kind != "log" and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise where.error(f"{at} key 'url'", "required for this type: an http:// or https:// URL")
    severities = raw.get("severities", list(SEVERITIES))
    if not isinstance(severities, list) or any(s not in SEVERITIES for s in severities):
        raise where.error(f"{at} key 'severities'", f"{severities!r}: a list of {', '.join(SEVERITIES)}")
    timeout = _get(where, f"{at} key 'timeout'", lambda: parse_duration(raw.get("timeout", "5s")))
    retries = raw.get("retries", 3)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise where.error(f"{at} key 'retries'", "must be a whole number >= 0")
    queue_size = raw.get("queue_size", 256)
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise where.error(f"{at} key 'queue_size'", "must be a whole number >= 1")
    return NotifierConfig(kind, url, frozenset(severities), timeout, retries, queue_size)
