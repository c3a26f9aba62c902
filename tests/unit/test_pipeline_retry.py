"""Backoff as the Collector's retry_on_failure computes it: growth, cap, jitter bounds, the downstream's hint."""

from __future__ import annotations

import random

import pytest

from spanmeter.pipeline.retry import Backoff, Retry


def test_grows_by_the_multiplier_up_to_max_interval_without_jitter():
    backoff = Backoff(Retry(initial_interval=1.0, max_interval=5.0, multiplier=2.0, randomization_factor=0.0))
    assert [backoff.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_stays_within_the_randomization_factor():
    policy = Retry(initial_interval=2.0, max_interval=2.0, multiplier=1.5, randomization_factor=0.5)
    backoff = Backoff(policy, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(1.0 <= delay <= 3.0 for delay in delays)
    assert max(delays) - min(delays) > 1.5  # spread, not one value


@pytest.mark.parametrize(("hint", "expected"), [(None, 1.0), (0.2, 1.0), (7.0, 7.0)])
def test_a_longer_downstream_hint_wins(hint, expected):
    backoff = Backoff(Retry(initial_interval=1.0, randomization_factor=0.0))
    assert backoff.next_delay(hint) == expected
