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
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from spanmeter.otlp.protocol import SIGNALS
from spanmeter.pipeline import exporters, http_server
from spanmeter.pipeline.exporters.common import ExporterConfig
from spanmeter.pipeline.yaml_reading import (
    TLS,
    Section,
    boolean,
    duration,
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
    # HTTP only (the Collector's confighttp keys): a request's time from its first line to its
    # last byte, and a keep-alive connection's wait for its next request; 0 = no limit.
    read_timeout: float = http_server.READ_TIMEOUT_S
    idle_timeout: float = http_server.IDLE_TIMEOUT_S
    cors: Cors | None = None  # HTTP only: browser apps' origins
    keepalive: tuple[tuple[str, int], ...] = ()  # gRPC only: the keepalive options as grpc channel args
    include_metadata: bool = False  # hand request headers / gRPC metadata to the processors


@dataclasses.dataclass(frozen=True)
class Cors:
    """The Collector's ``cors`` of an HTTP receiver: origins may hold one ``*`` wildcard each."""

    allowed_origins: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    max_age: int = 0

    def allows(self, origin: str) -> bool:
        return any(re.fullmatch(re.escape(o).replace(r"\*", "[^/]*"), origin) for o in self.allowed_origins)


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
class MemoryLimit:
    """The Collector's ``memory_limiter``: refuse data (retryable) while memory use is above
    ``limit - spike``, measured every ``check_interval``; limits in bytes (from MiB or a percentage)."""

    check_interval: float
    limit_bytes: int
    spike_bytes: int


@dataclasses.dataclass(frozen=True)
class BatchSettings:
    """The Collector's ``batch``: send when ``send_batch_size`` items wait or ``timeout`` passed since
    the first; split sends above ``send_batch_max_size`` items (0: no split)."""

    send_batch_size: int = 8192
    timeout: float = 0.2
    send_batch_max_size: int = 0


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
    connectors: tuple[str, ...] = ()  # forward connectors: an exporter of one pipeline, a receiver of others
    limiters: dict[str, MemoryLimit] = dataclasses.field(default_factory=dict)  # memory_limiter processors
    batches: dict[str, BatchSettings] = dataclasses.field(default_factory=dict)  # batch processors
    warnings: tuple[str, ...] = ()  # valid but probably not meant (validate prints them, start logs them)


# --- readers, one per section ---------------------------------------------------------------

# transport -> (default port, size-limit key, its unit in bytes, default limit): the Collector's.
_TRANSPORTS = {
    "grpc": (4317, "max_recv_msg_size_mib", MIB, 4 * MIB),
    "http": (4318, "max_request_body_size", 1, 20 * MIB),
    "insights": (4319, "max_recv_msg_size_mib", MIB, 4 * MIB),  # processors.spanmeter.insights (gRPC)
}
# Collector receiver options spanmeter does not implement: named as such rather than "unknown key".
_UNSUPPORTED = ("traces_url_path", "metrics_url_path", "logs_url_path")


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
    options = {"http": _http_options, "grpc": _grpc_options}.get(transport, lambda _: {})(section)
    if transport != "insights":
        options["include_metadata"] = section.get("include_metadata", boolean, "true or false", False)
    for key in _UNSUPPORTED:
        if section.has(key):
            section.fail(key, "a key spanmeter supports (this Collector option is not implemented)", key)
    section.done()
    return Protocol(host, port, tls, authenticator, limit, **options)


def _http_options(section: Section) -> dict[str, Any]:
    options: dict[str, Any] = {
        key: section.get(key, duration, "a duration like 30s (0: no limit)", getattr(Protocol, key))
        for key in ("read_timeout", "idle_timeout")
    }
    if section.has("cors"):
        cors = section.section("cors")
        origins = tuple(cors.require("allowed_origins", names, "a list of origins like https://*.example.com"))
        headers = tuple(cors.get("allowed_headers", names, "a list of header names", []))
        max_age = cors.get("max_age", integer_at_least(0), "seconds, a whole number >= 0", 0)
        cors.done()
        options["cors"] = Cors(origins, headers, max_age)
    return options


# The Collector's gRPC keepalive keys -> grpc's channel arguments (milliseconds; a bool for the last).
_KEEPALIVE = {
    "server_parameters": {
        "max_connection_idle": "grpc.max_connection_idle_ms",
        "max_connection_age": "grpc.max_connection_age_ms",
        "max_connection_age_grace": "grpc.max_connection_age_grace_ms",
        "time": "grpc.keepalive_time_ms",
        "timeout": "grpc.keepalive_timeout_ms",
    },
    "enforcement_policy": {
        "min_time": "grpc.http2.min_ping_interval_without_data_ms",
        "permit_without_stream": "grpc.keepalive_permit_without_calls",
    },
}


def _grpc_options(section: Section) -> dict[str, Any]:
    if not section.has("keepalive"):
        return {}
    keepalive, options = section.section("keepalive"), []
    for group, keys in _KEEPALIVE.items():
        part = keepalive.section(group)
        for key, argument in keys.items():
            if key == "permit_without_stream":
                value = part.get(key, boolean, "true or false")
                options += [(argument, int(value))] if value is not None else []
                continue
            value = part.get(key, duration, "a duration like 30s")
            options += [(argument, int(value * 1000))] if value is not None else []
        part.done()
    keepalive.done()
    return {"keepalive": tuple(options)}


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


def _memory_limiter(section: Section, total_bytes: Callable[[], int]) -> MemoryLimit:
    interval = section.require("check_interval", duration, "a duration like 1s")
    if interval <= 0:
        section.fail("check_interval", "a duration above 0 like 1s", interval)
    mib = {
        key: section.get(key, integer_at_least(0), "MiB, a whole number", 0) for key in ("limit_mib", "spike_limit_mib")
    }
    percent = {key: section.get(key, integer_at_least(0), "a percentage from 0 to 100", 0)
               for key in ("limit_percentage", "spike_limit_percentage")}  # fmt: skip
    section.done()
    if any(value > 100 for value in percent.values()):
        section.fail("limit_percentage", "percentages from 0 to 100", percent)
    if mib["limit_mib"]:
        limit, spike = mib["limit_mib"] * MIB, mib["spike_limit_mib"] * MIB
    elif percent["limit_percentage"]:
        total = total_bytes()
        limit, spike = total * percent["limit_percentage"] // 100, total * percent["spike_limit_percentage"] // 100
    else:
        section.fail("limit_mib", "limit_mib or limit_percentage above 0", 0)
    spike = spike or limit // 5  # the Collector's default: 20 % of the limit
    if spike >= limit:
        section.fail("spike_limit_mib", "a spike limit below the limit", spike // MIB)
    return MemoryLimit(interval, limit, spike)


def _batch(section: Section) -> BatchSettings:
    defaults = BatchSettings()
    value = BatchSettings(
        send_batch_size=section.get("send_batch_size", integer_at_least(1), "a whole number >= 1",
                                    defaults.send_batch_size),
        timeout=section.get("timeout", duration, "a duration like 200ms", defaults.timeout),
        send_batch_max_size=section.get("send_batch_max_size", integer_at_least(0), "a whole number >= 0",
                                        defaults.send_batch_max_size),
    )  # fmt: skip
    section.done()
    if value.send_batch_max_size and value.send_batch_max_size < value.send_batch_size:
        section.fail("send_batch_max_size", f"0 or a number >= send_batch_size ({value.send_batch_size})",
                     value.send_batch_max_size)  # fmt: skip
    return value


def total_memory_bytes() -> int:
    """What ``limit_percentage`` is a share of: the cgroup's memory limit when one is set, else the machine's."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            return int(limit)
    except OSError:
        pass
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise OSError("no MemTotal in /proc/meminfo")


def _processors(root: Section) -> tuple[dict, dict, dict, dict]:
    """The ``processors`` section by type: spanmeter settings, Insights endpoints, memory limits, batches."""
    section = root.section("processors")
    settings, insights, limiters, batches = {}, {}, {}, {}
    for name in section.key_names():
        kind, child = name.split("/")[0], section.section(name)
        if kind == "memory_limiter":
            limiters[name] = _memory_limiter(child, total_memory_bytes)
        elif kind == "batch":
            batches[name] = _batch(child)
        elif kind == "spanmeter":
            settings[name], protocol = _processor(name, child)
            if protocol is not None:
                insights[name] = protocol
        else:
            section.source.fail(child.path, child.line, "a processor of type spanmeter, batch or memory_limiter", name)
    return settings, insights, limiters, batches


def _processor(name: str, section: Section) -> tuple[Settings, Protocol | None]:
    """The processor's settings (its keys are the SPANMETER_* settings) and, when it has an
    ``insights`` section, where it serves the Insights API (off unless set)."""
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
        if not lists["receivers"] and not (signal == "metrics" and defined["spanmeter"]):
            section.fail("receivers", "at least one receiver", [])
        if not lists["exporters"]:
            section.fail("exporters", "at least one exporter", [])
        spanmeter = [name for name in lists["processors"] if name in defined["spanmeter"]]
        if spanmeter and signal != "traces":
            section.fail("processors", "no spanmeter processor (it processes traces only)", spanmeter)
        result.append(Pipeline(name, signal, lists["receivers"], lists["processors"], lists["exporters"]))
    if not result:
        service.fail("pipelines", "at least one pipeline", None)
    pipelines.done()
    return tuple(result)


def _connectors(root: Section) -> tuple[str, ...]:
    """The ``connectors`` section: ``forward`` (``forward/name``) only, with no keys, as the Collector's."""
    connectors = root.section("connectors")
    for name in connectors.key_names():
        if name.split("/")[0] != "forward":
            connectors.fail(name, "a connector of type forward", name)
        connectors.section(name).done()
    connectors.done()
    return tuple(connectors.key_names())


def _check_connectors(config: PipelineConfig, service: Section) -> None:
    """Each connector is an exporter of some pipeline and a receiver of another of the same signal,
    and following connectors never leads a pipeline back to itself (the Collector's rules)."""
    for connector in config.connectors:
        sources = {p.signal for p in config.pipelines if connector in p.exporters}
        sinks = {p.signal for p in config.pipelines if connector in p.receivers}
        if not sources or not sinks or sources != sinks:
            service.source.fail(f"connectors.{connector}", 0, "a connector used as an exporter and as a receiver "
                                "by pipelines of one signal", sorted(sources | sinks))  # fmt: skip
    for pipeline in config.pipelines:
        if _reaches(config, pipeline, pipeline.name, set()):
            service.source.fail(f"service.pipelines.{pipeline.name}", 0, "pipelines whose connectors form no cycle",
                                pipeline.name)  # fmt: skip


def downstream(config: PipelineConfig, pipeline: Pipeline) -> list[Pipeline]:
    """The pipelines ``pipeline`` feeds through the connectors among its exporters."""
    connectors = [name for name in pipeline.exporters if name in config.connectors]
    return [p for p in config.pipelines if any(name in p.receivers for name in connectors)]


def _reaches(config: PipelineConfig, pipeline: Pipeline, target: str, seen: set[str]) -> bool:
    for after in downstream(config, pipeline):
        if after.name == target:
            return True
        if after.name not in seen:
            seen.add(after.name)
            if _reaches(config, after, target, seen):
                return True
    return False


def _processor_paths(config: PipelineConfig) -> dict[str, list[str]]:
    """receiver -> the ``pipeline/processor`` instances a span it receives passes through."""
    paths: dict[str, list[str]] = {}
    for receiver in config.receivers:
        todo = [p for p in config.pipelines if receiver in p.receivers and p.signal == "traces"]
        seen: list[str] = []
        while todo:
            pipeline = todo.pop(0)
            if pipeline.name in seen:
                continue
            seen.append(pipeline.name)
            paths.setdefault(receiver, []).extend(
                f"{pipeline.name}/{name}" for name in pipeline.processors if name in config.processors
            )
            todo.extend(downstream(config, pipeline))
    return paths


def _warnings(config: PipelineConfig) -> tuple[str, ...]:
    """A span enriched by two processor instances counts twice in metrics, budgets and baselines."""
    return tuple(
        f"spans from receiver {receiver} pass through {len(instances)} spanmeter processor instances "
        f"({', '.join(instances)}): each counts them in its metrics, budgets and anomaly baselines; "
        "enrich once in one pipeline and fan out with the forward connector"
        for receiver, instances in _processor_paths(config).items()
        if len(instances) > 1
    )


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
        users = [p.name for p in config.pipelines if name in p.processors]
        if len(users) > 1:
            service.source.fail(f"processors.{name}.insights", 0, "a processor serving the Insights API in one "
                                "pipeline (each pipeline has its own instance)", users)  # fmt: skip
        if protocol.authenticator and protocol.authenticator not in config.tokens:
            service.source.fail(f"processors.{name}.insights.auth.authenticator", 0,
                                "the name of a bearertokenauth extension", protocol.authenticator)  # fmt: skip
    for pipeline in config.pipelines:
        for name in (name for name in pipeline.exporters if name in config.exporters):
            kind = exporters.kind_of(config.exporters[name])
            if pipeline.signal not in kind.signals:
                service.source.fail(f"service.pipelines.{pipeline.name}.exporters", 0,
                                    f"{kind.type} only in a {' or '.join(kind.signals)} pipeline", name)  # fmt: skip


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> PipelineConfig:
    """Read and validate the file; raises :class:`ConfigError` (one line) on the first problem."""
    root = read_root(path, environ)
    file = root.source.file
    receivers = {n: _receiver(n, root.section("receivers").section(n)) for n in root.section("receivers").key_names()}
    processors, insights, limiters, batches = _processors(root)
    sections = root.section("exporters")
    exporter_configs = {name: exporters.read(name, sections.section(name)) for name in sections.key_names()}
    health, storage, tokens = _read_extensions(root)
    connectors = _connectors(root)
    service = root.section("service")
    defined = {"receivers": {*receivers, *connectors}, "processors": {*processors, *limiters, *batches},
               "exporters": {*exporter_configs, *connectors}, "spanmeter": set(processors)}  # fmt: skip
    pipelines = _pipelines(service, defined)
    telemetry, level = _telemetry(service)
    service.done()
    root.done()
    config = PipelineConfig(
        file, receivers, processors, exporter_configs, pipelines, health, storage, tokens, telemetry, level, insights,
        connectors, limiters, batches,
    )  # fmt: skip
    _check_references(config, service)
    _check_connectors(config, service)
    return dataclasses.replace(config, warnings=_warnings(config))
