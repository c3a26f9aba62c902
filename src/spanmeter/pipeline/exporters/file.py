"""``file``: each batch appended as one OTLP/JSON line (the Collector file exporter's shape)."""

from __future__ import annotations

import dataclasses
import os
import threading

from spanmeter.otlp.json_codec import to_json_line
from spanmeter.otlp.protocol import REQUESTS
from spanmeter.pipeline.exporters.common import DONE, ExporterConfig, ExporterKind, Result
from spanmeter.pipeline.yaml_reading import Section, text


@dataclasses.dataclass(frozen=True, kw_only=True)
class FileConfig(ExporterConfig):
    path: str

    @property
    def destination(self) -> str:
        return self.path


def read(name: str, section: Section) -> FileConfig:
    return FileConfig(name=name, kind=KIND.type, path=section.require("path", text, "a file path"))


class FileExporter:
    def __init__(self, config: FileConfig):
        self.path = config.path
        self._lock = threading.Lock()
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)

    def send(self, signal: str, payload: bytes) -> Result:
        line = to_json_line(REQUESTS[signal].FromString(payload))
        try:
            with self._lock, open(self.path, "a", encoding="utf-8") as file:
                file.write(line)
        except OSError as error:
            return Result(False, retryable=True, reason=f"cannot write {self.path}: {error.strerror}")
        return DONE

    def close(self) -> None:
        """Every line is written before send returns."""


KIND = ExporterKind("file", read, FileExporter)
