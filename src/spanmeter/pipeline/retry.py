"""Exponential backoff with jitter, as the Collector's ``retry_on_failure`` computes it.

The n-th wait is ``initial_interval * multiplier**n`` capped at ``max_interval``, then
spread uniformly by ``± randomization_factor`` so that many senders do not retry in
step. A downstream's own hint (gRPC ``RetryInfo``, HTTP ``Retry-After``) wins when longer.
"""

from __future__ import annotations

import random

from spanmeter.pipeline.config import Retry


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
