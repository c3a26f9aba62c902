"""The load itself: ``users`` concurrent loops calling the target, each ``requests`` times or until
``duration_s`` has passed, started ``ramp_up_s / users`` apart, after ``warmup`` uncounted calls.

Async targets run on the event loop; sync ones on a thread pool with one thread per user. A call
that outlives ``timeout_s`` is counted as a timeout and abandoned (an async one is cancelled; a
thread cannot be, so it finishes in the background). A target's exception is an error, never the
runner's: outcomes are read from the finished future, no exception is caught around the target.
Latencies go into the report's :class:`~spanmeter.processing.sketch.LatencySketch` (exact up to a few
thousand requests), so long runs stay small.
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
class Tally:
    """What the measured requests did."""

    requests: int = 0
    errors: int = 0
    timeouts: int = 0
    latency: LatencySketch = dataclasses.field(default_factory=LatencySketch)
    latency_sum_s: float = 0.0
    busy_s: float = 0.0  # request time including timeouts' (up to the timeout): the time_share denominator
    error_types: dict[str, int] = dataclasses.field(default_factory=dict)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    interrupted: bool = False

    def record(self, seconds: float, error: BaseException | None, timed_out: bool) -> None:
        self.requests += 1
        self.busy_s += seconds
        if timed_out:
            self.timeouts += 1
            return
        self.latency.add(seconds)
        self.latency_sum_s += seconds
        if error is not None:
            self.errors += 1
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
