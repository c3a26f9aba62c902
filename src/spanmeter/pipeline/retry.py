"""The Collector's ``retry_on_failure``: an exporter's settings, and the backoff with jitter they give.

The n-th wait is ``initial_interval * multiplier**n`` capped at ``max_interval``, then
spread uniformly by ``± randomization_factor`` so that many senders do not retry in
step. A downstream's own hint (gRPC ``RetryInfo``, HTTP ``Retry-After``) wins when longer.
"""

from __future__ import annotations

import dataclasses
import random

from spanmeter.pipeline.yaml_reading import Section, boolean, duration, number_at_least


@dataclasses.dataclass(frozen=True)
class Retry:
    """The Collector's ``retry_on_failure`` (same keys, same defaults)."""

    enabled: bool = True
    initial_interval: float = 5.0
    max_interval: float = 30.0
    max_elapsed_time: float = 300.0
    multiplier: float = 1.5
    randomization_factor: float = 0.5


def read_retry(section: Section) -> Retry:
    """An exporter's ``retry_on_failure`` block (the defaults when absent)."""
    if not section.has("retry_on_failure"):
        return Retry()
    retry = section.section("retry_on_failure")
    defaults = Retry()
    value = Retry(
        enabled=retry.get("enabled", boolean, "true or false", defaults.enabled),
        initial_interval=retry.get("initial_interval", duration, "a duration like 5s", defaults.initial_interval),
        max_interval=retry.get("max_interval", duration, "a duration like 30s", defaults.max_interval),
        max_elapsed_time=retry.get("max_elapsed_time", duration, "a duration like 300s", defaults.max_elapsed_time),
        multiplier=retry.get("multiplier", number_at_least(1.0), "a number >= 1", defaults.multiplier),
        randomization_factor=retry.get(
            "randomization_factor", number_at_least(0.0), "a number between 0 and 1", defaults.randomization_factor
        ),
    )
    if value.randomization_factor > 1:
        retry.fail("randomization_factor", "a number between 0 and 1", value.randomization_factor)
    if value.max_interval < value.initial_interval:
        retry.fail("max_interval", f"a duration >= initial_interval ({value.initial_interval}s)", value.max_interval)
    retry.done()
    return value


class Backoff:
    def __init__(self, policy: Retry, rng: random.Random | None = None):
        self.policy = policy
        self._interval = policy.initial_interval
        self._random = rng or random.Random()

    def next_delay(self, hint: float | None = None) -> float:
        """Seconds to wait before the next attempt (and advance the schedule)."""
        interval = min(self._interval, self.policy.max_interval)
        self._interval = interval * self.policy.multiplier
        spread = interval * self.policy.randomization_factor
        delay = self._random.uniform(interval - spread, interval + spread)
        return max(delay, hint or 0.0)
