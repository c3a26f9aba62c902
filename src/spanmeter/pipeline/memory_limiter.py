"""The ``memory_limiter`` processor, with the Collector's meaning: every ``check_interval`` the
process's resident memory is measured; above the soft limit (``limit - spike``) receivers refuse
data with the retryable answer (gRPC ``UNAVAILABLE``, HTTP 503) until a reading falls below it
again; above the hard limit a garbage collection is forced too. One instance per name, shared by
the pipelines that list it (as the Collector shares it), checked before a request is processed.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable

from spanmeter.pipeline.config import MemoryLimit
from spanmeter.pipeline.telemetry import log_event

_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    """The process's resident set size (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


class MemoryLimiter:
    def __init__(self, name: str, limit: MemoryLimit, read: Callable[[], int] = resident_bytes):
        self.name, self.limit, self.read_memory = name, limit, read
        self.soft_bytes = limit.limit_bytes - limit.spike_bytes
        self.refusing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        """One reading: refuse above the soft limit, accept again below it (one event per change)."""
        used = self.read_memory()
        if used > self.limit.limit_bytes:
            gc.collect()
            used = self.read_memory()
        refusing = used > self.soft_bytes
        if refusing != self.refusing:
            self.refusing = refusing
            log_event("memory_limit_exceeded" if refusing else "memory_limit_ok",
                      logging.WARNING if refusing else logging.INFO, processor=self.name, used_bytes=used,
                      soft_limit_bytes=self.soft_bytes, limit_bytes=self.limit.limit_bytes)  # fmt: skip

    def start(self) -> None:
        self.check()
        self._thread = threading.Thread(target=self._run, name=f"spanmeter-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.limit.check_interval):
            self.check()

    def stop(self) -> None:
        self._stop.set()
