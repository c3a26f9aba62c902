"""``jaeger``: spans to Jaeger over OTLP/gRPC.

Jaeger has accepted OTLP natively since 1.35 and v2 is built on the Collector, so
this is the SDK's OTLP/gRPC exporter pointed at Jaeger's own endpoint
(``SPANMETER_JAEGER_ENDPOINT``), leaving ``OTEL_EXPORTER_OTLP_ENDPOINT`` free for
another backend: ``OTEL_TRACES_EXPORTER=jaeger,otlp`` sends to both. The old
Thrift exporter package no longer imports on current SDKs.
"""

from __future__ import annotations

from urllib.parse import urlparse

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from spanmeter.settings import Settings


class JaegerSpanExporter(OTLPSpanExporter):
    """OTLP/gRPC to ``endpoint`` (default ``SPANMETER_JAEGER_ENDPOINT``).

    An ``http://`` endpoint means plaintext gRPC, as a local Jaeger expects; the
    ``OTEL_EXPORTER_OTLP_*INSECURE`` variables belong to the ``otlp`` exporter and
    are not consulted. Other keyword arguments are OTLPSpanExporter's.
    """

    def __init__(self, endpoint: str | None = None, insecure: bool | None = None, **kwargs):
        endpoint = endpoint or Settings.load().jaeger_endpoint
        if insecure is None:
            insecure = urlparse(endpoint).scheme == "http"
        super().__init__(endpoint=endpoint, insecure=insecure, **kwargs)
