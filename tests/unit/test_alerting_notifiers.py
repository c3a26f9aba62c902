"""Notifiers against a real HTTP receiver on 127.0.0.1: delivery, retries with backoff after
failures, no retry on a refusal, a receiver that hangs (timeouts; the queue stays bounded and
submitting never waits), the Slack-compatible payload, and the log record."""

from __future__ import annotations

import logging

from spanmeter.alerting.engine import FIRING, RESOLVED, Alert
from spanmeter.alerting.notifiers import Dispatcher, HttpPoster, LogNotifier, WebhookNotifier, build
from spanmeter.alerting.rules import NotifierConfig
from support.alerting import WebhookReceiver


def _alert(status: str = FIRING, severity: str = "warning") -> Alert:
    return Alert(
        name="flaky-tool-errors", status=status, severity=severity,
        labels={"alertname": "flaky-tool-errors", "severity": severity, "service": "shop"},
        metric="error_rate", value=0.75, threshold=0.5, comparison="above", window="5m",
        summary="shop: tool errors", description="0.75 of spans failed", runbook_url="https://example.org/rb#tools",
        trace_ids=("0" * 31 + "1",), starts_at=1_700_000_000.0,
        ends_at=1_700_000_060.0 if status == RESOLVED else None,
    )  # fmt: skip


def test_webhook_posts_json_with_value_threshold_window_traces_and_runbook():
    with WebhookReceiver() as receiver:
        dispatcher = build(NotifierConfig("webhook", url=receiver.url + "/hook"), 15.0)
        dispatcher.submit([_alert()])
        (body,) = receiver.wait_for(lambda bodies: bodies)
        dispatcher.close()
    assert receiver.paths == ["/hook"]
    assert body["receiver"] == "spanmeter" and body["status"] == "firing"
    (alert,) = body["alerts"]
    assert alert["labels"] == {"alertname": "flaky-tool-errors", "severity": "warning", "service": "shop"}
    assert (alert["value"], alert["threshold"], alert["comparison"], alert["window"]) == (0.75, 0.5, "above", "5m")
    assert alert["trace_ids"] == ["0" * 31 + "1"]
    assert alert["annotations"]["runbook_url"] == "https://example.org/rb#tools"
    assert alert["startsAt"] == "2023-11-14T22:13:20.000Z" and alert["endsAt"] is None


def test_failures_are_retried_with_backoff_until_delivered():
    with WebhookReceiver(statuses=[503, 500]) as receiver:
        poster = HttpPoster(receiver.url, timeout_s=2.0, retries=3, backoff_s=0.01)
        WebhookNotifier(poster).send([_alert()])
    assert (receiver.requests, poster.attempts, poster.delivered, poster.failed) == (3, 3, 1, 0)
    assert len(receiver.bodies) == 1


def test_gives_up_after_the_retries_and_counts_the_failure(caplog):
    with WebhookReceiver(statuses=[500] * 5) as receiver, caplog.at_level(logging.WARNING, "spanmeter.alerting"):
        poster = HttpPoster(receiver.url, timeout_s=2.0, retries=2, backoff_s=0.01)
        assert poster.post({"x": 1}) is False
    assert (receiver.requests, poster.failed, receiver.bodies) == (3, 1, [])
    assert "failed after 3 attempt(s): HTTP 500" in caplog.text


def test_a_refusal_is_not_retried():
    with WebhookReceiver(statuses=[400]) as receiver:
        poster = HttpPoster(receiver.url, timeout_s=2.0, retries=3, backoff_s=0.01)
        assert poster.post({"x": 1}) is False
    assert (receiver.requests, poster.attempts, poster.failed) == (1, 1, 1)


def test_nobody_listening_is_a_failure_not_an_exception():
    with WebhookReceiver() as receiver:
        url = receiver.url
    poster = HttpPoster(url, timeout_s=1.0, retries=1, backoff_s=0.01)
    assert poster.post({"x": 1}) is False and poster.attempts == 2


def test_a_hanging_receiver_times_out_and_submitting_never_waits():
    with WebhookReceiver(hang=True) as receiver:
        poster = HttpPoster(receiver.url, timeout_s=0.3, retries=1, backoff_s=0.01)
        dispatcher = Dispatcher(WebhookNotifier(poster), frozenset({"warning"}), queue_size=2)
        for _ in range(50):  # the worker is stuck on the first batch: the queue fills, the rest is dropped
            dispatcher.submit([_alert()])
        assert dispatcher.dropped >= 47
        dispatcher.close(timeout_s=5.0)
        receiver.release()
    assert poster.failed >= 1 and poster.delivered == 0
    assert poster.attempts >= 2, "timed out, then retried"


def test_severity_filter_and_slack_payload():
    with WebhookReceiver() as receiver:
        dispatcher = build(NotifierConfig("slack", url=receiver.url, severities=frozenset({"critical"})), 15.0)
        dispatcher.submit([_alert(severity="warning")])
        dispatcher.submit([_alert(severity="critical"), _alert(status=RESOLVED, severity="critical")])
        (body,) = receiver.wait_for(lambda bodies: bodies)
        dispatcher.close()
    assert set(body) == {"text"}
    assert body["text"].splitlines() == [
        "*[FIRING] flaky-tool-errors* (critical) shop: tool errors", "0.75 of spans failed",
        "Runbook: https://example.org/rb#tools", "Traces: " + "0" * 31 + "1",
        "*[RESOLVED] flaky-tool-errors* (critical) shop: tool errors", "0.75 of spans failed",
        "Runbook: https://example.org/rb#tools", "Traces: " + "0" * 31 + "1",
    ]  # fmt: skip


def test_log_notifier(caplog):
    with caplog.at_level(logging.INFO, "spanmeter.alerting"):
        LogNotifier().send([_alert(severity="critical"), _alert(status=RESOLVED)])
    first, second = caplog.records
    assert first.levelno == logging.ERROR and "flaky-tool-errors [firing]" in first.getMessage()
    assert "https://example.org/rb#tools" in first.getMessage() and "0" * 31 + "1" in first.getMessage()
    assert second.levelno == logging.INFO and "[resolved]" in second.getMessage()
