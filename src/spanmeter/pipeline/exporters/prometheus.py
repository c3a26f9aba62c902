"""``prometheus``: the derived metrics and the metrics its pipelines receive (``pipeline/app_metrics.py``),
served for scraping at ``endpoint``/metrics, in metrics pipelines only.

Nothing is sent, so there is no sender to build: the service serves the endpoint from
the spanmeter processors' aggregated metrics.
"""

from __future__ import annotations

import dataclasses

from spanmeter.pipeline.exporters.common import ExporterConfig, ExporterKind
from spanmeter.pipeline.yaml_reading import Section, endpoint


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrometheusConfig(ExporterConfig):
    endpoint: str  # host:port

    @property
    def destination(self) -> str:
        return self.endpoint


def read(name: str, section: Section) -> PrometheusConfig:
    host, port = section.get("endpoint", endpoint, "host:port", ("127.0.0.1", 8889))
    return PrometheusConfig(name=name, kind=KIND.type, endpoint=f"{host}:{port}")


KIND = ExporterKind("prometheus", read, None, signals=("metrics",))
