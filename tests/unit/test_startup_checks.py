"""The files spanmeter's settings name are checked at start-up, as the app will use them
(``spanmeter.distro.resolve_settings``): by ``spanmeter config``, by ``configure()`` (ConfigError)
and under ``opentelemetry-instrument`` (one warning line; tests/integration/test_distro.py)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import spanmeter
from spanmeter.cli import main
from spanmeter.distro import resolve_settings
from spanmeter.settings import Settings

UNWRITABLE = "/no/such/dir/t.jsonl"
BAD_RULES = {
    "missing": (None, "file: cannot be read (No such file or directory)"),
    "not YAML": ("rules:\n  - {name: r1\n", "file: is not valid YAML (line 3, column 1: expected ',' or '}'"),
    "bad key": ("rules:\n  - {name: r1, metric: error_rate, above: high}\n", "rule 'r1' key 'above': 'high'"),
    "not a mapping": ("- just a list\n", "file: must be a mapping with a 'rules' list"),
}


@pytest.fixture
def rules_file(tmp_path, request):
    """(path, the expected end of the message) of a bad alert-rules file of each kind."""
    text, message = BAD_RULES[request.param]
    path = tmp_path / "alerts.yaml"
    if text is not None:
        path.write_text(text)
    return path, message


def test_a_malformed_price_file_is_a_problem_and_not_used(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text("[openai]\ngpt-4o = 3\n")
    environ = {"SPANMETER_PRICES_FILE": str(prices)}

    assert Settings.resolve(environ=environ).problems == ()  # settings alone read no file
    resolution = resolve_settings(environ=environ)

    assert resolution.settings.prices_file is None
    (problem,) = resolution.problems
    assert problem.instead == "no price overrides"
    assert problem.message == (
        f"price file {prices} (SPANMETER_PRICES_FILE): key 'openai.gpt-4o' must map input, output, cache_read,"
        " cache_write to USD per million tokens"
    )
    assert resolution.origins["prices_file"] == (
        "default (environment variable SPANMETER_PRICES_FILE: the file is invalid)"
    )


@pytest.mark.parametrize("rules_file", list(BAD_RULES), indirect=True)
def test_a_bad_alert_rules_file_is_a_problem_naming_the_variable_the_file_and_the_key(rules_file):
    path, message = rules_file

    resolution = resolve_settings(environ={"SPANMETER_ALERT_RULES": str(path)})

    assert resolution.settings.alert_rules is None
    (problem,) = resolution.problems
    assert problem.message.startswith(f"environment variable SPANMETER_ALERT_RULES: {path}: {message}")
    assert problem.instead == "no alert rules"
    assert "\n" not in str(problem)


@pytest.mark.parametrize(("name", "variable"), [("traces_file", "SPANMETER_TRACES_FILE"),
                                                 ("metrics_file", "SPANMETER_METRICS_FILE")])  # fmt: skip
def test_an_unwritable_file_of_the_file_exporter_is_a_problem_and_the_default_is_used(name, variable):
    resolution = resolve_settings(environ={variable: UNWRITABLE})

    (problem,) = resolution.problems
    default = Settings.resolve(environ={}).settings
    assert str(problem) == (
        f"environment variable {variable}: cannot write '{UNWRITABLE}' (no directory /no/such/dir);"
        f" using the default {getattr(default, name)!r}"
    )
    assert getattr(resolution.settings, name) == getattr(default, name)


def test_an_unwritable_default_is_told_with_what_is_lost(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spanmeter-traces.jsonl").mkdir()  # in the way of the default file

    (problem,) = resolve_settings(environ={}).problems

    assert str(problem) == (
        "SPANMETER_TRACES_FILE (default): cannot write 'spanmeter-traces.jsonl' (it is a directory);"
        " using no file: what spanmeter_file exports there is lost"
    )


def test_a_path_is_checked_only_where_the_file_exporter_is_configured():
    environ = {"SPANMETER_TRACES_FILE": UNWRITABLE, "SPANMETER_METRICS_FILE": UNWRITABLE}

    resolution = resolve_settings(environ={**environ, "OTEL_TRACES_EXPORTER": "otlp,console"})

    (problem,) = resolution.problems
    assert problem.message.startswith("environment variable SPANMETER_METRICS_FILE:")
    assert resolve_settings(environ={**environ, "OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none"}) \
        .problems == ()  # fmt: skip
    assert len(resolve_settings(environ={**environ, "OTEL_TRACES_EXPORTER": "console, spanmeter_file"}).problems) == 2


def test_configure_raises_for_an_unwritable_traces_file_before_touching_anything(monkeypatch):
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)

    with pytest.raises(spanmeter.ConfigError, match=r"key 'traces_file': cannot write '/no/such/dir/t.jsonl'"):
        spanmeter.configure(traces_file=UNWRITABLE)


@pytest.mark.parametrize("rules_file", ["missing", "bad key"], indirect=True)
def test_configure_raises_for_a_bad_alert_rules_file(rules_file):
    path, message = rules_file

    with pytest.raises(spanmeter.ConfigError) as error:
        spanmeter.configure(alert_rules=str(path))
    assert str(error.value).startswith(f"argument: key 'alert_rules': {path}: {message}")


def test_spanmeter_config_lists_an_unwritable_traces_file_and_a_bad_rules_file(tmp_path):
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rulez: []\n")
    env = {"SPANMETER_TRACES_FILE": UNWRITABLE, "SPANMETER_ALERT_RULES": str(rules), "OTEL_TRACES_EXPORTER": None}

    result = CliRunner().invoke(main, ["config"], env=env)

    assert result.exit_code == 1
    assert result.output.splitlines()[-3:] == [
        "2 problem(s):",
        (
            f"  environment variable SPANMETER_ALERT_RULES: {rules}: key 'rulez': unknown; expected"
            " evaluation_interval, defaults, rules, notifiers; using no alert rules"
        ),
        (
            f"  environment variable SPANMETER_TRACES_FILE: cannot write '{UNWRITABLE}' (no directory /no/such/dir);"
            " using the default 'spanmeter-traces.jsonl'"
        ),
    ]
