"""The persistent queue (``sending_queue.storage: file_storage/x``): a batch is on disk before it is acknowledged.

One file per batch in ``<directory>/<exporter>/``, named by a sequence number, written
to a temporary name, fsynced and renamed (then the directory fsynced), so a file either
exists whole or not at all. Each file starts with a header (magic, signal, item count,
payload length, CRC-32 of the payload). On start every file is checked: a damaged one
(torn by a crash, or corrupted) is moved aside as ``*.corrupt`` with a log line and the
rest are replayed in order. Only names are kept in memory, so a long outage costs disk,
not RAM. A file is deleted when its batch was sent (or dropped for good).
"""

from __future__ import annotations

import collections
import logging
import os
import re
import struct
import threading
import zlib

from spanmeter.pipeline.queue import Batch
from spanmeter.pipeline.telemetry import log_event

_MAGIC = b"SMQ1"
_HEADER = struct.Struct("<4sBIQI")  # magic, signal, items, payload length, crc32
_SIGNALS = ("traces", "metrics", "logs")
_NAME = re.compile(r"^(\d{20})\.batch$")


class CorruptBatch(ValueError):
    pass


def _encode(batch: Batch) -> bytes:
    header = _HEADER.pack(_MAGIC, _SIGNALS.index(batch.signal), batch.items, len(batch.payload),
                          zlib.crc32(batch.payload))  # fmt: skip
    return header + batch.payload


def _decode(data: bytes, key: int) -> Batch:
    if len(data) < _HEADER.size:
        raise CorruptBatch(f"{len(data)} bytes, shorter than the header")
    magic, signal, items, length, crc = _HEADER.unpack_from(data)
    payload = data[_HEADER.size :]
    if magic != _MAGIC or signal >= len(_SIGNALS):
        raise CorruptBatch("not a spanmeter queue file")
    if len(payload) != length:
        raise CorruptBatch(f"payload of {len(payload)} bytes, header says {length} (torn write)")
    if zlib.crc32(payload) != crc:
        raise CorruptBatch("checksum mismatch")
    return Batch(_SIGNALS[signal], payload, items, key)


class FileQueue:
    def __init__(self, directory: str, capacity: int, fsync: bool = True):
        self.directory = directory
        self.capacity = capacity
        self.fsync = fsync
        os.makedirs(directory, exist_ok=True)
        self._keys: collections.deque[int] = collections.deque()
        self._ready = threading.Condition()
        self._in_flight = 0
        self._next = 0
        self.replayed = self.corrupt = 0
        self._recover()

    def _path(self, key: int) -> str:
        return os.path.join(self.directory, f"{key:020d}.batch")

    def _recover(self) -> None:
        """Queue the batches left by an earlier run; set the damaged ones aside, logged."""
        keys = sorted(int(m.group(1)) for name in os.listdir(self.directory) if (m := _NAME.match(name)))
        for key in keys:
            try:
                with open(self._path(key), "rb") as file:
                    _decode(file.read(), key)
            except (OSError, CorruptBatch) as exc:
                self._set_aside(key, exc)
                continue
            self._keys.append(key)
        self.replayed = len(self._keys)
        self._next = (keys[-1] + 1) if keys else 0
        for name in os.listdir(self.directory):
            if name.endswith(".tmp"):  # a write that never finished: its batch was never acknowledged
                os.unlink(os.path.join(self.directory, name))

    def _set_aside(self, key: int, reason: Exception) -> None:
        """Keep a damaged file for inspection as ``*.corrupt``, out of the queue, with one log line."""
        self.corrupt += 1
        path = self._path(key)
        try:
            os.replace(path, path + ".corrupt")
        except FileNotFoundError:
            pass
        log_event("queue_file_corrupt", logging.WARNING, file=path, reason=str(reason))

    def put(self, batch: Batch) -> bool:
        with self._ready:
            if len(self._keys) >= self.capacity:
                return False
            key = self._next
            self._next += 1
        path = self._path(key)
        with open(path + ".tmp", "wb") as file:
            file.write(_encode(batch))
            if self.fsync:
                file.flush()
                os.fsync(file.fileno())
        os.replace(path + ".tmp", path)
        if self.fsync:
            self._sync_directory()
        with self._ready:
            self._keys.append(key)
            self._ready.notify()
        return True

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def get(self, timeout: float) -> Batch | None:
        with self._ready:
            if not self._keys and not self._ready.wait(timeout):
                return None
            if not self._keys:
                return None
            key = self._keys.popleft()
            self._in_flight += 1
        try:
            with open(self._path(key), "rb") as file:
                return _decode(file.read(), key)
        except (OSError, CorruptBatch) as exc:
            self._set_aside(key, exc)
            with self._ready:
                self._in_flight -= 1
            return None

    def ack(self, batch: Batch) -> None:
        """The batch is done (sent, or dropped for good): delete its file."""
        try:
            os.unlink(self._path(batch.key))
        except FileNotFoundError:
            pass
        with self._ready:
            self._in_flight -= 1

    def keep(self, batch: Batch) -> bool:
        """A batch taken but not sent at stop: its file stays, so the next start replays it."""
        with self._ready:
            self._in_flight -= 1
        return True

    def size(self) -> int:
        return len(self._keys)

    def pending(self) -> int:
        with self._ready:
            return len(self._keys) + self._in_flight

    def has_room(self) -> bool:
        return len(self._keys) < self.capacity

    def discard(self) -> list[Batch]:
        """Nothing is lost at stop: queued batches stay on disk for the next start (``size`` counts them)."""
        return []
