"""Reading the pipeline's YAML file: the vocabulary every component's config reader uses.

The tree keeps each key's line; ``${env:VAR}`` and ``${env:VAR:-default}`` are expanded in
every string value (``$$`` is a literal ``$``), as the Collector does. A :class:`Section` is
one mapping with typed getters whose errors are ONE :class:`ConfigError` line naming the
file, the line, the key path and what was expected; keys nobody read are errors too. The
value parsers and the ``tls`` block are shared by receivers, processors and exporters
(``config.py`` reads the file's sections, ``exporters/`` each exporter kind's keys).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from spanmeter.settings import ConfigError

_ENV = re.compile(r"\$\$|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)\s*$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


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


@dataclasses.dataclass(frozen=True)
class TLS:
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    client_ca_file: str | None = None
    insecure: bool = False


def read_tls(section: Section, server: bool) -> TLS | None:
    """The ``tls`` block of a receiver protocol (``server``) or of an exporter; None when absent."""
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


def read_root(path: str | os.PathLike[str], environ: Mapping[str, str] | None) -> Section:
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
