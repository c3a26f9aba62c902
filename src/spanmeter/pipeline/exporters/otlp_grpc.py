"""``otlp_grpc`` (alias ``otlp``): OTLP over gRPC, a raw-bytes unary call on one shared channel."""

from __future__ import annotations

import urllib.parse

import grpc

from spanmeter.otlp.protocol import GRPC_METHODS, RETRYABLE_GRPC, STATUS_DETAILS_KEY, retry_delay
from spanmeter.pipeline.exporters.common import ExporterKind, Result
from spanmeter.pipeline.exporters.otlp_client import OTLPConfig, partial_success, read_file, read_otlp
from spanmeter.pipeline.yaml_reading import Section


def read(name: str, section: Section) -> OTLPConfig:
    return read_otlp(name, KIND.type, section)


class OTLPGrpcExporter:
    """Sends the already-serialized requests as they are; channels multiplex, so one serves every thread."""

    def __init__(self, config: OTLPConfig):
        self.config = config
        url = urllib.parse.urlparse(config.endpoint if "://" in config.endpoint else f"//{config.endpoint}")
        target = f"{url.hostname}:{url.port or 4317}"
        options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        insecure = config.tls.insecure or url.scheme == "http"
        if insecure:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=read_file(config.tls.ca_file),
                private_key=read_file(config.tls.key_file),
                certificate_chain=read_file(config.tls.cert_file),
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
        return partial_success(signal, body)

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


KIND = ExporterKind("otlp_grpc", read, OTLPGrpcExporter, aliases=("otlp",))
