"""Where spanmeter's own alerts go: a log record, an HTTP webhook (JSON, or a Slack-compatible
payload), or Alertmanager's API (``POST /api/v2/alerts``, for routing and silences without Prometheus).

Each notifier sits behind a :class:`Dispatcher`: a bounded queue and one worker thread.
The engine's ``submit`` never waits: when the queue is full the batch is dropped and
counted (``dropped``). HTTP notifiers time out each attempt, retry connection errors,
5xx and 429 with exponential backoff, give up on other 4xx, and count what they could
not deliver (``failed``); a receiver that hangs costs its own worker ``timeout`` per
attempt and nothing else.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from spanmeter.alerting.engine import FIRING, RESOLVED, Alert
from spanmeter.alerting.rules import NotifierConfig
from spanmeter.internal_errors import guard

_logger = logging.getLogger("spanmeter.alerting")


def _time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as the webhook's JSON sends it (Alertmanager webhook-like fields plus spanmeter's)."""
    return {
        "status": alert.status,
        "labels": dict(alert.labels),
        "annotations": {"summary": alert.summary, "description": alert.description, "runbook_url": alert.runbook_url},
        "metric": alert.metric,
        "value": alert.value,
        "threshold": alert.threshold,
        "comparison": alert.comparison,
        "window": alert.window,
        "trace_ids": list(alert.trace_ids),
        "startsAt": _time(alert.starts_at),
        "endsAt": _time(alert.ends_at) if alert.ends_at is not None else None,
        "repeat": alert.repeat,
    }


def slack_text(alerts: Sequence[Alert]) -> str:
    """Slack mrkdwn (also understood by Mattermost, Rocket.Chat and Teams' Slack-compatible hooks)."""
    lines = []
    for alert in alerts:
        lines.append(f"*[{alert.status.upper()}] {alert.name}* ({alert.severity}) {alert.summary}")
        lines.append(alert.description)
        if alert.runbook_url:
            lines.append(f"Runbook: {alert.runbook_url}")
        if alert.trace_ids:
            lines.append("Traces: " + ", ".join(alert.trace_ids))
    return "\n".join(lines)


class LogNotifier:
    """One log record per alert on the ``spanmeter.alerting`` logger (critical at ERROR)."""

    resends_firing = False

    def send(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            level = logging.INFO if alert.status == RESOLVED else logging.WARNING
            if alert.status == FIRING and alert.severity == "critical":
                level = logging.ERROR
            _logger.log(
                level, "spanmeter alert %s [%s] %s: %s (runbook: %s; traces: %s)",
                alert.name, alert.status, alert.summary, alert.description, alert.runbook_url or "-",
                ", ".join(alert.trace_ids) or "-",
            )  # fmt: skip


class HttpPoster:
    """POSTs JSON with a timeout per attempt and retries with exponential backoff."""

    def __init__(
        self, url: str, timeout_s: float, retries: int, *, backoff_s: float = 0.5, max_backoff_s: float = 30.0
    ):
        self.url, self.timeout_s, self.retries = url, timeout_s, retries
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.stopping = threading.Event()
        self.attempts = self.delivered = self.failed = 0

    def post(self, payload: Any) -> bool:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "spanmeter"}
        )
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt and self.stopping.wait(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)):
                break  # shutting down: no more waiting
            self.attempts += 1
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
                self.delivered += 1
                return True
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break  # the receiver refuses this payload: retrying will not change its mind
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
        self.failed += 1
        _logger.warning(
            "spanmeter: alert notification to %s failed after %d attempt(s): %s", self.url, attempt + 1, problem
        )
        return False


class WebhookNotifier:
    """``{"receiver": "spanmeter", "status": ..., "alerts": [...]}`` (or ``{"text": ...}`` for Slack)."""

    resends_firing = False

    def __init__(self, poster: HttpPoster, *, slack: bool = False):
        self.poster, self.slack = poster, slack

    def send(self, alerts: Sequence[Alert]) -> None:
        if self.slack:
            payload: dict[str, Any] = {"text": slack_text(alerts)}
        else:
            status = FIRING if any(alert.status == FIRING for alert in alerts) else RESOLVED
            payload = {"receiver": "spanmeter", "status": status, "alerts": [alert_json(a) for a in alerts]}
        self.poster.post(payload)


class AlertmanagerNotifier:
    """Alertmanager's ``POST /api/v2/alerts``: every evaluation sends all firing alerts (Alertmanager
    deduplicates, groups, silences and repeats them) with ``endsAt`` a few intervals ahead, so they
    resolve by themselves if spanmeter stops; resolved alerts are sent with ``endsAt`` = now."""

    resends_firing = True

    def __init__(self, poster: HttpPoster, *, resolve_after_s: float, clock: Callable[[], float] = time.time):
        self.poster, self.resolve_after_s, self.clock = poster, resolve_after_s, clock

    def payload(self, alerts: Sequence[Alert], now: float) -> list[dict[str, Any]]:
        out = []
        for alert in alerts:
            annotations = {"summary": alert.summary, "description": alert.description}
            if alert.runbook_url:
                annotations["runbook_url"] = alert.runbook_url
            if alert.trace_ids:
                annotations["trace_ids"] = ", ".join(alert.trace_ids)
            annotations.update(value=f"{alert.value:.6g}" if alert.value is not None else "", threshold=f"{alert.threshold:g}",
                               window=alert.window)  # fmt: skip
            ends = alert.ends_at if alert.ends_at is not None else now + self.resolve_after_s
            out.append({
                "labels": dict(alert.labels), "annotations": annotations, "startsAt": _time(alert.starts_at),
                "endsAt": _time(ends), "generatorURL": f"spanmeter://alerting/{alert.name}",
            })  # fmt: skip
        return out

    def send(self, alerts: Sequence[Alert]) -> None:
        self.poster.post(self.payload(alerts, self.clock()))


_STOP = object()


class Dispatcher:
    """A notifier behind a bounded queue and a worker thread; ``submit`` never blocks."""

    def __init__(self, notifier: Any, severities: frozenset[str], queue_size: int = 256):
        self.notifier, self.severities = notifier, severities
        self.dropped = 0
        self._closing = False
        self._queue: queue.Queue = queue.Queue(queue_size)
        self._guard = guard("alerting.notify")
        self._thread = threading.Thread(target=self._run, name="spanmeter-alert-notifier", daemon=True)
        self._thread.start()

    def submit(self, alerts: Sequence[Alert], firing: Sequence[Alert] = ()) -> None:
        """Queue this evaluation's notifications (``alerts``); an Alertmanager notifier also gets
        every alert still ``firing``. Drops (and counts) the batch when the queue is full."""
        if getattr(self.notifier, "resends_firing", False):
            batch = [*firing, *(a for a in alerts if a.status == RESOLVED)]
        else:
            batch = list(alerts)
        batch = [alert for alert in batch if alert.severity in self.severities]
        if not batch:
            return
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1:
                _logger.warning(
                    "spanmeter: alert notifications dropped: the %s queue is full", type(self.notifier).__name__
                )

    def _run(self) -> None:
        while (batch := self._queue.get()) is not _STOP and not self._closing:
            with self._guard:
                self.notifier.send(batch)

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued within ``timeout_s``, then stop: no more retry waits, the rest is dropped."""
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass  # the worker stops at the next batch once closing is set
        self._thread.join(timeout_s)
        self._closing = True
        poster = getattr(self.notifier, "poster", None)
        if poster is not None:
            poster.stopping.set()


def build(config: NotifierConfig, evaluation_interval_s: float, clock: Callable[[], float] = time.time) -> Dispatcher:
    """The dispatcher of one ``notifiers:`` entry."""
    if config.type == "log":
        notifier: Any = LogNotifier()
    else:
        url = config.url or ""
        if config.type == "alertmanager":
            url = url.rstrip("/") + "/api/v2/alerts"
        poster = HttpPoster(url, config.timeout_s, config.retries)
        if config.type == "alertmanager":
            notifier = AlertmanagerNotifier(poster, resolve_after_s=max(4 * evaluation_interval_s, 60.0), clock=clock)
        else:
            notifier = WebhookNotifier(poster, slack=config.type == "slack")
    return Dispatcher(notifier, config.severities, config.queue_size)
