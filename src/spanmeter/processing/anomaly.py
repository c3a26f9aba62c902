"""Anomaly flags: a streaming, outlier-resistant baseline per (key, metric).

Per key (service, span name, model) and per metric (latency, tokens, calls, throughput;
cost for :meth:`AnomalyDetector.observe`) the detector keeps a handful of numbers in log
space (an offset before the log keeps zeros finite: 1 µs, 1e-9 USD, 1 token, 1 call, 1 B/s):

- two quantiles of the key's own values, the 75th and the 95th, tracked by stochastic
  approximation (a step up or down per sample, sized by their spread). Their distance
  gives the spread ``s`` (in sigmas of a normal: ``(q95 - q75) / 0.97``, at least
  ``FLOOR``) and the centre ``c = q75 - 0.674 s``. The quantiles follow the upper side of
  the key's own distribution, so a heavy right tail (scheduler waits) or a second mode
  (cache misses) widens ``s`` instead of raising alarms, and 1 % of spikes barely moves them;
- for the first ``WARMUP`` samples the quantiles are exact, from those samples (kept until
  then: memory per key stays bounded);
- a CUSUM of the standardized residuals above the centre: a lasting upward shift adds up
  within a few samples, moves the quantiles to its level, and flags the span that
  confirmed it when that level is ``MIN_SHIFT_RATIO`` times the old centre; a downward
  change is left to the quantiles (a cache hit far below a miss must not pull them down).

A value scores ``z = (x - c) / s`` in the direction that hurts (slow, token-hungry,
looping; for throughput, low). It is flagged once its key's metric has more than
``min_samples`` samples (until then the key is quiet and says so), when ``z > sigma``
and the effect matters: ``MIN_RATIO`` times the baseline or more and, per metric, at
least ``MIN_EFFECT`` away from it (50 ms of latency: a 5 ms tool's jitter is never an
incident).

What a span is judged on is :meth:`AnomalyDetector.observe_span`'s: failures feed no
latency baseline; an LLM call's latency is relative to what its output tokens predict (a
least-squares line per key over ~100 recent calls, fed values winsorized at 3x its
prediction), and a streamed call's first chunk is judged on its own; a span that made
calls is judged by its own time and by how many calls it made.

Why, in figures: ``python tests/bench/bench_anomaly_corpus.py`` (a labelled corpus of
agent traffic: jitter, cache hits and misses, long answers, cold starts, rate changes,
error bursts, a level shift, low-volume keys) prints precision, recall, false-positive
rate, samples to flag and to quiet a shift, and alerts on healthy traffic, for this
detector, the previous one and the recipes' mean + 3 sigma, and runs the same spans
through the in-process processor and the pipeline.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Hashable, Mapping
from math import exp, inf, log

from spanmeter.processing.bounded import BoundedMap

METRICS: dict[str, tuple[float, float]] = {
    "latency": (1e-6, 1.0),
    "cost": (1e-9, 1.0),
    "tokens": (1.0, 1.0),
    "calls": (1.0, 1.0),
    "throughput": (1.0, -1.0),
}
"""Metric name -> (offset added before the log, +1 if high is anomalous / -1 if low is)."""
MIN_RATIO = 2.5
"""A flagged value is at least this many times its baseline (for throughput: this many times lower)."""
MIN_SHIFT_RATIO = 1.5
"""A lasting shift is flagged when the values that confirmed it average this many times the old baseline."""
MIN_EFFECT = {"latency": 0.05, "cost": 0.001, "tokens": 50.0, "calls": 3.0, "throughput": 0.0}
"""Smallest absolute difference from the baseline worth a flag, per metric (s, USD, tokens, calls, B/s)."""
WARMUP = 20
"""Samples whose exact quantiles start a baseline before the stochastic approximation takes over."""
ETA = 0.05
"""Quantile step per sample, as a fraction of the spread: a memory of ~60 (q75) to ~200 (q95) samples."""
FLOOR = 0.1
"""Smallest spread in log units (~10 %), so a near-constant series does not flag tiny noise."""
CUSUM_K = 1.0
CUSUM_H = 8.0
"""CUSUM allowance and decision level, in spreads; a residual counts at most CUSUM_CLIP."""
CUSUM_CLIP = 4.0
_Z75, _Z95 = 0.6744897501960817, 1.6448536269514722  # standard normal quantiles
_SPAN = _Z95 - _Z75
_SPREAD_FLOOR = FLOOR * _SPAN
_TOKEN_ALPHA = 0.01
_TOKEN_WARMUP = 10
_FIRST_CHUNK = "first_chunk"
_LOG_MIN_RATIO = log(MIN_RATIO)
_LOG_MIN_SHIFT_RATIO = log(MIN_SHIFT_RATIO)


class _Baseline:
    """One metric of one key: the two quantiles, the CUSUMs, and while warming up its first values."""

    __slots__ = ("first", "hi", "lo", "min_effect", "n", "offset", "run", "run_sum", "sign", "up")

    def __init__(self, x: float, offset: float, sign: float, min_effect: float):
        self.n = 1
        self.lo = self.hi = x
        self.first: list[float] | None = [x]
        self.up = self.run_sum = 0.0
        self.run = 0
        self.offset = offset
        self.sign = sign
        self.min_effect = min_effect

    def warm(self, x: float) -> None:
        """The quantiles of the first values, exactly; after WARMUP values they are dropped."""
        first = self.first
        insort(first, x)
        self.lo, self.hi = _quantile(first, 0.75), _quantile(first, 0.95)
        if len(first) >= WARMUP:
            self.first = None

    def shift(self, z: float, x: float) -> float | None:
        """The CUSUM of upward residuals: once it passes CUSUM_H, the quantiles move to the
        level of the values that built it up, and that level is returned (else None).
        Downward changes are left to the quantiles (a cache hit far below a miss must not
        pull the baseline down)."""
        up = self.up + min(z, CUSUM_CLIP) - CUSUM_K
        if up <= 0.0:
            self.up = self.run_sum = 0.0
            self.run = 0
            return None
        self.run += 1
        self.run_sum += x
        if up < CUSUM_H:
            self.up = up
            return None
        level = self.run_sum / self.run
        delta = level - (self.lo - _Z75 * (self.hi - self.lo) / _SPAN)  # the centre, as _flag has it
        self.lo += delta
        self.hi += delta
        self.up = self.run_sum = 0.0
        self.run = 0
        return level


def _quantile(ordered: list[float], p: float) -> float:
    at = p * (len(ordered) - 1)
    i = int(at)
    return ordered[i] + (ordered[i + 1] - ordered[i]) * (at - i) if i + 1 < len(ordered) else ordered[i]


class _TokenLine:
    """Latency (or latency after the first chunk) predicted from output tokens: a least-squares
    line over recent calls, fed values winsorized at 3x its prediction."""

    __slots__ = ("mx", "mxx", "mxy", "my", "n")

    def __init__(self) -> None:
        self.n = 0
        self.mx = self.my = self.mxx = self.mxy = 0.0

    def predict_and_learn(self, tokens: float, seconds: float) -> float:
        """The seconds predicted for ``tokens`` before learning this call (the call's own
        seconds while the line is empty)."""
        n = self.n
        if n:
            var = self.mxx - self.mx * self.mx
            slope = max((self.mxy - self.mx * self.my) / var if var > 1e-9 else 0.0, 0.0)
            predicted = max(max(self.my - slope * self.mx, 0.0) + slope * tokens, 1e-4)
        else:
            predicted = max(seconds, 1e-4)
        n = self.n = n + 1
        if n > _TOKEN_WARMUP and seconds > 3.0 * predicted:
            seconds = 3.0 * predicted
        a = 1.0 / n if n * _TOKEN_ALPHA < 1.0 else _TOKEN_ALPHA
        self.mx += a * (tokens - self.mx)
        self.my += a * (seconds - self.my)
        self.mxx += a * (tokens * tokens - self.mxx)
        self.mxy += a * (tokens * seconds - self.mxy)
        return predicted


_NO_CALLS = (0, 0.0)
Verdict = tuple[tuple[str, ...], float, dict[str, tuple[float, float]]]
"""(metrics that fired, the top one first; the largest score; per fired metric (value, baseline) in its unit)."""


class AnomalyDetector:
    """Flags values far from their key's baseline; at most ``max_keys`` keys (LRU).

    Three bounded tables, their drops in :meth:`overflow_counts`: baselines (``evicted``: a
    new key always gets one, the least recently used goes), the calls seen below spans that
    have not ended yet, and the traces that already had a flagged span (``max_spans`` each).
    """

    def __init__(self, sigma: float = 3.0, min_samples: int = 30, max_keys: int = 10_000, max_spans: int = 100_000):
        if sigma <= 0:
            raise ValueError("sigma must be > 0")
        if min_samples < 1:
            raise ValueError("min_samples must be >= 1")
        self.sigma = float(sigma)
        self.min_samples = int(min_samples)
        self._baselines = BoundedMap(max_keys)
        self._calls = BoundedMap(max_spans)
        self._traces = BoundedMap(max_spans)

    def overflow_counts(self) -> dict[str, int]:
        """Entries dropped per bounded table: baselines, open parents' calls, flagged traces."""
        return {
            "anomaly_baselines": self._baselines.evicted,
            "anomaly_calls": self._calls.evicted,
            "anomaly_traces": self._traces.evicted,
        }

    def calls_below(self, span_id: Hashable, parent_id: Hashable | None, duration_s: float) -> tuple[int, float]:
        """(calls, seconds) of the work spans that ended directly below ``span_id``, and this
        span recorded under its parent (children end before their parent)."""
        calls = self._calls.pop(span_id, _NO_CALLS)
        if parent_id:
            found = self._calls.get(parent_id)
            self._calls.put(parent_id, (found[0] + 1, found[1] + duration_s) if found else (1, duration_s))
        return calls

    def first_in_trace(self, trace_id: Hashable) -> bool:
        """True for the first flagged span of a trace (its incident), False for the others."""
        if trace_id in self._traces:
            self._traces.move_to_end(trace_id)
            return False
        self._traces.put(trace_id, True)
        return True

    @property
    def evicted(self) -> int:
        return self._baselines.evicted

    def __len__(self) -> int:
        return len(self._baselines)

    def _state(self, key: Hashable) -> dict:
        baselines = self._baselines
        state = baselines.get(key)
        if state is None:
            state = {}
            baselines.put(key, state)
        else:
            baselines.move_to_end(key)
        return state

    def observe(
        self, key: Hashable, values: Mapping[str, float], baselines_out: dict[str, float] | None = None
    ) -> tuple[tuple[str, ...], float]:
        """Score ``values`` (metric -> value >= 0) against ``key``'s baselines, then learn them.

        Returns the metrics that fired and the largest score in the anomalous direction
        (0.0 when none is positive or no metric is warmed up yet). For each metric that
        fired, ``baselines_out`` (when given) receives the baseline it was judged against,
        in the value's own unit. Negative or non-finite values carry no information and
        are skipped; an unknown metric name raises KeyError.
        """
        state = self._state(key)
        reasons: tuple[str, ...] = ()
        best = 0.0
        for metric, value in values.items():
            if metric not in METRICS:
                raise KeyError(metric)
            fired, z, baseline = self._judge(state, metric, value, 1.0)
            best = max(best, z)
            if fired:
                reasons += (metric,)
                if baselines_out is not None:
                    baselines_out[metric] = baseline
        return reasons, best

    def observe_span(
        self,
        key: Hashable,
        duration_s: float,
        *,
        failed: bool = False,
        output_tokens: int | None = None,
        first_chunk_s: float | None = None,
        input_tokens: int | None = None,
        calls: int = 0,
        calls_s: float = 0.0,
        throughput: float | None = None,
    ) -> Verdict:
        """Judge one span, then learn from it.

        - latency, unless the span ``failed``: an LLM call's relative to its output tokens;
          a span that made ``calls`` (work spans directly below it, taking ``calls_s``
          together) by its own time, ``duration_s - calls_s``: a slow call below it is that
          call's anomaly, not its caller's;
        - tokens: the prompt's ``input_tokens`` (a blow-up); output tokens are the answer's
          length, judged through latency;
        - calls: how many calls it made (a runaway agent loop);
        - throughput (low is anomalous).

        Cost is not judged of its own: it follows tokens and calls. The verdict's score is
        -1.0 when nothing could be judged because the key is still warming up."""
        state = self._state(key)
        if failed or duration_s < 0.0:
            reasons, best, found = (), 0.0, {}
        elif output_tokens:
            reasons, best, found = self._llm_latency(state, duration_s, float(output_tokens), first_chunk_s)
        else:
            own = duration_s - calls_s if duration_s > calls_s else 0.0
            fired, best, baseline = self._judge(state, "latency", own, 1.0)
            reasons, found = (("latency",), {"latency": (duration_s, calls_s + baseline)}) if fired else ((), {})
        if input_tokens is None and not calls and throughput is None:
            return reasons, best, found
        return self._counts(state, (reasons, best, found), input_tokens, calls, throughput)

    def _counts(
        self, state: dict, verdict: Verdict, input_tokens: int | None, calls: int, throughput: float | None
    ) -> Verdict:
        """``verdict`` (latency's) with tokens, calls and throughput judged too; the top reason first."""
        if input_tokens is not None:
            verdict = self._also(state, verdict, "tokens", input_tokens)
        if calls:
            verdict = self._also(state, verdict, "calls", calls)
        if throughput is not None:
            verdict = self._also(state, verdict, "throughput", throughput)
        return verdict

    def _also(self, state: dict, verdict: Verdict, metric: str, value: float) -> Verdict:
        """``verdict`` with ``metric`` judged too: the reason with the larger score first."""
        reasons, best, found = verdict
        fired, z, baseline = self._judge(state, metric, value, 1.0)
        if fired:
            reasons = (*reasons, metric) if z <= best else (metric, *reasons)
            found[metric] = (value, baseline)
        return reasons, max(best, z), found

    def _llm_latency(
        self, state: dict, duration_s: float, output_tokens: float, first_chunk_s: float | None
    ) -> Verdict:
        """An LLM call's latency judged as latency / what its output tokens predict; with a
        recorded first chunk, the first chunk against its own baseline and the rest against
        the line. A slow first chunk reports the latency the call would have had with a usual one."""
        line = state.get(_TokenLine)
        if line is None:
            line = state[_TokenLine] = _TokenLine()
        if first_chunk_s is None or not 0.0 <= first_chunk_s <= duration_s:
            predicted = line.predict_and_learn(output_tokens, duration_s)
            fired, z, baseline = self._judge(state, "latency", duration_s / predicted, predicted)
            return (("latency",), z, {"latency": (duration_s, baseline)}) if fired else ((), z, {})
        rest = duration_s - first_chunk_s
        predicted = line.predict_and_learn(output_tokens, rest)
        fired, z, baseline = self._judge(state, "latency", rest / predicted, predicted)
        first_fired, first_z, first_baseline = self._judge(state, _FIRST_CHUNK, first_chunk_s, 1.0)
        if first_fired and (not fired or first_z > z):
            return ("latency",), first_z, {"latency": (duration_s, duration_s - first_chunk_s + first_baseline)}
        if fired:
            return ("latency",), z, {"latency": (duration_s, first_chunk_s + baseline)}
        return (), max(z, first_z), {}

    def _judge(self, state: dict, metric: str, value: float, scale: float) -> tuple[bool, float, float]:
        """(fired, score, baseline in the value's unit x ``scale``) for one value, then learn it.
        The score is -1.0 while the key's metric is warming up."""
        if not 0.0 <= value < inf:
            return False, 0.0, 0.0
        b = state.get(metric)
        if b is None:
            offset, sign = METRICS["latency" if metric == _FIRST_CHUNK else metric]
            min_effect = MIN_EFFECT["latency" if metric == _FIRST_CHUNK else metric]
            state[metric] = _Baseline(sign * log(value + offset), offset, sign, min_effect)
            return False, -1.0, 0.0
        x = b.sign * log(value + b.offset)
        lo, hi = b.lo, b.hi
        actual = hi - lo
        spread = max(actual, _SPREAD_FLOOR)
        z = ((x - lo) * _SPAN + _Z75 * actual) / spread  # (x - centre) / s: see _flag for the centre
        n = b.n = b.n + 1
        level = None
        if n <= WARMUP:
            b.warm(x)
        else:
            if z > CUSUM_K or b.up:
                level = b.shift(z, x)
            step = ETA * spread
            if x > hi:
                b.hi += step * 0.95
            else:
                b.hi -= step * 0.05
            if x > lo:
                b.lo += step * 0.75
            else:
                b.lo -= step * 0.25
        if n <= self.min_samples:
            return False, -1.0, 0.0
        if z > self.sigma:
            verdict = self._flag(b, x, lo, actual, scale, _LOG_MIN_RATIO, z)
            if verdict[0] or level is None:
                return verdict
        if level is not None:  # a lasting shift confirmed: judged by the level of the run that built it
            return self._flag(b, level, lo, actual, scale, _LOG_MIN_SHIFT_RATIO, z)
        return False, max(0.0, z), 0.0

    @staticmethod
    def _flag(b: _Baseline, judged: float, lo: float, spread: float, scale: float, log_ratio: float, z: float):
        """(fired, score, baseline in the value's unit): ``judged`` (the value, or the level of
        the run that confirmed a shift) must differ from the centre by the minimum effect. The
        centre is where a normal with these quantiles has its median, ``q75 - 0.674 s`` (the
        spread unfloored: a constant series' centre is its value)."""
        c = lo - _Z75 * spread / _SPAN
        baseline = (exp(b.sign * c) - b.offset) * scale
        value = (exp(b.sign * judged) - b.offset) * scale
        fired = judged - c >= log_ratio and b.sign * (value - baseline) >= b.min_effect
        return fired, z, baseline
