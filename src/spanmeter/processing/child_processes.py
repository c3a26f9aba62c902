"""Spans of child processes leave before the child does; spans of the parent never leave twice.

A ``multiprocessing`` child started by fork ends with ``os._exit``: no ``atexit`` handler
runs, so whatever its batch queue held was lost. A pool worker is killed by SIGTERM when
the pool is terminated (``with Pool() as pool:`` does that), whatever the start method.
So, for every SpanmeterProcessor (:func:`watch`):

* after a fork, in the child, a ``multiprocessing`` exit finalizer is armed (through
  ``multiprocessing.util.register_after_fork``, because a ``Process`` clears the
  finalizers it inherited when it starts) that flushes spans and metrics when the
  child's work is done;
* a pool worker flushes before it hands each result back (its ``outqueue.put``), so a
  ``terminate()`` that follows the last result finds nothing left to lose. Only when
  spans are queued or being exported: a task that made none pays a length check;
* every flush here runs on a daemon thread joined for at most
  :data:`CHILD_FLUSH_TIMEOUT_S`, so a stuck exporter delays a child's exit by that much
  at most.

Spawned children run ``opentelemetry-instrument``'s set-up again and flush at their
normal exit (the TracerProvider's ``atexit``); their pool workers take the per-result
flush above. A span that was already open in the parent when the process forked (e.g. a
``spanmeter.workflow`` around the fork) and ends in the child is not exported by the
child: the parent exports it. "Open in the parent" is told by time: a span whose start
time is before the fork. (A span given an explicit start time before the fork, in the
child, is dropped too; nothing in spanmeter does that.)
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry import metrics

from spanmeter.internal_errors import guard
from spanmeter.on_import import patch_on_import

CHILD_FLUSH_TIMEOUT_S = 5.0
_PATCHED = "_spanmeter_flushes_results"
_EXIT_PRIORITY = -10  # after the app's own multiprocessing finalizers (priority >= 0)

_processors: weakref.WeakSet = weakref.WeakSet()
_lock = threading.Lock()
_hooked = False
_guard = guard("processing.child_processes")
forked_at_ns = 0  # when this process was forked (0: not a fork child); spans started before are the parent's


def watch(processor: Any) -> None:
    """Flush ``processor`` when a child process's work ends (see the module docstring)."""
    global _hooked
    with _lock:
        _processors.add(processor)
        if _hooked:
            return
        _hooked = True
    if hasattr(os, "register_at_fork"):  # POSIX; elsewhere children are spawned and exit normally
        os.register_at_fork(after_in_child=_after_fork_in_child)
    patch_on_import("multiprocessing.pool", _patch_pool)


def started_in_parent(start_time_ns: int | None) -> bool:
    """True for a span that began before this process was forked from its parent."""
    return forked_at_ns != 0 and start_time_ns is not None and start_time_ns < forked_at_ns


def flush_all(timeout_s: float = CHILD_FLUSH_TIMEOUT_S) -> None:
    """Flush every watched processor, then the global MeterProvider, waiting at most ``timeout_s``."""

    def flush() -> None:
        with _guard:
            for processor in list(_processors):
                processor.force_flush(int(timeout_s * 1000))
            force_flush = getattr(metrics.get_meter_provider(), "force_flush", None)
            if force_flush is not None:
                force_flush(int(timeout_s * 1000))

    worker = threading.Thread(target=flush, name="spanmeter-child-flush", daemon=True)
    worker.start()
    worker.join(timeout_s)


def _after_fork_in_child() -> None:
    global forked_at_ns
    forked_at_ns = time.time_ns()
    for processor in list(_processors):
        processor.reinit_after_fork()
    util = sys.modules.get("multiprocessing.util")
    if util is not None:  # a multiprocessing child: arm the exit flush once its Process has started
        util.register_after_fork(_ARM, _arm_exit_flush)


class _Arm:
    """A weak-referenceable key for multiprocessing's after-fork registry."""


_ARM = _Arm()


def _arm_exit_flush(_key: Any) -> None:
    from multiprocessing import util

    util.Finalize(None, flush_all, exitpriority=_EXIT_PRIORITY)


def _holding_spans() -> bool:
    return any(processor.holds_spans() for processor in list(_processors))


class _FlushingResults:
    """A pool worker's result queue that flushes spans before each result goes back to the parent."""

    def __init__(self, queue: Any, flush: Callable[[], None]):
        self._queue, self._flush = queue, flush

    def put(self, item: Any) -> None:
        if _holding_spans():
            self._flush()
        self._queue.put(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


def _patch_pool(pool_module: Any) -> None:
    """Replace ``multiprocessing.pool.worker`` by a plain function under the same name (not a
    wrapt proxy: spawn pickles a pool's Process target by module and name, and a proxy does
    not pickle; the spawned child's own spanmeter patches its copy the same way)."""
    original = pool_module.worker
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def worker(inqueue: Any, outqueue: Any, *args: Any, **kwargs: Any) -> Any:
        # ThreadPool's workers are threads of this process: nothing to flush at their hand-over.
        if threading.current_thread() is threading.main_thread():
            outqueue = _FlushingResults(outqueue, flush_all)
        return original(inqueue, outqueue, *args, **kwargs)

    setattr(worker, _PATCHED, True)
    pool_module.worker = worker
