"""One exporter behind its bounded queue: consumer threads take batches and send them with retries.

With ``sending_queue.enabled: false`` there is no queue (:class:`DirectExporter`): the
receiver's thread sends, once, and the sender gets the backend's answer, as in the Collector
(a retryable failure is "retry later" to the sender, whose own exporter retries; a
permanent one is an error).

The receiver's thread only enqueues (``offer``); ``num_consumers`` threads send. A
retryable failure waits (backoff with jitter, or the downstream's hint) and tries
again until ``max_elapsed_time`` (0: forever); a permanent one is dropped and counted
with its reason. While the downstream is down the queue fills and the receivers
answer "retry later", so memory stays bounded and senders keep their data. Every
change of the downstream between up and down is one log line.
"""

from __future__ import annotations

import enum
import logging
import threading
import time

from spanmeter.pipeline import telemetry as tm
from spanmeter.pipeline.exporters.common import Exporter, ExporterConfig, Result
from spanmeter.pipeline.queue import Batch
from spanmeter.pipeline.retry import Backoff
from spanmeter.pipeline.telemetry import SelfMetrics, item_metric, log_event

POLL_S = 0.2


class Delivery(enum.Enum):
    """What became of a batch offered to an exporter."""

    TAKEN = "taken"  # queued, or sent (no queue)
    RETRY = "retry"  # the queue is full, or (no queue) the backend asks to retry later
    FAILED = "failed"  # no queue: the backend refused it for good


class _Exporter:
    """What both kinds share: the exporter, its self-metrics and its up/down log lines."""

    takes_derived_metrics = True  # the processors' derived metrics are pushed to it every few seconds

    def __init__(self, config: ExporterConfig, exporter: Exporter, metrics: SelfMetrics):
        self.config, self.name = config, config.name
        self.exporter = exporter
        self.metrics = metrics
        self._up: bool | None = None
        self._state_lock = threading.Lock()
        self.lost = 0  # items lost at stop (a memory queue's batches not sent by the drain deadline)

    def _sent(self, batch: Batch, result: Result) -> None:
        self._set_up(True, "")
        self.metrics.add(item_metric(tm.EXPORTER_SENT, batch.signal), batch.items - result.rejected,
                         exporter=self.name)  # fmt: skip
        if result.rejected:
            self._failed(batch, result.rejected, "rejected", result.reason)

    def _failed(self, batch: Batch, items: int, reason: str, detail: str) -> None:
        self.metrics.add(item_metric(tm.EXPORTER_SEND_FAILED, batch.signal), items, exporter=self.name, reason=reason)
        log_event("export_dropped", logging.WARNING, exporter=self.name, signal=batch.signal, items=items,
                  reason=reason, error=detail)  # fmt: skip

    def _set_up(self, up: bool, reason: str) -> None:
        with self._state_lock:
            changed, self._up = self._up != up, up
        if changed:
            level = logging.INFO if up else logging.WARNING
            log_event("downstream_up" if up else "downstream_down", level, exporter=self.name,
                      endpoint=self.config.destination, error=reason or None)  # fmt: skip


class DirectExporter(_Exporter):
    """No queue: the receiver's thread sends the batch and the sender gets the backend's answer."""

    def start(self) -> None:
        """Nothing runs in the background."""

    def has_room(self) -> bool:
        return True

    def offer(self, batch: Batch) -> tuple[Delivery, str]:
        result = self.exporter.send(batch.signal, batch.payload)
        if result.ok:
            self._sent(batch, result)
            return Delivery.TAKEN, ""
        self._set_up(False, result.reason)
        self.metrics.add(item_metric(tm.EXPORTER_SEND_FAILED, batch.signal), batch.items, exporter=self.name,
                         reason="retry_later" if result.retryable else "permanent")  # fmt: skip
        message = f"exporter {self.name}: {result.reason}"
        return (Delivery.RETRY if result.retryable else Delivery.FAILED), message

    def drain(self, deadline: float) -> int:
        self.exporter.close()
        return 0


class QueuedExporter(_Exporter):
    def __init__(self, config: ExporterConfig, exporter: Exporter, queue, metrics: SelfMetrics):
        super().__init__(config, exporter, metrics)
        self.queue = queue
        self._stop = threading.Event()
        self._deadline: float | None = None  # when set: give up retrying at this monotonic time
        self._threads: list[threading.Thread] = []
        self.left = 0  # batches not sent by the drain deadline
        metrics.gauge(tm.QUEUE_SIZE, lambda: float(self.queue.size()), exporter=self.name)
        metrics.gauge(tm.QUEUE_CAPACITY, lambda: float(self.queue.capacity), exporter=self.name)

    def start(self) -> None:
        for index in range(self.config.queue.num_consumers):
            thread = threading.Thread(target=self._consume, name=f"spanmeter-export-{self.name}-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def has_room(self) -> bool:
        return self.queue.has_room()

    def offer(self, batch: Batch) -> tuple[Delivery, str]:
        """Queue the batch; RETRY (counted as enqueue-failed) when the queue is full."""
        if self.queue.put(batch):
            return Delivery.TAKEN, ""
        self.metrics.add(item_metric(tm.EXPORTER_ENQUEUE_FAILED, batch.signal), batch.items, exporter=self.name)
        return Delivery.RETRY, f"the sending queue of exporter {self.name} is full; retry later"

    def _consume(self) -> None:
        while True:
            batch = self.queue.get(POLL_S)
            if batch is None:
                if self._stop.is_set():
                    return
                continue
            if self._deliver(batch):
                self.queue.ack(batch)
            else:
                self._left_at_stop(batch)

    def _left_at_stop(self, batch: Batch) -> None:
        """Not sent by the drain deadline: a file queue keeps it for the next start, a memory queue loses it."""
        self.left += 1
        if not self.queue.keep(batch):
            self.lost += batch.items
            self._failed(batch, batch.items, "shutdown", "not sent before the drain deadline")

    def _deliver(self, batch: Batch) -> bool:
        """Send with retries: True when done with the batch (sent or dropped for good), False at the deadline."""
        backoff = Backoff(self.config.retry)
        started = time.monotonic()
        while True:
            result = self.exporter.send(batch.signal, batch.payload)
            if result.ok:
                self._sent(batch, result)
                return True
            self._set_up(False, result.reason)
            if not (result.retryable and self.config.retry.enabled):
                self._failed(batch, batch.items, "permanent", result.reason)
                return True
            delay = backoff.next_delay(result.retry_after)
            limit = self.config.retry.max_elapsed_time
            if limit and time.monotonic() - started + delay > limit:
                self._failed(batch, batch.items, "retries_exhausted", result.reason)
                return True
            if not self._wait(delay):
                return False

    def _wait(self, delay: float) -> bool:
        """Sleep ``delay``; False when the shutdown deadline comes first."""
        deadline = self._deadline
        if deadline is not None and time.monotonic() + delay > deadline:
            time.sleep(max(0.0, deadline - time.monotonic()))
            return False
        end = time.monotonic() + delay
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, POLL_S))
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return False
        return True

    def drain(self, deadline: float) -> int:
        """Send what is queued until ``deadline`` (monotonic); returns the batches left behind."""
        self._deadline = deadline
        while self.queue.pending() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()) + POLL_S * 2)
        for batch in self.queue.discard():
            self._left_at_stop(batch)
        self.exporter.close()
        return self.left + self.queue.size()
