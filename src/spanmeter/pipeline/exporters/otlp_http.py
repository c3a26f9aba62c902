"""``otlp_http`` (alias ``otlphttp``): OTLP over HTTP, application/x-protobuf POSTed to ``endpoint`` +
/v1/traces|metrics|logs, one connection per thread."""

from __future__ import annotations

import gzip
import http.client
import ssl
import threading
import urllib.parse

from spanmeter.otlp.protocol import HTTP_PATHS, RETRYABLE_HTTP
from spanmeter.pipeline.exporters.common import ExporterKind, Result
from spanmeter.pipeline.exporters.otlp_client import OTLPConfig, partial_success, read_otlp
from spanmeter.pipeline.yaml_reading import TLS, Section


def read(name: str, section: Section) -> OTLPConfig:
    return read_otlp(name, KIND.type, section)


class OTLPHttpExporter:
    def __init__(self, config: OTLPConfig):
        self.config = config
        url = urllib.parse.urlparse(config.endpoint if "://" in config.endpoint else f"https://{config.endpoint}")
        self._https = url.scheme == "https"
        self._host, self._port = url.hostname or "127.0.0.1", url.port or (443 if self._https else 4318)
        self._base = url.path.rstrip("/")
        self._context = self._tls_context(config.tls) if self._https else None
        self._local = threading.local()
        self._headers = {"Content-Type": "application/x-protobuf", **dict(config.headers)}
        if config.compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"

    @staticmethod
    def _tls_context(tls: TLS) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(self._host, self._port, timeout=self.config.timeout,
                                                         context=self._context)  # fmt: skip
            else:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=self.config.timeout)
            self._local.connection = connection
        return connection

    def send(self, signal: str, payload: bytes) -> Result:
        body = gzip.compress(payload, compresslevel=1) if self.config.compression == "gzip" else payload
        connection = self._connection()
        try:
            connection.request("POST", self._base + HTTP_PATHS[signal], body=body, headers=self._headers)
            response = connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            self._local.connection = None
            return Result(False, retryable=True, reason=f"{type(error).__name__}: {error}")
        if response.status == 200:
            return partial_success(signal, content)
        hint = response.getheader("Retry-After")
        delay = float(hint) if hint and hint.strip().isdigit() else None
        reason = f"HTTP {response.status}: {content[:200].decode('utf-8', 'replace')}"
        return Result(False, retryable=response.status in RETRYABLE_HTTP, retry_after=delay, reason=reason)

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


KIND = ExporterKind("otlp_http", read, OTLPHttpExporter, aliases=("otlphttp",))
