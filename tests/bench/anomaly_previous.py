"""spanmeter's anomaly detector as it was before the traffic corpus (issue 21), kept as the
baseline ``bench_anomaly_corpus.py`` compares against: a winsorized EWMA of log values
per (key, metric), flagged beyond 3 sigma, with a run rule that re-baselines a lasting
shift. It judged every span's raw latency, failures included.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from math import exp, inf, log

from spanmeter.processing.bounded import BoundedMap

METRICS: dict[str, tuple[float, float]] = {
    "latency": (1e-6, 1.0),
    "cost": (1e-9, 1.0),
    "tokens": (1.0, 1.0),
    "throughput": (1.0, -1.0),
}
"""Metric name -> (offset added before the log, +1 if high is anomalous / -1 if low is)."""

ALPHA = 0.02
"""EWMA weight once warmed up: an effective memory of ~50 samples."""
CLIP = 2.5
"""Residuals count at most CLIP sigma in the updates (winsorizing)."""
FLOOR = 0.1
"""Smallest sigma in log units (~10 % relative spread), so a near-constant series does not flag tiny noise."""
RUN_LENGTH = 6
RUN_BAND = 1.0
"""RUN_LENGTH consecutive residuals beyond RUN_BAND sigma on one side re-baseline the mean."""
_MAD_TO_SIGMA = 1.2533141373155001  # sqrt(pi / 2): sigma of a normal over its mean absolute deviation
_WARMUP = round(1 / ALPHA)
_DEV_FLOOR = FLOOR / _MAD_TO_SIGMA


class _Baseline:
    """One metric of one key: log-space mean, mean absolute deviation, current run."""

    __slots__ = ("dev", "mean", "n", "offset", "run", "run_sum", "sign")

    def __init__(self, x: float, offset: float, sign: float):
        self.n = 1
        self.mean = x
        self.dev = 0.0
        self.run = 0
        self.run_sum = 0.0
        self.offset = offset
        self.sign = sign

    def run_rule(self, x: float, s: float) -> None:
        """A lasting shift re-baselines the mean: called only for a residual beyond RUN_BAND
        sigma (``s`` standardized, ``x`` the log value), so most samples skip the call."""
        if s > 0.0:
            run = self.run + 1 if self.run > 0 else 1
        else:
            run = self.run - 1 if self.run < 0 else -1
        if run in {1, -1}:
            self.run_sum = x
        else:
            self.run_sum += x
            if run in {RUN_LENGTH, -RUN_LENGTH}:
                self.mean = self.run_sum / RUN_LENGTH
                run = 0
        self.run = run


class PreviousDetector:
    """Flags values far from their key's baseline; at most ``max_keys`` keys (LRU).

    ``evicted`` counts baselines dropped for a newer key: this table's only overflow,
    since a new key always gets a baseline of its own.
    """

    def __init__(self, sigma: float = 3.0, min_samples: int = 30, max_keys: int = 10_000):
        if sigma <= 0:
            raise ValueError("sigma must be > 0")
        if min_samples < 1:
            raise ValueError("min_samples must be >= 1")
        self.sigma = float(sigma)
        self.min_samples = int(min_samples)
        self._baselines = BoundedMap(max_keys)

    @property
    def evicted(self) -> int:
        return self._baselines.evicted

    def __len__(self) -> int:
        return len(self._baselines)

    def observe(
        self, key: Hashable, values: Mapping[str, float], baselines_out: dict[str, float] | None = None
    ) -> tuple[tuple[str, ...], float]:
        """Score ``values`` (metric -> value >= 0) against ``key``'s baselines, then learn them.

        Returns the metrics that fired and the largest score in the anomalous
        direction (0.0 when none is positive or no metric is warmed up yet). For each
        metric that fired, ``baselines_out`` (when given) receives the baseline it was
        judged against, in the value's own unit (the geometric centre, before learning).
        Negative or non-finite values carry no information and are skipped; an
        unknown metric name raises KeyError.
        """
        baselines = self._baselines
        per_metric = baselines.get(key)
        if per_metric is None:
            per_metric = {}
            baselines.put(key, per_metric)
        else:
            baselines.move_to_end(key)
        reasons: tuple[str, ...] = ()
        best = 0.0
        sigma = self.sigma
        min_samples = self.min_samples
        for metric, value in values.items():
            if not 0.0 <= value < inf:
                continue
            b = per_metric.get(metric)
            if b is None:
                offset, sign = METRICS[metric]
                per_metric[metric] = _Baseline(log(value + offset), offset, sign)
                continue
            x = log(value + b.offset)
            r = x - b.mean
            dev = b.dev
            scale = dev * _MAD_TO_SIGMA if dev > _DEV_FLOOR else FLOOR
            s = r / scale  # standardized residual
            n = b.n + 1
            b.n = n
            if n > min_samples:
                z = s * b.sign
                if z > sigma:
                    reasons += (metric,)
                    if baselines_out is not None:
                        baselines_out[metric] = exp(b.mean) - b.offset
                best = max(best, z)
            # winsorized EWMA update
            if s > CLIP:
                r = CLIP * scale
            elif s < -CLIP:
                r = -CLIP * scale
            a = ALPHA if n >= _WARMUP else 1.0 / n
            b.mean += a * r
            b.dev = dev + a * ((r if r >= 0.0 else -r) - dev)
            if s > RUN_BAND or s < -RUN_BAND:
                b.run_rule(x, s)
            else:
                b.run = 0
        return reasons, best
