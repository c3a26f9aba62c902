"""Prometheus text exposition (format 0.0.4), named by the Collector's pkg/translator/prometheus rules.

One place for the naming (``.`` -> ``_``, unit suffixes, ``_total`` on counters), label and
number formatting, and the rendering of metric families, so the derived metrics and the
apps' own OTLP metrics served on one ``/metrics`` page read alike, and a family that both
feed is written as one group (the text format allows no second ``# TYPE`` line for a name).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from typing import Any

_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
    "Hz": "hertz", "1": "", "%": "percent",
}  # fmt: skip
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}
_NOT_ALNUM = re.compile(r"[^a-zA-Z0-9]+")
_NOT_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_ANNOTATION = re.compile(r"\{[^}]*\}")
_NAMES: dict[tuple[str, str, bool], str] = {}


def _tokens(text: str) -> list[str]:
    return [token for token in _NOT_ALNUM.split(text) if token]


def metric_name(name: str, unit: str, counter: bool) -> str:
    """An OpenTelemetry metric's name as the Collector's prometheus exporter writes it."""
    found = _NAMES.get((name, unit, counter))
    if found is not None:
        return found
    tokens = _tokens(name)
    main, _, per = _ANNOTATION.sub("", unit).strip().partition("/")
    main_name = "_".join(_tokens(_UNITS.get(main.strip(), main.strip())))
    if main_name and main_name not in tokens:
        tokens.append(main_name)
    per_name = "_".join(_tokens(_PER_UNITS.get(per.strip(), per.strip())))
    if per_name and per_name not in tokens:
        tokens += ["per", per_name]
    if counter and "total" not in tokens:
        tokens.append("total")
    text = "_".join(tokens)
    if text[:1].isdigit():
        text = "_" + text
    _NAMES[(name, unit, counter)] = text
    return text


def label_name(key: str) -> str:
    label = _NOT_LABEL.sub("_", key)
    return f"key_{label}" if label[:1].isdigit() else label


def label_value(value: Any) -> str:
    text = ("true" if value else "false") if type(value) is bool else str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels_text(labels: list[tuple[str, str]]) -> str:
    """``{a="1",b="2"}`` from (name, already escaped value) pairs; empty without labels."""
    return "{" + ",".join(f'{key}="{value}"' for key, value in labels) + "}" if labels else ""


def number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def histogram_samples(name: str, labels: list[tuple[str, str]], bounds: Iterable[float], counts: Iterable[int],
                      total: float, count: int) -> list[str]:  # fmt: skip
    """``_bucket`` (cumulative, with ``le``), ``_sum`` and ``_count`` lines of one histogram series."""
    lines, cumulative = [], 0
    for bound, bucket in zip((*bounds, math.inf), counts):
        cumulative += bucket
        lines.append(f"{name}_bucket{labels_text([*labels, ('le', number(bound))])} {cumulative}")
    lines.append(f"{name}_sum{labels_text(labels)} {number(total)}")
    lines.append(f"{name}_count{labels_text(labels)} {count}")
    return lines


@dataclasses.dataclass
class Family:
    """One metric family: its name, help, type (counter, gauge, histogram, summary) and sample lines."""

    name: str
    help: str
    type: str
    samples: list[str] = dataclasses.field(default_factory=list)


def render(families: Iterable[Family]) -> str:
    """The page: families of the same name merged into one group (the first one's help and type)."""
    merged: dict[str, Family] = {}
    for family in families:
        known = merged.get(family.name)
        if known is None:
            merged[family.name] = Family(family.name, family.help, family.type, list(family.samples))
        else:
            known.samples.extend(family.samples)
    lines: list[str] = []
    for family in merged.values():
        help_text = family.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines += [f"# HELP {family.name} {help_text}", f"# TYPE {family.name} {family.type}", *family.samples]
    return "\n".join(lines) + "\n" if lines else ""
