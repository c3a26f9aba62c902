"""The load itself: ``users`` concurrent loops calling the target, each ``requests`` times or until
``duration_s`` has passed, started ``ramp_up_s / users`` apart, after ``warmup`` uncounted calls.

Async targets run on the event loop; sync ones on a thread pool with one thread per user. A call
that outlives ``timeout_s`` is counted as a timeout and abandoned (an async one is cancelled; a
thread cannot be, so it finishes in the background). A target's exception is an error, never the
runner's: outcomes are read from the finished future, no exception is caught around the target.
Latencies go into the report's :class:`~spanmeter.processing.sketch.LatencySketch` (exact up to a few
thousand requests), so long runs stay small; each request also lands in a :class:`Timeline` bucket (by its
end), sized as the report sizes its time buckets, for the live progress and the HTML page's charts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import itertools
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from spanmeter.processing.sketch import LatencySketch
from spanmeter.report.analysis import BUCKET_EXACT_LIMIT, MAX_TIME_BUCKETS, TIME_WIDTHS_S

DEFAULT_TIMEOUT_S = 30.0
_NO_INPUT = object()


@dataclasses.dataclass(frozen=True)
class Scenario:
    users: int = 1
    requests: int | None = 10  # per user; None with a duration
    duration_s: float | None = None
    warmup: int = 0
    ramp_up_s: float = 0.0
    timeout_s: float = DEFAULT_TIMEOUT_S
    inputs: tuple[Any, ...] = ()


@dataclasses.dataclass
class TimeBucket:
    """The requests that ended in one time bucket."""

    requests: int = 0
    errors: int = 0
    timeouts: int = 0
    latency: LatencySketch = dataclasses.field(default_factory=lambda: LatencySketch(BUCKET_EXACT_LIMIT))

    def merge(self, other: TimeBucket) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.timeouts += other.timeouts
        self.latency.merge(other.latency)


class Timeline:
    """Requests per time bucket (by end time, buckets at multiples of their width since the epoch):
    the narrowest of the report's widths that keeps the run within its MAX_TIME_BUCKETS, so a 40 s
    run gets 1 s buckets and an hour 30 s ones, and a long run stays small."""

    def __init__(self) -> None:
        self.width_index = 0
        self.buckets: dict[int, TimeBucket] = {}

    @property
    def bucket_s(self) -> int:
        return TIME_WIDTHS_S[self.width_index]

    def bucket(self, end_ns: int) -> TimeBucket:
        index = end_ns // (self.bucket_s * 10**9)
        found = self.buckets.get(index)
        if found is None:
            found = self.buckets[index] = TimeBucket()
            if max(self.buckets) - min(self.buckets) >= MAX_TIME_BUCKETS and self.width_index < len(TIME_WIDTHS_S) - 1:
                self._widen()
                return self.bucket(end_ns)
        return found

    def _widen(self) -> None:
        ratio = TIME_WIDTHS_S[self.width_index + 1] // TIME_WIDTHS_S[self.width_index]
        merged: dict[int, TimeBucket] = {}
        for index, bucket in self.buckets.items():
            if index // ratio in merged:
                merged[index // ratio].merge(bucket)
            else:
                merged[index // ratio] = bucket
        self.buckets, self.width_index = merged, self.width_index + 1

    def to_json(self) -> dict[str, Any]:
        """Every bucket from the first to the last (empty ones included, so a chart's x axis is time)."""
        rows = []
        for index in range(min(self.buckets, default=0), max(self.buckets, default=-1) + 1):
            bucket = self.buckets.get(index) or TimeBucket()
            p50, p95 = bucket.latency.quantiles((0.5, 0.95))
            rows.append({"start_unix_nano": index * self.bucket_s * 10**9, "requests": bucket.requests,
                         "errors": bucket.errors, "timeouts": bucket.timeouts, "p50_s": p50, "p95_s": p95})  # fmt: skip
        return {"bucket_s": self.bucket_s, "buckets": rows}


@dataclasses.dataclass
class Tally:
    """What the measured requests did."""

    requests: int = 0
    errors: int = 0
    timeouts: int = 0
    latency: LatencySketch = dataclasses.field(default_factory=LatencySketch)
    latency_sum_s: float = 0.0
    busy_s: float = 0.0  # request time including timeouts' (up to the timeout): the time_share denominator
    error_types: dict[str, int] = dataclasses.field(default_factory=dict)
    timeline: Timeline = dataclasses.field(default_factory=Timeline)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    interrupted: bool = False

    def record(self, seconds: float, error: BaseException | None, timed_out: bool, end_ns: int | None = None) -> None:
        """One measured request, ended at ``end_ns`` (epoch ns; now when not given)."""
        self.requests += 1
        self.busy_s += seconds
        bucket = self.timeline.bucket(time.time_ns() if end_ns is None else end_ns)
        bucket.requests += 1
        if timed_out:
            self.timeouts += 1
            bucket.timeouts += 1
            return
        self.latency.add(seconds)
        bucket.latency.add(seconds)
        self.latency_sum_s += seconds
        if error is not None:
            self.errors += 1
            bucket.errors += 1
            name = type(error).__qualname__
            self.error_types[name] = self.error_types.get(name, 0) + 1


def load_target(spec: str) -> Callable[..., Any]:
    """``module:function`` (``module:Class.method`` too), importable from the current directory."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{spec!r}: expected module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{spec}: {type(target).__name__} is not callable")
    return target


class Runner:
    """Runs a scenario against a target: ``after_warmup()`` once the warm-up calls are done (span totals
    are reset there), ``on_done(tally)`` after each measured request (the progress bar)."""

    def __init__(self, target: Callable[..., Any], scenario: Scenario, on_done: Callable[[Tally], None] | None = None,
                 after_warmup: Callable[[], None] | None = None):  # fmt: skip
        self.target, self.scenario = target, scenario
        self.on_done = on_done or (lambda tally: None)
        self.after_warmup = after_warmup or (lambda: None)
        self.is_async = inspect.iscoroutinefunction(target)
        self.tally = Tally()
        self._inputs = itertools.cycle(scenario.inputs) if scenario.inputs else None
        self._executor = None if self.is_async else ThreadPoolExecutor(max_workers=scenario.users + 1,
                                                                        thread_name_prefix="bench")  # fmt: skip
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """End the run early (Ctrl-C): in-flight requests are abandoned, what finished is reported."""
        self.tally.interrupted = True
        self._stop.set()

    def _start(self) -> asyncio.Future:
        argument = next(self._inputs) if self._inputs is not None else _NO_INPUT
        args = () if argument is _NO_INPUT else (argument,)
        if self.is_async:
            return asyncio.ensure_future(self.target(*args))
        return asyncio.get_running_loop().run_in_executor(self._executor, lambda: self.target(*args))

    async def _request(self) -> tuple[float, BaseException | None, bool] | None:
        """(seconds, the target's exception, timed out), or None when the run was stopped meanwhile."""
        started = time.perf_counter()
        future = self._start()
        stopped = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait({future, stopped}, timeout=self.scenario.timeout_s,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        stopped.cancel()
        seconds = time.perf_counter() - started
        if future not in done:
            future.cancel()
            return None if self._stop.is_set() else (seconds, None, True)
        return seconds, (None if future.cancelled() else future.exception()), False

    async def _user(self, index: int, deadline: float | None) -> None:
        if self.scenario.ramp_up_s and self.scenario.users > 1:
            delay = self.scenario.ramp_up_s * index / self.scenario.users
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return
            except TimeoutError:
                pass
        done = 0
        while not self._stop.is_set():
            if self.scenario.requests is not None and done >= self.scenario.requests:
                return
            if deadline is not None and time.monotonic() >= deadline:
                return
            outcome = await self._request()
            if outcome is None:
                return
            self.tally.record(*outcome)
            done += 1
            self.on_done(self.tally)

    async def run(self) -> Tally:
        for _ in range(self.scenario.warmup):
            if self._stop.is_set() or await self._request() is None:
                break
        if self._stop.is_set():
            return self.tally
        self.after_warmup()
        wall, cpu = time.perf_counter(), time.process_time()
        deadline = time.monotonic() + self.scenario.duration_s if self.scenario.duration_s else None
        await asyncio.gather(*(self._user(index, deadline) for index in range(self.scenario.users)))
        self.tally.wall_s, self.tally.cpu_s = time.perf_counter() - wall, time.process_time() - cpu
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        return self.tally
