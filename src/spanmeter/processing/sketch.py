"""The one percentile sketch (report groups, bench latencies): exact while small, a log-bucket sketch after.

A group keeps its values exactly up to :data:`EXACT_LIMIT`; past that they move into a
DDSketch-style histogram (Masson et al., VLDB 2019): value ``x > 0`` falls into bucket
``ceil(log_gamma(x))`` with ``gamma = (1 + a) / (1 - a)``, and a bucket answers with
``2 gamma^i / (gamma + 1)``, which is within relative error ``a`` of every value in it.
Bucket counts add, so two sketches merge exactly. Durations of 1 ns .. 1 day span about
1,600 buckets at 1 %, so memory per group stays small whatever the number of spans.

Both modes answer the nearest-rank percentile: the value at rank ``ceil(q n)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

RELATIVE_ERROR = 0.01
EXACT_LIMIT = 2048
_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)


def _bucket(value: float) -> int:
    return math.ceil(math.log(value) / _LOG_GAMMA)


def _bucket_value(index: int) -> float:
    return 2 * _GAMMA**index / (_GAMMA + 1)


class LatencySketch:
    """Percentiles of non-negative values: exact up to ``exact_limit`` values (EXACT_LIMIT), else
    within RELATIVE_ERROR. Many small sketches (one per time bucket) take a lower limit to stay small
    (0: bucketed from the first value, as the long-lived Insights store's)."""

    __slots__ = ("_buckets", "_exact", "_zeros", "count", "exact_limit")

    def __init__(self, exact_limit: int = EXACT_LIMIT) -> None:
        self.exact_limit = exact_limit
        self.count = 0
        self._exact: list[float] | None = [] if exact_limit > 0 else None
        self._buckets: dict[int, int] = {}
        self._zeros = 0

    @property
    def is_exact(self) -> bool:
        return self._exact is not None

    def add(self, value: float) -> None:
        self.count += 1
        if self._exact is not None:
            self._exact.append(value)
            if len(self._exact) > self.exact_limit:
                values, self._exact = self._exact, None
                for item in values:
                    self._add_bucketed(item)
            return
        self._add_bucketed(value)

    def _add_bucketed(self, value: float) -> None:
        if value <= 0:
            self._zeros += 1
            return
        index = _bucket(value)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def merge(self, other: LatencySketch) -> None:
        """Add ``other``'s values to this sketch (exact stays exact while the sum allows)."""
        for value in other._exact or ():
            self.add(value)
        if other._exact is None:
            if self._exact is not None:
                values, self._exact = self._exact, None
                for item in values:
                    self._add_bucketed(item)
            for index, count in other._buckets.items():
                self._buckets[index] = self._buckets.get(index, 0) + count
            self._zeros += other._zeros
            self.count += other.count

    def _weighted(self) -> Iterator[tuple[float, int]]:
        """(value, count) pairs in ascending value order."""
        if self._exact is not None:
            for value in sorted(self._exact):
                yield value, 1
            return
        if self._zeros:
            yield 0.0, self._zeros
        for index in sorted(self._buckets):
            yield _bucket_value(index), self._buckets[index]

    def quantile(self, fraction: float) -> float | None:
        """Nearest-rank percentile (``fraction`` in 0..1); None for an empty sketch."""
        if not self.count:
            return None
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        value = 0.0
        for value, count in self._weighted():
            seen += count
            if seen >= rank:
                return value
        return value

    def quantiles(self, fractions: tuple[float, ...]) -> list[float | None]:
        return [self.quantile(fraction) for fraction in fractions]

    def bounds(self) -> tuple[float, float] | None:
        """(smallest, largest) positive value; None when there is none."""
        positive = [value for value, _ in self._weighted() if value > 0]
        return (min(positive), max(positive)) if positive else None

    def histogram(self, bins: int = 20, bounds: tuple[float, float] | None = None) -> list[tuple[float, float, int]]:
        """(low, high, count) over ``bins`` log-spaced ranges from the smallest to the largest value, or
        over ``bounds`` (so histograms side by side share their x range; values outside count at the ends)."""
        pairs = list(self._weighted())
        own = self.bounds()
        if own is None:
            return []
        low, high = bounds or own
        if high <= low:
            return [(low, high, sum(count for _, count in pairs))]
        step = math.log(high / low) / bins
        edges = [low * math.exp(step * i) for i in range(bins + 1)]
        counts = [0] * bins
        for value, count in pairs:
            position = 0 if value <= low else min(bins - 1, int(math.log(value / low) / step))
            counts[position] += count
        return [(edges[i], edges[i + 1], counts[i]) for i in range(bins)]
