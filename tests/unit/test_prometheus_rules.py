"""Prometheus rules: generated from the one threshold table, valid for promtool, and their
unit tests (collector-config/prometheus/tests/*.yml, series that must fire and series just
below each threshold that must not) pass on Debian's promtool."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from spanmeter.alerting import defaults, prometheus_rules
from spanmeter.processing.derived_metrics import SPAN_DURATION_BUCKETS
from support.binaries import run

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "collector-config" / "prometheus" / "spanmeter-rules.yml"
RULE_TESTS = sorted((ROOT / "collector-config" / "prometheus" / "tests").glob("*.yml"))


def _alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_checked_in_rules_are_what_the_threshold_table_generates():
    assert RULES.read_text() == prometheus_rules.render(), (
        "collector-config/prometheus/spanmeter-rules.yml drifted from src/spanmeter/alerting/defaults.py: "
        "run `python -m spanmeter.alerting.prometheus_rules > collector-config/prometheus/spanmeter-rules.yml`"
    )


def test_every_threshold_becomes_an_alert_with_its_value_window_and_severity():
    alerts = {rule["alert"]: rule for rule in _alerts()}
    for t in defaults.THRESHOLDS:
        rule = alerts[t.alert]
        comparison = ">" if t.op == "above" else "<"
        assert rule["expr"].endswith(f" {comparison} {t.value:g}")
        assert f"[{t.window}]" in rule["expr"] or f"rate{t.window}" in rule["expr"]
        assert rule.get("for", "0s") == t.for_
        assert rule["labels"]["severity"] == t.severity


def test_promtool_check_rules():
    check = run("promtool", "check", "rules", str(RULES))
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(yaml.safe_load(RULES.read_text())['groups'][0]['rules']) + len(_alerts())} rules" in (
        check.stdout
    )


def test_promtool_rule_unit_tests_pass():
    assert RULE_TESTS, "no promtool rule tests found"
    result = run("promtool", "test", "rules", *map(str, RULE_TESTS), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout + result.stderr


def test_every_alert_rule_is_tested_by_promtool_firing():
    """Each rule (burn-rate alerts: each window pair) has a promtool case where it fires."""
    fired = {
        (case["alertname"], expected["exp_labels"].get("burn_window"))
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        for expected in case.get("exp_alerts", [])
    }
    assert {(rule["alert"], rule["labels"].get("burn_window")) for rule in _alerts()} <= fired


def test_every_alert_has_summary_description_with_value_and_a_runbook_section():
    runbooks = (ROOT / "docs" / "runbooks.md").read_text()
    sections = {heading.strip().lower() for heading in re.findall(r"^## (.+)$", runbooks, re.MULTILINE)}
    for rule in _alerts():
        annotations = rule["annotations"]
        assert annotations["summary"] and "$value" in annotations["description"], rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert annotations["runbook_url"] == f"docs/runbooks.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in sections, f"docs/runbooks.md has no section for {rule['alert']}"


def test_latency_slo_threshold_is_a_bucket_bound_of_the_span_duration_histogram():
    """Good events are read from one bucket: a threshold between bounds would need interpolation."""
    for slo in defaults.SLOS:
        assert slo.latency_threshold_s is None or slo.latency_threshold_s in SPAN_DURATION_BUCKETS
