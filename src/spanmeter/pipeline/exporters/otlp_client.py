"""The settings both OTLP exporters read (the Collector's ``otlp`` and ``otlphttp`` share them), and
the partial-success answer both parse."""

from __future__ import annotations

import dataclasses
from typing import Any

from google.protobuf.message import DecodeError

from spanmeter.otlp.protocol import RESPONSES, rejected_field
from spanmeter.pipeline.exporters.common import DONE, ExporterConfig, Result
from spanmeter.pipeline.queue import read_queue
from spanmeter.pipeline.retry import read_retry
from spanmeter.pipeline.yaml_reading import TLS, Section, duration, read_tls, text


@dataclasses.dataclass(frozen=True, kw_only=True)
class OTLPConfig(ExporterConfig):
    endpoint: str
    tls: TLS = dataclasses.field(default_factory=TLS)
    headers: tuple[tuple[str, str], ...] = ()
    compression: str = "gzip"
    timeout: float = 5.0

    @property
    def destination(self) -> str:
        return self.endpoint


def read_otlp(name: str, kind: str, section: Section) -> OTLPConfig:
    return OTLPConfig(
        name=name,
        kind=kind,
        endpoint=section.require("endpoint", text, "an endpoint like host:4317 or http://host:4318"),
        tls=read_tls(section, server=False) or TLS(),
        headers=_headers(section),
        compression=section.get("compression", _compression, "gzip or none", "gzip"),
        timeout=section.get("timeout", duration, "a duration like 5s", 5.0),
        retry=read_retry(section),
        queue=read_queue(section),
    )


def _headers(section: Section) -> tuple[tuple[str, str], ...]:
    headers = section.section("headers")
    pairs = tuple((key.lower(), headers.get(key, str, "a string")) for key in headers.key_names())
    headers.done()
    return pairs


def _compression(raw: Any) -> str:
    value = str(raw).strip().lower()
    if value not in ("gzip", "none", ""):
        raise ValueError(raw)
    return value or "none"


def partial_success(signal: str, body: bytes) -> Result:
    """A 200 / OK answer: done, or done with the items the downstream refused (partial success)."""
    response = RESPONSES[signal]()
    try:
        response.ParseFromString(body)
    except DecodeError:
        return DONE
    partial = response.partial_success
    rejected = getattr(partial, rejected_field(signal))
    if rejected:
        return Result(True, reason=f"downstream rejected {rejected}: {partial.error_message}", rejected=rejected)
    return DONE


def read_file(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as file:
        return file.read()
