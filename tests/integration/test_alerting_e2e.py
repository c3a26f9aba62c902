"""Alerting end to end on real servers, all on 127.0.0.1 and stopped by the test:

* Debian's Prometheus scrapes an instrumented process (spans through SpanmeterProcessor,
  metrics from the real OpenTelemetry Prometheus exporter), evaluates the generated
  error-rate rule (its window shrunk to 10 s), and Debian's Alertmanager delivers the
  alert to the test's webhook: one alert with the right labels, then its resolution;
* spanmeter's own engine posts to the real Alertmanager's API (/api/v2/alerts), which
  routes the alert to the webhook, then resolves it;
* collector-config/alertmanager.yml's inhibition rules, loaded by the real Alertmanager, hold
  back a service's latency alert while its error-rate alert fires.
"""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from spanmeter.alerting import defaults, notifiers, prometheus_rules
from spanmeter.alerting.engine import AlertEngine
from spanmeter.alerting.rules import AlertConfig, NotifierConfig, Rule
from support.alerting import Alertmanager, WebhookReceiver, outcome
from support.binaries import binary, free_port, run, stop
from support.exposition import InstrumentedApp

pytestmark = pytest.mark.integration
TOOL = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}


def _statuses(bodies: list, alertname: str) -> list[tuple[str, dict]]:
    """(status, labels) of every alert named ``alertname`` the webhook received, in order."""
    return [(a["status"], a["labels"]) for b in bodies for a in b["alerts"] if a["labels"]["alertname"] == alertname]


def _rules_file(tmp_path) -> str:
    """The generated SpanmeterHighErrorRate rule and the recording rules it reads, with a 10 s window."""
    (threshold,) = [t for t in defaults.THRESHOLDS if t.alert == "SpanmeterHighErrorRate"]
    quick = dataclasses.replace(threshold, window="10s", for_="2s")
    group = {"name": "quick", "interval": "1s",
             "rules": [*prometheus_rules.calls_rules("10s"), prometheus_rules.threshold_alert(quick)]}  # fmt: skip
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
    return str(path)


def _feed(app: InstrumentedApp, failing: threading.Event, stop_feeding: threading.Event) -> None:
    while not stop_feeding.wait(0.2):
        app.record("execute_tool search", TOOL)
        app.record("execute_tool search", TOOL, error="TimeoutError" if failing.is_set() else None)
        app.flush()


def test_prometheus_rule_fires_through_alertmanager_to_a_webhook_then_resolves(tmp_path):
    rules = _rules_file(tmp_path)
    check = run("promtool", "check", "rules", rules)
    assert check.returncode == 0, check.stdout + check.stderr
    failing, stop_feeding = threading.Event(), threading.Event()
    failing.set()
    prometheus = feeder = None
    with WebhookReceiver() as receiver, Alertmanager(tmp_path, receiver.url) as alertmanager, InstrumentedApp() as app:
        app_address = app.serve().removeprefix("http://")
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [rules],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]},
            "scrape_configs": [{"job_name": "spanmeter-app", "static_configs": [{"targets": [app_address]}]}],
        }))  # fmt: skip
        try:
            feeder = threading.Thread(target=_feed, args=(app, failing, stop_feeding), daemon=True)
            feeder.start()
            prometheus = subprocess.Popen(
                [binary("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{free_port()}", "--rules.alert.resend-delay=1s"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            fired = receiver.wait_for(lambda bodies: _statuses(bodies, "SpanmeterHighErrorRate"), timeout_s=40)
            failing.clear()  # half the spans failed so far: from now on none does
            resolved = receiver.wait_for(
                lambda bodies: [s for s in _statuses(bodies, "SpanmeterHighErrorRate") if s[0] == "resolved"],
                timeout_s=40,
            )
        finally:
            stop_feeding.set()
            if feeder is not None:
                feeder.join(5)
            stop(prometheus)
    labels = {"alertname": "SpanmeterHighErrorRate", "service": "spanmeter-app", "severity": "warning"}
    assert fired[0] == ("firing", labels)
    assert resolved == [("resolved", labels)]
    assert all(s == ("firing", labels) for s in _statuses(receiver.bodies, "SpanmeterHighErrorRate")[:-1])
    first = receiver.bodies[0]["alerts"][0]
    assert first["annotations"]["runbook_url"] == "docs/runbooks.md#spanmeterhigherrorrate"
    assert first["annotations"]["description"].endswith("of work spans failed over the last 10s (threshold 0.05).")
    assert receiver.paths[0] == "/alertmanager"


def test_engine_posts_to_alertmanagers_api_which_routes_and_resolves(tmp_path):
    rule = Rule(name="flaky-tool-errors", metric="error_rate", threshold=0.5, above=True, window_s=2.0, window="2s",
                severity="critical", group_by=("service", "tool"), runbook_url="https://example.org/rb#tools")  # fmt: skip
    with WebhookReceiver() as receiver, Alertmanager(tmp_path, receiver.url) as alertmanager:
        config = AlertConfig(evaluation_interval_s=1.0, rules=(rule,))
        dispatcher = notifiers.build(NotifierConfig("alertmanager", url=alertmanager.url, timeout_s=5.0), 1.0)
        engine = AlertEngine(config, [dispatcher])
        failures = [outcome(tool="flaky", error_type="TimeoutError") for _ in range(3)]
        for item in failures:
            engine.on_outcome(item)
        (fired,) = engine.evaluate()
        firing = receiver.wait_for(lambda bodies: _statuses(bodies, "flaky-tool-errors"), timeout_s=20)
        time.sleep(2.5)  # the failures leave the 2 s window
        (resolution,) = engine.evaluate()
        resolved = receiver.wait_for(
            lambda bodies: [s for s in _statuses(bodies, "flaky-tool-errors") if s[0] == "resolved"], timeout_s=20
        )
        dispatcher.close()
    labels = {"alertname": "flaky-tool-errors", "severity": "critical", "service": "shop", "gen_ai_tool_name": "flaky"}
    assert firing == [("firing", labels)] and resolved == [("resolved", labels)]
    assert resolution.status == "resolved" and dispatcher.notifier.poster.failed == 0
    annotations = receiver.bodies[0]["alerts"][0]["annotations"]
    assert annotations["runbook_url"] == "https://example.org/rb#tools"
    assert (annotations["value"], annotations["threshold"], annotations["window"]) == ("1", "0.5", "2s")
    assert annotations["trace_ids"] == ", ".join(f"{o.trace_id:032x}" for o in failures)
    assert receiver.bodies[0]["alerts"][0]["generatorURL"] == "spanmeter://alerting/flaky-tool-errors"
    assert fired.trace_ids == tuple(f"{o.trace_id:032x}" for o in failures)


def test_error_rate_inhibits_latency_of_the_same_service_in_a_real_alertmanager(tmp_path):
    production = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "collector-config" / "alertmanager.yml").read_text()
    )

    def alert(name: str, service: str) -> dict:
        return {"labels": {"alertname": name, "service": service, "severity": "warning"},
                "annotations": {"summary": name}, "generatorURL": "spanmeter://alerting/test"}  # fmt: skip

    with WebhookReceiver() as receiver, Alertmanager(tmp_path, receiver.url, production["inhibit_rules"]) as manager:
        poster = notifiers.HttpPoster(f"{manager.url}/api/v2/alerts", timeout_s=5.0, retries=0)
        assert poster.post([alert("SpanmeterHighErrorRate", "shop"), alert("SpanmeterHighLatency", "shop"),
                            alert("SpanmeterHighLatency", "search")])  # fmt: skip
        delivered = receiver.wait_for(
            lambda bodies: (
                (found := {(a["labels"]["alertname"], a["labels"]["service"]) for b in bodies for a in b["alerts"]})
                >= {("SpanmeterHighErrorRate", "shop"), ("SpanmeterHighLatency", "search")}
                and found
            )
        )
        time.sleep(3)  # three more group intervals: an uninhibited alert would have been sent by now
        final = {(a["labels"]["alertname"], a["labels"]["service"]) for b in receiver.bodies for a in b["alerts"]}
    assert ("SpanmeterHighLatency", "shop") not in final | delivered
    assert final == {("SpanmeterHighErrorRate", "shop"), ("SpanmeterHighLatency", "search")}
