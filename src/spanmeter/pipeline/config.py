"""The pipeline's YAML file, in the OpenTelemetry Collector's shape and keys, read once and validated.

A Collector user reads it without a manual: ``receivers.otlp.protocols.grpc.endpoint``,
``exporters.otlp_grpc/jaeger.retry_on_failure.max_interval``, ``service.pipelines.traces``.
``${env:VAR}`` and ``${env:VAR:-default}`` are expanded in every string value (``$$`` is a
literal ``$``), as the Collector does. Every problem is ONE :class:`ConfigError` line naming
the file, the line, the key path and what was expected, so a bad file fails before
anything listens. Unknown keys are errors too (a typo must not silently mean "default").
The reading vocabulary is ``yaml_reading.py``; each exporter kind reads its own keys
(``exporters/``), as do ``retry_on_failure`` (``retry.py``) and ``sending_queue`` (``queue/``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spanmeter.otlp.protocol import SIGNALS
from spanmeter.pipeline import exporters
from spanmeter.pipeline.exporters.common import ExporterConfig
from spanmeter.pipeline.yaml_reading import (
    TLS,
    Section,
    boolean,
    endpoint,
    integer_at_least,
    names,
    read_root,
    read_tls,
    text,
)  # fmt: skip
from spanmeter.settings import SETTINGS, Settings

MIB = 1 << 20


# --- the configuration, as the service uses it ----------------------------------------------
@dataclasses.dataclass(frozen=True)
class Protocol:
    """One receiver protocol (grpc or http) of an ``otlp`` receiver."""

    host: str
    port: int
    tls: TLS | None
    authenticator: str | None
    max_request_bytes: int


@dataclasses.dataclass(frozen=True)
class Receiver:
    name: str
    grpc: Protocol | None
    http: Protocol | None


@dataclasses.dataclass(frozen=True)
class Pipeline:
    name: str  # "traces" or "traces/name"
    signal: str
    receivers: tuple[str, ...]
    processors: tuple[str, ...]
    exporters: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    file: str
    receivers: dict[str, Receiver]
    processors: dict[str, Settings]
    exporters: dict[str, ExporterConfig]  # each kind's own config (pipeline/exporters/)
    pipelines: tuple[Pipeline, ...]
    health_check: tuple[str, int, str] | None  # host, port, path
    storage: dict[str, tuple[str, bool]]  # file_storage name -> (directory, fsync)
    tokens: dict[str, str]  # bearertokenauth name -> token
    telemetry: tuple[str, int] | None  # self-metrics endpoint
    log_level: str = "info"
    insights: dict[str, Protocol] = dataclasses.field(default_factory=dict)  # processor name -> Insights API


# --- readers, one per section ---------------------------------------------------------------

# transport -> (default port, size-limit key, its unit in bytes, default limit): the Collector's.
_TRANSPORTS = {
    "grpc": (4317, "max_recv_msg_size_mib", MIB, 4 * MIB),
    "http": (4318, "max_request_body_size", 1, 20 * MIB),
    "insights": (4319, "max_recv_msg_size_mib", MIB, 4 * MIB),  # processors.spanmeter.insights (gRPC)
}
# Collector receiver options spanmeter does not implement: named as such rather than "unknown key".
_UNSUPPORTED = ("include_metadata", "cors", "keepalive", "traces_url_path", "metrics_url_path", "logs_url_path")


def _protocol(section: Section, transport: str) -> Protocol:
    default_port, limit_key, unit, default_limit = _TRANSPORTS[transport]
    host, port = section.get("endpoint", endpoint, "host:port", ("127.0.0.1", default_port))
    tls = read_tls(section, server=True)
    authenticator = None
    if section.has("auth"):
        auth = section.section("auth")
        authenticator = auth.get("authenticator", text, "the name of a bearertokenauth extension")
        auth.done()
    limit = section.get(limit_key, integer_at_least(1), "a positive whole number", default_limit // unit) * unit
    for key in _UNSUPPORTED:
        if section.has(key):
            section.fail(key, "a key spanmeter supports (this Collector option is not implemented)", key)
    section.done()
    return Protocol(host, port, tls, authenticator, limit)


def _receiver(name: str, section: Section) -> Receiver:
    if name.split("/")[0] != "otlp":
        section.source.fail(section.path, section.line, "a receiver of type otlp", name)
    protocols = section.section("protocols")
    grpc = _protocol(protocols.section("grpc"), "grpc") if protocols.has("grpc") else None
    http = _protocol(protocols.section("http"), "http") if protocols.has("http") else None
    protocols.done()
    section.done()
    if grpc is None and http is None:
        section.fail("protocols", "grpc and/or http", None)
    return Receiver(name, grpc, http)


def _processor(name: str, section: Section) -> tuple[Settings, Protocol | None]:
    """The processor's settings (its keys are the SPANMETER_* settings) and, when it has an
    ``insights`` section, where it serves the Insights API (off unless set)."""
    if name.split("/")[0] != "spanmeter":
        section.source.fail(section.path, section.line, "a processor of type spanmeter", name)
    keys = _setting_keys(section)
    if "span_metrics" in SETTINGS:  # the pipeline serves Jaeger's Monitor tab unless told otherwise
        keys.setdefault("span_metrics", True)
    source = f"{section.source.file}:{section.line}: processors.{name}"
    insights = _protocol(section.section("insights"), "insights") if section.has("insights") else None
    return Settings.load(explicit=keys, source=source), insights


def _setting_keys(section: Section) -> dict[str, Any]:
    """A spanmeter processor's keys that are settings (``${env:...}`` expanded): all but ``insights``,
    which says where the Insights API listens."""
    return {key: section.raw(key) for key in section.key_names() if key != "insights"}


def processor_setting_keys(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The setting keys of the file's ``processors.spanmeter`` as the pipeline reads them
    (for ``spanmeter config --config``, which resolves them leniently); ConfigError when the
    file cannot be read."""
    processors = read_root(path, environ).section("processors")
    return _setting_keys(processors.section("spanmeter")) if processors.has("spanmeter") else {}


def _extensions(root: Section) -> tuple[dict[str, Section], list[str]]:
    extensions = root.section("extensions")
    enabled = root.section("service").get("extensions", names, "a list of extension names", [])
    return {key: extensions.section(key) for key in extensions.key_names()}, enabled


def _token(section: Section) -> str:
    token = section.get("token", text, "a token")
    filename = section.get("filename", text, "a file path")
    if filename:
        try:
            token = Path(filename).read_text().strip()
        except OSError:
            section.fail("filename", "a readable file holding the token", filename)
    section.done()
    if not token:
        section.fail("token", "token or filename (or token: ${env:VAR})", token)
    return token


def _read_extensions(root: Section) -> tuple[Any, dict[str, tuple[str, bool]], dict[str, str]]:
    sections, enabled = _extensions(root)
    health, storage, tokens = None, {}, {}
    for name, section in sections.items():
        kind = name.split("/")[0]
        if kind == "health_check":
            host, port = section.get("endpoint", endpoint, "host:port", ("127.0.0.1", 13133))
            path = section.get("path", text, "a URL path like /", "/")
            section.done()
            health = (host, port, path) if name in enabled else None
        elif kind == "file_storage":
            directory = section.require("directory", text, "a directory path")
            storage[name] = (directory, section.get("fsync", boolean, "true or false", True))
            section.done()
        elif kind == "bearertokenauth":
            tokens[name] = _token(section)
        else:
            section.source.fail(section.path, section.line, "health_check, file_storage or bearertokenauth", name)
    for name in enabled:
        if name not in sections:
            root.section("service").fail("extensions", f"extensions defined under extensions: ({name} is not)", name)
    return health, storage, tokens


def _telemetry(service: Section) -> tuple[tuple[str, int] | None, str]:
    telemetry = service.section("telemetry")
    logs = telemetry.section("logs")
    level = logs.get("level", _log_level, "debug, info, warn or error", "info")
    logs.done()
    metrics = telemetry.section("metrics")
    address = metrics.get("address", endpoint, "host:port", None)
    if metrics.get("level", _metrics_level, "none, basic, normal or detailed", "normal") == "none":
        address = None
    readers = metrics.get("readers", _list, "a list of readers", [])
    for index, reader in enumerate(readers):
        address = _pull_reader(Section(reader, f"{metrics.key_path('readers')}[{index}]", service.source))
    metrics.done()
    telemetry.done()
    return address, level


def _pull_reader(reader: Section) -> tuple[str, int]:
    prometheus = reader.section("pull").section("exporter").section("prometheus")
    host = prometheus.get("host", text, "a host", "127.0.0.1")
    port = prometheus.get("port", integer_at_least(0), "a port number", 8888)
    prometheus.done()
    return host, port


def _list(raw: Any) -> list:
    if not isinstance(raw, list):
        raise TypeError(raw)
    return raw


def _log_level(raw: Any) -> str:
    value = str(raw).lower()
    if value not in ("debug", "info", "warn", "error"):
        raise ValueError(raw)
    return value


def _metrics_level(raw: Any) -> str:
    value = str(raw).lower()
    if value not in ("none", "basic", "normal", "detailed"):
        raise ValueError(raw)
    return value


def _pipelines(service: Section, defined: dict[str, set[str]]) -> tuple[Pipeline, ...]:
    pipelines = service.section("pipelines")
    result = []
    for name in pipelines.key_names():
        signal = name.split("/")[0]
        section = pipelines.section(name)
        if signal not in SIGNALS:
            pipelines.fail(name, "a pipeline named traces, metrics or logs (optionally /name)", name)
        lists = {}
        for kind in ("receivers", "processors", "exporters"):
            lists[kind] = tuple(section.get(kind, names, f"a list of {kind} names", []))
            for component in lists[kind]:
                if component not in defined[kind]:
                    section.fail(kind, f"{kind} defined at the top level ({component} is not)", component)
        section.done()
        if not lists["receivers"] and not (signal == "metrics" and defined["processors"]):
            section.fail("receivers", "at least one receiver", [])
        if not lists["exporters"]:
            section.fail("exporters", "at least one exporter", [])
        if lists["processors"] and signal != "traces":
            section.fail("processors", "no processors (spanmeter processes traces only)", list(lists["processors"]))
        result.append(Pipeline(name, signal, lists["receivers"], lists["processors"], lists["exporters"]))
    if not result:
        service.fail("pipelines", "at least one pipeline", None)
    pipelines.done()
    return tuple(result)


def _check_references(config: PipelineConfig, service: Section) -> None:
    for exporter in config.exporters.values():
        if exporter.queue.storage and exporter.queue.storage not in config.storage:
            service.source.fail(f"exporters.{exporter.name}.sending_queue.storage", 0,
                                "the name of a file_storage extension", exporter.queue.storage)  # fmt: skip
    for receiver in config.receivers.values():
        for protocol, kind in ((receiver.grpc, "grpc"), (receiver.http, "http")):
            if protocol and protocol.authenticator and protocol.authenticator not in config.tokens:
                service.source.fail(f"receivers.{receiver.name}.protocols.{kind}.auth.authenticator", 0,
                                    "the name of a bearertokenauth extension", protocol.authenticator)  # fmt: skip
    for name, protocol in config.insights.items():
        if protocol.authenticator and protocol.authenticator not in config.tokens:
            service.source.fail(f"processors.{name}.insights.auth.authenticator", 0,
                                "the name of a bearertokenauth extension", protocol.authenticator)  # fmt: skip
    for pipeline in config.pipelines:
        for name in pipeline.exporters:
            kind = exporters.kind_of(config.exporters[name])
            if pipeline.signal not in kind.signals:
                service.source.fail(f"service.pipelines.{pipeline.name}.exporters", 0,
                                    f"{kind.type} only in a {' or '.join(kind.signals)} pipeline", name)  # fmt: skip


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> PipelineConfig:
    """Read and validate the file; raises :class:`ConfigError` (one line) on the first problem."""
    root = read_root(path, environ)
    file = root.source.file
    receivers = {n: _receiver(n, root.section("receivers").section(n)) for n in root.section("receivers").key_names()}
    read = {n: _processor(n, root.section("processors").section(n)) for n in root.section("processors").key_names()}
    processors = {name: settings for name, (settings, _) in read.items()}
    insights = {name: protocol for name, (_, protocol) in read.items() if protocol is not None}
    sections = root.section("exporters")
    exporter_configs = {name: exporters.read(name, sections.section(name)) for name in sections.key_names()}
    health, storage, tokens = _read_extensions(root)
    service = root.section("service")
    defined = {"receivers": set(receivers), "processors": set(processors), "exporters": set(exporter_configs)}
    pipelines = _pipelines(service, defined)
    telemetry, level = _telemetry(service)
    service.done()
    root.done()
    config = PipelineConfig(
        file, receivers, processors, exporter_configs, pipelines, health, storage, tokens, telemetry, level, insights
    )
    _check_references(config, service)
    return config
