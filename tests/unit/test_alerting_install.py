"""alerting.install: a rules file (SPANMETER_ALERT_RULES) becomes an engine registered as a listener
of the enricher, reading the enricher's budgets; a bad file is one error naming file, rule and key,
and the app's processing is installed regardless."""

from __future__ import annotations

import logging

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter import alerting
from spanmeter.distro import install_processing
from spanmeter.processing import SpanmeterProcessor
from spanmeter.processing.budgets import BudgetTracker
from spanmeter.settings import Settings
from support.alerting import WebhookReceiver, outcome


class Registry:
    """Stands in for the enricher: keeps listeners, owns a budget tracker."""

    def __init__(self):
        self.listeners = []
        self.budgets = BudgetTracker({"day": 10.0}, clock=lambda: 1_700_000_000.0)

    def add_listener(self, listener):
        self.listeners.append(listener)


def test_install_registers_one_engine_fed_by_outcomes_and_budgets(tmp_path):
    with WebhookReceiver() as receiver:
        rules = tmp_path / "alerts.yaml"
        rules.write_text(
            "evaluation_interval: 1h\n"
            "rules:\n"
            "  - {name: budget, metric: budget_utilization, above: 0.9, severity: critical}\n"
            "  - {name: tool-errors, metric: error_rate, above: 0.5, where: {gen_ai.tool.name: flaky}}\n"
            f"notifiers:\n  - {{type: webhook, url: '{receiver.url}/hook'}}\n"
        )
        registry, settings = Registry(), Settings.load({"alert_rules": str(rules)}, environ={})
        engine = alerting.install(registry, settings)
        assert alerting.install(registry, settings) is engine and registry.listeners == [engine]
        registry.budgets.add(9.5)
        registry.listeners[0].on_outcome(outcome(tool="flaky", error_type="E"))
        fired = {alert.name: alert for alert in engine.evaluate()}
        (body,) = receiver.wait_for(lambda bodies: bodies)
        engine.stop()
    assert fired["budget"].value == 0.95 and fired["budget"].labels["window"] == "day"
    assert fired["tool-errors"].value == 1.0
    assert sorted(a["labels"]["alertname"] for a in body["alerts"]) == ["budget", "tool-errors"]


def test_no_rules_file_no_engine():
    assert alerting.install(Registry(), Settings.load({}, environ={})) is None


def test_a_bad_rules_file_is_one_error_and_processing_still_installs(tmp_path, caplog):
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - {name: slow, metric: p95_latency_s, above: 30, window: five minutes}\n")
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    with caplog.at_level(logging.ERROR, logger="spanmeter"):
        processor = install_processing(provider, Settings.load({"alert_rules": str(rules)}, environ={}))
    provider.shutdown()
    assert isinstance(processor, SpanmeterProcessor)
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert error.startswith(f"spanmeter: {rules}: rule 'slow' key 'window': ")
    assert error.endswith("alert rules are NOT evaluated")


def test_the_distro_feeds_the_engine_from_real_spans(tmp_path):
    """install_processing (what opentelemetry-instrument runs) registers the engine on the
    processor's enricher: failed tool spans make the error-rate rule fire."""
    with WebhookReceiver() as receiver:
        rules = tmp_path / "alerts.yaml"
        rules.write_text(
            "evaluation_interval: 1h\n"
            "rules:\n  - {name: tool-errors, metric: error_rate, above: 0.5, where: {gen_ai.tool.name: flaky}}\n"
            f"notifiers:\n  - {{type: webhook, url: '{receiver.url}/hook'}}\n"
        )
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
        processor = install_processing(provider, Settings.load({"alert_rules": str(rules)}, environ={}))
        tracer = provider.get_tracer("alerting-test")
        for failed in (True, True, False):
            attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "flaky"}
            if failed:
                attributes["error.type"] = "TimeoutError"
            with tracer.start_as_current_span("execute_tool flaky", attributes=attributes):
                pass
        provider.force_flush()
        engine = alerting.install(processor.enricher, processor.settings)
        (alert,) = engine.evaluate()
        (body,) = receiver.wait_for(lambda bodies: bodies)
        engine.stop()
        provider.shutdown()
    assert (alert.name, alert.value) == ("tool-errors", 2 / 3)
    assert [a["labels"]["alertname"] for a in body["alerts"]] == ["tool-errors"]
