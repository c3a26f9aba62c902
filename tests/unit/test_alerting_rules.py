"""The rules file of SPANMETER_ALERT_RULES: the issue's shape loads; every mistake is a
ConfigError naming the file, the rule and the key."""

from __future__ import annotations

import pytest

from spanmeter.alerting import rules
from spanmeter.settings import ConfigError

ISSUE_EXAMPLE = """\
evaluation_interval: 15s          # default 15s
rules:
  - name: flaky-tool-errors
    metric: error_rate
    where: {gen_ai.tool.name: flaky}
    window: 5m
    above: 0.5
    for: 0s
    severity: warning
    runbook_url: https://example.org/runbooks#tool-errors
notifiers:
  - type: webhook
    url: http://127.0.0.1:9999/hook
    severities: [warning, critical]
"""


def _load(tmp_path, text: str):
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    return rules.load(path)


def test_the_issue_example_loads(tmp_path):
    config = _load(tmp_path, ISSUE_EXAMPLE)
    assert config.evaluation_interval_s == 15.0
    (rule,) = config.rules
    assert (rule.name, rule.metric, rule.threshold, rule.above, rule.window_s) == (
        "flaky-tool-errors", "error_rate", 0.5, True, 300.0,
    )  # fmt: skip
    assert rule.where == (("tool", frozenset({"flaky"})),)
    assert rule.group_by == ("service",) and rule.cooldown_s == 3600.0
    (notifier,) = config.notifiers
    assert notifier.type == "webhook" and notifier.severities == {"warning", "critical"}
    assert (notifier.timeout_s, notifier.retries) == (5.0, 3)


def test_defaults_true_adds_the_table_rules(tmp_path):
    config = _load(tmp_path, "defaults: true\nrules: []\n")
    assert "SpanmeterHighErrorRate" in {rule.name for rule in config.rules}
    assert [n.type for n in config.notifiers] == ["log"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - {name: r1, metric: errors, above: 1}\n", "rule 'r1' key 'metric': 'errors' is not one of"),
        ("rules:\n  - {name: r1, metric: error_rate}\n", "rule 'r1' key 'above': exactly one of"),
        ("rules:\n  - {name: r1, metric: error_rate, above: 1, below: 0}\n", "rule 'r1' key 'above'"),
        ("rules:\n  - {name: r1, metric: error_rate, above: high}\n", "rule 'r1' key 'above': 'high' is not a number"),
        ("rules:\n  - {name: r1, metric: error_rate, above: 1, for: soon}\n", "rule 'r1' key 'for': 'soon' is not"),
        ("rules:\n  - {name: r1, metric: error_rate, above: 1, window: 0s}\n", "rule 'r1' key 'window': must be > 0"),
        ("rules:\n  - {name: r1, metric: error_rate, above: 1, severity: page}\n", "rule 'r1' key 'severity'"),
        ("rules:\n  - {name: r1, metric: error_rate, above: 1, where: {colour: red}}\n",
         "rule 'r1' key 'where.colour': not a span attribute"),
        ("rules:\n  - {name: r1, metric: error_rate, above: 1, group_by: [user]}\n", "rule 'r1' key 'group_by'"),
        ("rules:\n  - {name: r1, metric: error_rate, above: 1, treshold: 2}\n", "rule 'r1' key 'treshold': unknown"),
        ("rules:\n  - {metric: error_rate, above: 1}\n", "rules[0] key 'name': required"),
        ("rules:\n  - {name: r1, metric: error_rate, above: 1}\n  - {name: r1, metric: anomalies, above: 1}\n",
         "rule 'r1': defined twice"),
        ("rules: []\nnotifiers:\n  - {type: pager, url: 'http://x'}\n", "notifiers[0] key 'type': 'pager'"),
        ("rules: []\nnotifiers:\n  - {type: webhook}\n", "notifiers[0] key 'url': required"),
        ("rules: []\nnotifiers:\n  - {type: slack, url: 'ftp://x'}\n", "notifiers[0] key 'url'"),
        ("rules: []\nnotifiers:\n  - {type: log, retries: -1}\n", "notifiers[0] key 'retries'"),
        ("rules: []\nevaluation_interval: 0s\n", "key 'evaluation_interval': must be > 0"),
        ("rulez: []\n", "key 'rulez': unknown"),
        ("rules: [\n", "file: is not valid YAML"),
        ("- just a list\n", "file: must be a mapping"),
    ],
)  # fmt: skip
def test_a_bad_file_names_the_file_the_rule_and_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, text)
    assert str(error.value).startswith(str(tmp_path / "alerts.yaml") + ": ")
    assert message in str(error.value)


def test_a_mistake_in_a_rule_or_notifier_names_the_line_it_starts_on(tmp_path):
    text = "rules:\n  - name: r1\n    metric: error_rate\n    above: 1\n  - name: r2\n    metric: error_rate\n"
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, text + "    above: high\n")
    assert str(error.value).endswith("rule 'r2' key 'above': 'high' is not a number (line 5)")

    with pytest.raises(ConfigError) as error:
        _load(tmp_path, text + "    above: 1\nnotifiers:\n  - type: log\n  - {type: slack}\n")
    assert str(error.value).endswith(
        "notifiers[1] key 'url': required for this type: an http:// or https:// URL (line 10)"
    )


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: file: cannot be read"):
        rules.load(tmp_path / "nope.yaml")


def test_durations():
    assert [rules.parse_duration(raw) for raw in ("15s", "5m", "1h", "1.5h", "250ms", 30)] == [
        15.0, 300.0, 3600.0, 5400.0, 0.25, 30.0,
    ]  # fmt: skip


def test_the_readme_example_loads(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme[readme.index("    evaluation_interval: 15s\n") :].split("\n\n", 1)[0]
    config = _load(tmp_path, "\n".join(line.removeprefix("    ") for line in block.splitlines()))
    assert config.rules[-1].name == "flaky-tool-errors" and config.rules[-1].keep_firing_for_s == 120.0
    assert [n.type for n in config.notifiers] == ["alertmanager", "slack"]
