"""Settings resolve argument > environment > default, and bad values name their source."""

from __future__ import annotations

import pytest

from spanmeter.settings import SETTINGS, ConfigError, Settings


def test_defaults_when_nothing_is_set():
    settings = Settings.load(environ={})
    assert settings.anomaly_sigma == 3.0
    assert settings.anomaly_min_samples == 30
    assert settings.jaeger_endpoint == "http://localhost:4317"
    assert settings.budgets == {}
    assert {name: getattr(settings, name) for name in SETTINGS} == {
        name: setting.default for name, setting in SETTINGS.items()
    }


def test_environment_overrides_default_and_argument_overrides_environment():
    env = {"SPANMETER_ANOMALY_SIGMA": "4.5", "SPANMETER_BUDGET_DAILY_USD": "10"}
    assert Settings.load(environ=env).anomaly_sigma == 4.5
    settings = Settings.load({"anomaly_sigma": 2}, environ=env)
    assert settings.anomaly_sigma == 2.0
    assert settings.budgets == {"day": 10.0}


def test_blank_environment_value_means_unset():
    assert Settings.load(environ={"SPANMETER_ANOMALY_SIGMA": "  "}).anomaly_sigma == 3.0


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("SPANMETER_ANOMALY_SIGMA", "-1", "must be > 0"),
        ("SPANMETER_ANOMALY_SIGMA", "three", "could not convert"),
        ("SPANMETER_ANOMALY_MIN_SAMPLES", "1", "must be >= 2"),
        ("SPANMETER_ANOMALY_MIN_SAMPLES", "2.5", "invalid literal"),
        ("SPANMETER_GENAI_SPAN_MODE", "both", "must be one of enrich, separate"),
        ("SPANMETER_PRICES_AUTO_UPDATE", "maybe", "must be true or false"),
    ],
)
def test_bad_environment_value_names_the_variable(env, value, message):
    with pytest.raises(ConfigError) as info:
        Settings.load(environ={env: value})
    assert env in str(info.value)
    assert message in str(info.value)


def test_bad_explicit_value_names_the_file_and_key():
    with pytest.raises(ConfigError, match=r"pipeline.yaml: key 'budget_weekly_usd': invalid value 0"):
        Settings.load({"budget_weekly_usd": 0}, environ={}, source="pipeline.yaml")


def test_unknown_key_is_rejected_with_the_known_ones_listed():
    with pytest.raises(ConfigError, match=r"pipeline.yaml: unknown spanmeter setting\(s\) anomaly_sigmaa"):
        Settings.load({"anomaly_sigmaa": 3}, environ={}, source="pipeline.yaml")


def test_budget_windows_collects_only_configured_ones():
    settings = Settings.load({"budget_weekly_usd": 70, "budget_monthly_usd": 300.5}, environ={})
    assert settings.budgets == {"week": 70.0, "month": 300.5}


def test_readme_configuration_table_matches_the_declared_settings():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {
        cells[0].strip("` "): cells[1].strip("` ")
        for line in readme.splitlines()
        if line.startswith("| `SPANMETER_")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    for setting in SETTINGS.values():
        assert setting.env in rows, f"{setting.env} missing from README"
        default = setting.default
        expected = "–" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
        assert rows[setting.env] == expected, f"{setting.env}: README says {rows[setting.env]}"
    assert set(rows) == {s.env for s in SETTINGS.values()}


def test_resolve_substitutes_defaults_and_lists_each_problem_with_what_is_used_instead():
    resolution = Settings.resolve(
        {"anomaly_sigmaa": 3, "budget_daily_usd": "ten"},
        environ={"SPANMETER_ANOMALY_SIGMA": "abc", "SPANMETER_ANOMALY_MIN_SAMPLES": "50"},
        source="pipeline.yaml",
    )

    assert resolution.settings.anomaly_sigma == 3.0
    assert resolution.settings.budget_daily_usd is None
    assert resolution.settings.anomaly_min_samples == 50
    assert [str(problem) for problem in resolution.problems] == [
        f"pipeline.yaml: unknown spanmeter setting(s) anomaly_sigmaa; known: {', '.join(sorted(SETTINGS))}"
        + "; using nothing (ignored)",
        (
            "pipeline.yaml: key 'budget_daily_usd': invalid value 'ten' (could not convert string to float: 'ten');"
            " using the default None"
        ),
        (
            "environment variable SPANMETER_ANOMALY_SIGMA: invalid value 'abc' (could not convert string to float:"
            " 'abc'); using the default 3.0"
        ),
    ]
    assert resolution.origins["anomaly_min_samples"] == "environment variable SPANMETER_ANOMALY_MIN_SAMPLES"
    assert resolution.origins["anomaly_sigma"] == "default (environment variable SPANMETER_ANOMALY_SIGMA is invalid)"
    assert resolution.origins["anomaly_max_keys"] == "default"
