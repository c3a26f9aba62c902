"""collector-config/alertmanager.yml passes ``amtool check-config``, and ``amtool config routes
test`` sends each severity to the receivers the routing promises."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from support.binaries import run

CONFIG = Path(__file__).resolve().parents[2] / "collector-config" / "alertmanager.yml"


def test_amtool_check_config():
    check = run("amtool", "check-config", str(CONFIG))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout and "3 inhibit rules" in check.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (("severity=critical", "service=shop", "alertname=SpanmeterErrorRateCritical"), "pager,chat"),
        (("severity=warning", "service=shop", "alertname=SpanmeterHighLatency"), "chat"),
        (("severity=info", "service=etl", "alertname=Anything"), "chat"),
        (("service=etl", "alertname=NoSeverity"), "chat"),
    ],
)
def test_routes_by_severity(labels, receivers):
    result = run(
        "amtool", "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receivers}", *labels
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_a_warning_never_pages():
    result = run("amtool", "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=pager,chat",
                 "severity=warning", "service=shop")  # fmt: skip
    assert result.returncode != 0 and result.stdout.strip().splitlines()[0] == "chat"


def test_non_critical_routes_only_in_business_hours_and_everything_mutes_in_maintenance():
    config = yaml.safe_load(CONFIG.read_text())
    intervals = {interval["name"]: interval["time_intervals"] for interval in config["time_intervals"]}
    assert intervals["business-hours"] == [
        {"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "17:00"}], "location": "UTC"}
    ]
    for route in config["route"]["routes"]:
        assert route["mute_time_intervals"] == ["maintenance"]
        critical = route["matchers"] == ['severity="critical"']
        assert ("active_time_intervals" in route) is not critical
    assert config["route"]["group_by"] == ["alertname", "service"]


def test_error_rate_inhibits_latency_of_the_same_service():
    config = yaml.safe_load(CONFIG.read_text())
    rule = config["inhibit_rules"][0]
    assert "SpanmeterHighErrorRate" in rule["source_matchers"][0]
    assert "SpanmeterHighLatency" in rule["target_matchers"][0]
    assert rule["equal"] == ["service"]


def test_compose_mounts_the_rules_prometheus_loads_and_the_chat_url_file_alertmanager_reads():
    root = CONFIG.parents[1]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    prometheus = yaml.safe_load((root / "collector-config" / "prometheus.yml").read_text())

    def host_path(service: str, container_path: str) -> Path:
        for volume in compose[service]["volumes"]:
            source, target = volume.split(":")[:2]
            if container_path.startswith(target.rstrip("/") + "/") or container_path == target:
                return root / source / container_path.removeprefix(target).lstrip("/")
        raise AssertionError(f"{service} does not mount {container_path}")

    for rule_file in prometheus["rule_files"]:
        assert host_path("prometheus", rule_file).is_file()
    (manager,) = prometheus["alerting"]["alertmanagers"]
    assert manager["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert host_path("alertmanager", yaml.safe_load(CONFIG.read_text())["global"]["slack_api_url_file"]).is_file()
