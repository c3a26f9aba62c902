"""Where batches leave: OTLP over gRPC and HTTP (the real OTLP exporter protocol), and OTLP/JSON lines in a file.

Batches are already-serialized ``Export*ServiceRequest`` bytes, so the exporters send
them as they are: a raw-bytes gRPC call, or an HTTP POST of the body. Each ``send``
answers with a :class:`Result`: done, retryable (with the downstream's RetryInfo /
Retry-After hint), or permanent (dropped with the reason). They never raise for a
downstream's failure.
"""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import os
import ssl
import threading
import urllib.parse

import grpc
from google.protobuf.message import DecodeError

from spanmeter.otlp.json_codec import to_json_line
from spanmeter.otlp.protocol import (
    GRPC_METHODS,
    HTTP_PATHS,
    REQUESTS,
    RESPONSES,
    RETRYABLE_GRPC,
    RETRYABLE_HTTP,
    STATUS_DETAILS_KEY,
    rejected_field,
    retry_delay,
)  # fmt: skip
from spanmeter.pipeline.config import TLS, Exporter


@dataclasses.dataclass(frozen=True)
class Result:
    ok: bool
    retryable: bool = False
    retry_after: float | None = None
    reason: str = ""
    rejected: int = 0  # items the downstream refused in a partial success


DONE = Result(True)


def _partial(signal: str, body: bytes) -> Result:
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


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as file:
        return file.read()


class OTLPGrpcExporter:
    """Sends batches with a raw-bytes unary call on one shared channel (channels multiplex)."""

    def __init__(self, config: Exporter):
        self.config = config
        url = urllib.parse.urlparse(config.endpoint if "://" in config.endpoint else f"//{config.endpoint}")
        target = f"{url.hostname}:{url.port or 4317}"
        options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        insecure = config.tls.insecure or url.scheme == "http"
        if insecure:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(config.tls.ca_file),
                private_key=_read(config.tls.key_file),
                certificate_chain=_read(config.tls.cert_file),
            )
            self._channel = grpc.secure_channel(target, credentials, options=options)
        compression = grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression
        self._compression = compression
        self._metadata = tuple(config.headers)
        self._calls = {signal: self._channel.unary_unary(method) for signal, method in GRPC_METHODS.items()}

    def send(self, signal: str, payload: bytes) -> Result:
        try:
            body = self._calls[signal](payload, timeout=self.config.timeout, metadata=self._metadata,
                                       compression=self._compression)  # fmt: skip
        except grpc.RpcError as error:
            return self._failure(error)
        return _partial(signal, body)

    @staticmethod
    def _failure(error: grpc.RpcError) -> Result:
        code = error.code()
        details = dict(error.trailing_metadata() or ()).get(STATUS_DETAILS_KEY)
        hint = retry_delay(details)
        reason = f"{code.name}: {error.details()}"
        retryable = code in RETRYABLE_GRPC or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and hint is not None)
        return Result(False, retryable=retryable, retry_after=hint, reason=reason)

    def close(self) -> None:
        self._channel.close()


class OTLPHttpExporter:
    """POSTs batches as application/x-protobuf to ``endpoint`` + /v1/traces|metrics|logs, one connection per thread."""

    def __init__(self, config: Exporter):
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
            return _partial(signal, content)
        hint = response.getheader("Retry-After")
        delay = float(hint) if hint and hint.strip().isdigit() else None
        reason = f"HTTP {response.status}: {content[:200].decode('utf-8', 'replace')}"
        return Result(False, retryable=response.status in RETRYABLE_HTTP, retry_after=delay, reason=reason)

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


class FileExporter:
    """Appends each batch as one OTLP/JSON line (the Collector file exporter's shape)."""

    def __init__(self, config: Exporter):
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


def build(config: Exporter) -> OTLPGrpcExporter | OTLPHttpExporter | FileExporter:
    kinds = {"otlp_grpc": OTLPGrpcExporter, "otlp_http": OTLPHttpExporter, "file": FileExporter}
    return kinds[config.kind](config)
