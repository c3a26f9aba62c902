"""Where batches leave: one module per exporter kind, registered in :data:`KINDS` (the Collector's model).

Each kind module carries its config (a dataclass on :class:`~.common.ExporterConfig`), the
reader that reads and validates its keys, its builder, and the pipelines it may sit in:

otlp_grpc.py     ``otlp_grpc`` (alias ``otlp``): OTLP over gRPC
otlp_http.py     ``otlp_http`` (alias ``otlphttp``): OTLP over HTTP (protobuf)
file.py          ``file``: OTLP/JSON lines
prometheus.py    ``prometheus``: the derived metrics for scraping (metrics pipelines only)
otlp_client.py   the settings and answers both OTLP kinds share
common.py        the config's common part (retry_on_failure, sending_queue), Result, the registry row

Batches are already-serialized ``Export*ServiceRequest`` bytes, so exporters send them as
they are.
"""

from __future__ import annotations

from spanmeter.pipeline.exporters import file, otlp_grpc, otlp_http, prometheus
from spanmeter.pipeline.exporters.common import Exporter, ExporterConfig, ExporterKind
from spanmeter.pipeline.yaml_reading import Section

KINDS: tuple[ExporterKind, ...] = (otlp_grpc.KIND, otlp_http.KIND, file.KIND, prometheus.KIND)
_BY_NAME = {name: kind for kind in KINDS for name in (kind.type, *kind.aliases)}
_BY_TYPE = {kind.type: kind for kind in KINDS}


def kind_of(config: ExporterConfig) -> ExporterKind:
    return _BY_TYPE[config.kind]


def read(name: str, section: Section) -> ExporterConfig:
    """The config of exporter ``name`` (``type`` or ``type/name``), its keys read and validated."""
    kind = _BY_NAME.get(name.split("/")[0])
    if kind is None:
        section.source.fail(section.path, section.line, f"an exporter type of {', '.join(_BY_NAME)}", name)
    config = kind.read(name, section)
    section.done()
    return config


def build(config: ExporterConfig) -> Exporter:
    """The sender of a queued kind (every kind but the ones the service serves itself)."""
    return kind_of(config).build(config)
