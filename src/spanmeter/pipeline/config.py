"""The pipeline's YAML file, in the OpenTelemetry Collector's shape and keys, read once and validated.

A Collector user reads it without a manual: ``receivers.otlp.protocols.grpc.endpoint``,
``exporters.otlp_grpc/jaeger.retry_on_failure.max_interval``, ``service.pipelines.traces``.
``${env:VAR}`` and ``${env:VAR:-default}`` are expanded in every string value (``$$`` is a
literal ``$``), as the Collector does. Every problem is ONE :class:`ConfigError` line naming
the file, the line, the key path and what was expected, so a bad file fails before
anything listens. Unknown keys are errors too (a typo must not silently mean "default").
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from spanmeter.otlp.protocol import SIGNALS
from spanmeter.settings import SETTINGS, ConfigError, Settings

EXPORTER_TYPES = {"otlp_grpc": "otlp_grpc", "otlp": "otlp_grpc", "otlp_http": "otlp_http", "otlphttp": "otlp_http",
                  "file": "file", "prometheus": "prometheus"}  # fmt: skip
_ENV = re.compile(r"\$\$|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)\s*$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
MIB = 1 << 20


# --- the YAML tree, with line numbers --------------------------------------------------------
class _Mapping(dict):
    """A YAML mapping that remembers the line of each key (for error messages)."""

    lines: dict[str, int]
    line: int


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Mapping:
    mapping = _Mapping(loader.construct_mapping(node, deep=True))
    mapping.lines = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
    mapping.line = node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """``${env:VAR}`` / ``${env:VAR:-default}`` -> the value ("" when unset); ``$$`` -> ``$``."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        value = environ.get(match.group(1))
        if value is None or (value == "" and match.group(2) is not None):
            return match.group(2) or ""
        return value

    return _ENV.sub(replace, text)


class Section:
    """One mapping of the file being read: typed getters that raise errors naming file, line and key path.

    Every key a getter reads is marked; :meth:`done` rejects the keys nobody read.
    """

    def __init__(self, data: Any, path: str, source: Source, line: int = 0):
        if data is None:
            data = _Mapping()
        if not isinstance(data, dict):
            source.fail(path, line, "a mapping", data)
        self.data, self.path, self.source = data, path, source
        self.line = getattr(data, "line", line)
        self._read: set[str] = set()
        self._children: dict[str, Section] = {}

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def key_line(self, key: str) -> int:
        return getattr(self.data, "lines", {}).get(key, self.line)

    def has(self, key: str) -> bool:
        return key in self.data

    def key_names(self) -> list[str]:
        return [str(k) for k in self.data]

    def raw(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        value = self.data.get(key, default)
        return self.source.expand(value)

    def get(self, key: str, parse: Callable[[Any], Any], expected: str, default: Any = None) -> Any:
        value = self.raw(key)
        if value is None:
            return default
        try:
            return parse(value)
        except (TypeError, ValueError):
            self.source.fail(self.key_path(key), self.key_line(key), expected, value)

    def require(self, key: str, parse: Callable[[Any], Any], expected: str) -> Any:
        """Like :meth:`get`, but a missing key is an error too."""
        value = self.get(key, parse, expected)
        if value is None:
            self.source.fail(self.key_path(key), self.line, expected, None)
        return value

    def section(self, key: str) -> Section:
        """The mapping under ``key`` (empty when absent); the same object on every call."""
        self._read.add(key)
        if key not in self._children:
            self._children[key] = Section(self.data.get(key), self.key_path(key), self.source, self.key_line(key))
        return self._children[key]

    def fail(self, key: str, expected: str, value: Any) -> None:
        self.source.fail(self.key_path(key), self.key_line(key), expected, value)

    def done(self) -> None:
        """Reject the keys no getter asked for: a typo must not silently mean "the default"."""
        for key in self.data:
            if str(key) not in self._read:
                known = ", ".join(sorted(self._read)) or "nothing"
                self.source.fail(self.key_path(str(key)), self.key_line(str(key)), f"a known key ({known})", key)


@dataclasses.dataclass
class Source:
    """The file being read: where errors point, and the environment ``${env:...}`` reads."""

    file: str
    environ: Mapping[str, str]

    def expand(self, value: Any) -> Any:
        return expand_env(value, self.environ) if isinstance(value, str) else value

    def fail(self, path: str, line: int, expected: str, value: Any) -> None:
        where = f"{self.file}:{line}" if line else self.file
        raise ConfigError(f"{where}: {path}: expected {expected}, got {value!r}")


# --- value parsers (each raises ValueError on a bad value) ----------------------------------
def duration(raw: Any) -> float:
    """``5s``, ``500ms``, ``1m``, ``1.5h`` -> seconds; ``0`` alone is allowed (Collector: 'no limit')."""
    if raw == 0 or raw == "0":
        return 0.0
    match = _DURATION.match(str(raw)) if isinstance(raw, str) else None
    if match is None:
        raise ValueError(raw)
    return float(match.group(1)) * _UNITS[match.group(2)]


def boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(raw)


def integer_at_least(minimum: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool | float):
            raise TypeError(raw)
        value = int(str(raw).strip())
        if value < minimum:
            raise ValueError(raw)
        return value

    return parse


def number_at_least(minimum: float) -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        if isinstance(raw, bool):
            raise TypeError(raw)
        value = float(raw)
        if value < minimum:
            raise ValueError(raw)
        return value

    return parse


def text(raw: Any) -> str:
    if isinstance(raw, dict | list) or str(raw).strip() == "":
        raise ValueError(raw)
    return str(raw).strip()


def endpoint(raw: Any) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` too) -> (host, port); an empty host means all interfaces."""
    host, _, port = str(raw).strip().rpartition(":")
    number = int(port)
    if not 0 <= number <= 65535 or "/" in host:
        raise ValueError(raw)
    return host.strip("[]") or "0.0.0.0", number


def names(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise ValueError(raw)
    return list(raw)


# --- the configuration, as the service uses it ----------------------------------------------
@dataclasses.dataclass(frozen=True)
class TLS:
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    client_ca_file: str | None = None
    insecure: bool = False


@dataclasses.dataclass(frozen=True)
class Retry:
    """The Collector's ``retry_on_failure`` (same keys, same defaults)."""

    enabled: bool = True
    initial_interval: float = 5.0
    max_interval: float = 30.0
    max_elapsed_time: float = 300.0
    multiplier: float = 1.5
    randomization_factor: float = 0.5


@dataclasses.dataclass(frozen=True)
class Queue:
    """The Collector's ``sending_queue``: ``queue_size`` counts requests (batches)."""

    enabled: bool = True
    queue_size: int = 1000
    num_consumers: int = 10
    storage: str | None = None


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
class Exporter:
    name: str
    kind: str  # otlp_grpc, otlp_http, file, prometheus
    endpoint: str = ""
    tls: TLS = TLS()
    headers: tuple[tuple[str, str], ...] = ()
    compression: str = "none"
    timeout: float = 5.0
    retry: Retry = Retry()
    queue: Queue = Queue()
    path: str = ""


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
    exporters: dict[str, Exporter]
    pipelines: tuple[Pipeline, ...]
    health_check: tuple[str, int, str] | None  # host, port, path
    storage: dict[str, tuple[str, bool]]  # file_storage name -> (directory, fsync)
    tokens: dict[str, str]  # bearertokenauth name -> token
    telemetry: tuple[str, int] | None  # self-metrics endpoint
    log_level: str = "info"
    insights: dict[str, Protocol] = dataclasses.field(default_factory=dict)  # processor name -> Insights API


# --- readers, one per section ---------------------------------------------------------------
def _tls(section: Section, server: bool) -> TLS | None:
    if not section.has("tls"):
        return None
    tls = section.section("tls")
    value = TLS(
        cert_file=tls.get("cert_file", text, "a file path"),
        key_file=tls.get("key_file", text, "a file path"),
        ca_file=tls.get("ca_file", text, "a file path"),
        client_ca_file=tls.get("client_ca_file", text, "a file path") if server else None,
        insecure=tls.get("insecure", boolean, "true or false", False),
    )
    for key in ("cert_file", "key_file", "ca_file", "client_ca_file"):
        path = getattr(value, key)
        if path and not os.path.isfile(path):
            tls.fail(key, "an existing file", path)
    if server and not value.insecure and not (value.cert_file and value.key_file):
        tls.fail("cert_file", "cert_file and key_file for a TLS server (or insecure: true)", value.cert_file)
    tls.done()
    return None if server and value.insecure else value


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
    tls = _tls(section, server=True)
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


def _retry(section: Section) -> Retry:
    if not section.has("retry_on_failure"):
        return Retry()
    retry = section.section("retry_on_failure")
    defaults = Retry()
    value = Retry(
        enabled=retry.get("enabled", boolean, "true or false", defaults.enabled),
        initial_interval=retry.get("initial_interval", duration, "a duration like 5s", defaults.initial_interval),
        max_interval=retry.get("max_interval", duration, "a duration like 30s", defaults.max_interval),
        max_elapsed_time=retry.get("max_elapsed_time", duration, "a duration like 300s", defaults.max_elapsed_time),
        multiplier=retry.get("multiplier", number_at_least(1.0), "a number >= 1", defaults.multiplier),
        randomization_factor=retry.get(
            "randomization_factor", number_at_least(0.0), "a number between 0 and 1", defaults.randomization_factor
        ),
    )
    if value.randomization_factor > 1:
        retry.fail("randomization_factor", "a number between 0 and 1", value.randomization_factor)
    if value.max_interval < value.initial_interval:
        retry.fail("max_interval", f"a duration >= initial_interval ({value.initial_interval}s)", value.max_interval)
    retry.done()
    return value


def _queue(section: Section) -> Queue:
    if not section.has("sending_queue"):
        return Queue()
    queue = section.section("sending_queue")
    defaults = Queue()
    value = Queue(
        enabled=queue.get("enabled", boolean, "true or false", defaults.enabled),
        queue_size=queue.get("queue_size", integer_at_least(1), "a whole number >= 1", defaults.queue_size),
        num_consumers=queue.get("num_consumers", integer_at_least(1), "a whole number >= 1", defaults.num_consumers),
        storage=queue.get("storage", text, "the name of a file_storage extension"),
    )
    queue.done()
    return value


def _headers(section: Section) -> tuple[tuple[str, str], ...]:
    headers = section.section("headers")
    pairs = tuple((key.lower(), headers.get(key, str, "a string")) for key in headers.key_names())
    headers.done()
    return pairs


def _exporter(name: str, section: Section) -> Exporter:
    kind = EXPORTER_TYPES.get(name.split("/")[0])
    if kind is None:
        section.source.fail(section.path, section.line, f"an exporter type of {', '.join(EXPORTER_TYPES)}", name)
    if kind == "file":
        value = Exporter(name, kind, path=section.require("path", text, "a file path"))
    elif kind == "prometheus":
        host, port = section.get("endpoint", endpoint, "host:port", ("127.0.0.1", 8889))
        value = Exporter(name, kind, endpoint=f"{host}:{port}")
    else:
        value = Exporter(
            name,
            kind,
            endpoint=section.require("endpoint", text, "an endpoint like host:4317 or http://host:4318"),
            tls=_tls(section, server=False) or TLS(),
            headers=_headers(section),
            compression=section.get("compression", _compression, "gzip or none", "gzip"),
            timeout=section.get("timeout", duration, "a duration like 5s", 5.0),
            retry=_retry(section),
            queue=_queue(section),
        )
    section.done()
    return value


def _compression(raw: Any) -> str:
    value = str(raw).strip().lower()
    if value not in ("gzip", "none", ""):
        raise ValueError(raw)
    return value or "none"


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
    processors = _root(path, environ).section("processors")
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
            if config.exporters[name].kind == "prometheus" and pipeline.signal != "metrics":
                service.source.fail(f"service.pipelines.{pipeline.name}.exporters", 0,
                                    "prometheus only in a metrics pipeline", name)  # fmt: skip


def _root(path: str | os.PathLike[str], environ: Mapping[str, str] | None) -> Section:
    """The parsed file as its root section; ConfigError (one line) when it cannot be read."""
    file = os.fspath(path)
    source = Source(file, os.environ if environ is None else environ)
    try:
        tree = yaml.load(Path(file).read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{file}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return Section(tree, "", source, 1)


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> PipelineConfig:
    """Read and validate the file; raises :class:`ConfigError` (one line) on the first problem."""
    root = _root(path, environ)
    file = root.source.file
    receivers = {n: _receiver(n, root.section("receivers").section(n)) for n in root.section("receivers").key_names()}
    read = {n: _processor(n, root.section("processors").section(n)) for n in root.section("processors").key_names()}
    processors = {name: settings for name, (settings, _) in read.items()}
    insights = {name: protocol for name, (_, protocol) in read.items() if protocol is not None}
    exporters = {n: _exporter(n, root.section("exporters").section(n)) for n in root.section("exporters").key_names()}
    health, storage, tokens = _read_extensions(root)
    service = root.section("service")
    defined = {"receivers": set(receivers), "processors": set(processors), "exporters": set(exporters)}
    pipelines = _pipelines(service, defined)
    telemetry, level = _telemetry(service)
    service.done()
    root.done()
    config = PipelineConfig(
        file, receivers, processors, exporters, pipelines, health, storage, tokens, telemetry, level, insights
    )
    _check_references(config, service)
    return config
