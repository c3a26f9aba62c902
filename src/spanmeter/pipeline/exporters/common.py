"""What every exporter kind shares: its config's common part, the answer to a send, the registry row.

Every kind's config carries its name, its kind and the Collector's exporterhelper settings
(``retry_on_failure``, ``sending_queue``), which the queue and retry loop around every
exporter read (``pipeline/sending.py``). Each ``send`` answers with a :class:`Result`:
done, retryable (with the downstream's RetryInfo / Retry-After hint), or permanent
(dropped with the reason); exporters never raise for a downstream's failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from spanmeter.otlp.protocol import SIGNALS
from spanmeter.pipeline.queue import Queue
from spanmeter.pipeline.retry import Retry
from spanmeter.pipeline.yaml_reading import Section


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExporterConfig:
    name: str  # as written: type or type/name
    kind: str  # the type, aliases resolved
    retry: Retry = dataclasses.field(default_factory=Retry)
    queue: Queue = dataclasses.field(default_factory=Queue)

    @property
    def destination(self) -> str:
        """Where it sends, for log lines."""
        return ""


@dataclasses.dataclass(frozen=True)
class Result:
    ok: bool
    retryable: bool = False
    retry_after: float | None = None
    reason: str = ""
    rejected: int = 0  # items the downstream refused in a partial success


DONE = Result(True)


class Exporter(Protocol):
    def send(self, signal: str, payload: bytes) -> Result:
        """Send one serialized Export*ServiceRequest."""

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class ExporterKind:
    """One row of the registry: the YAML type (and its aliases), how its keys are read and
    validated, how it is built, and the pipelines it may sit in."""

    type: str
    read: Callable[[str, Section], ExporterConfig]  # name, its section -> config (raises ConfigError)
    build: Callable[[ExporterConfig], Exporter] | None  # None: the service serves it (a pull endpoint)
    aliases: tuple[str, ...] = ()
    signals: tuple[str, ...] = SIGNALS
