"""The shipped tail-sampling policies (collector-config/otel-collector-sampling.yaml), read as
the Collector's tail_sampling processor reads them, and judged on ONE span: which policies a
root span alone satisfies, so a test can say a trace is kept on its root's facts only."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

SAMPLING_CONFIG = Path(__file__).resolve().parents[2] / "collector-config" / "otel-collector-sampling.yaml"
_OTTL_THRESHOLD = re.compile(r'^attributes\["(?P<key>[^"]+)"\] != nil and attributes\["(?P=key)"\] > (?P<min>[0-9.]+)$')
"""The one OTTL shape the shipped file uses (an attribute above a threshold); another fails loudly."""


def sampling_policies() -> list[dict]:
    return yaml.safe_load(SAMPLING_CONFIG.read_text())["processors"]["tail_sampling"]["policies"]


def attributes_read(policy: dict) -> set[str]:
    """The span attribute names a policy reads."""
    kind = policy["type"]
    if kind == "boolean_attribute":
        return {policy["boolean_attribute"]["key"]}
    if kind == "ottl_condition":
        return {_threshold(condition)[0] for condition in policy["ottl_condition"]["span"]}
    assert kind in ("status_code", "probabilistic"), f"a policy type this reader does not know: {kind}"
    return set()


def _threshold(condition: str) -> tuple[str, float]:
    match = _OTTL_THRESHOLD.match(condition)
    assert match, f"an OTTL condition of another shape: {condition}"
    return match["key"], float(match["min"])


def kept_by(attributes: Mapping[str, Any], status: str) -> set[str]:
    """Names of the deciding policies (all but probabilistic) that one span with these
    attributes and status (``OK``, ``ERROR``, ``UNSET``) satisfies on its own."""
    kept = set()
    for policy in sampling_policies():
        kind, name = policy["type"], policy["name"]
        if kind == "boolean_attribute":
            rule = policy["boolean_attribute"]
            satisfied = attributes.get(rule["key"]) is rule["value"]
        elif kind == "ottl_condition":
            satisfied = any(
                type(attributes.get(key)) is float and attributes[key] > minimum
                for key, minimum in map(_threshold, policy["ottl_condition"]["span"])
            )
        elif kind == "status_code":
            satisfied = status in policy["status_code"]["status_codes"]
        else:
            satisfied = False
        if satisfied:
            kept.add(name)
    return kept
