"""OTLP/gRPC receiver: Export for traces, metrics and logs, taking RAW bytes.

The methods are registered as generic handlers without a request deserializer, so a
request that is not valid protobuf reaches our code and is answered INVALID_ARGUMENT
with a message (grpc's generated servicer would answer INTERNAL). A full queue is
UNAVAILABLE with google.rpc.RetryInfo in the status details; a request over the size
limit is RESOURCE_EXHAUSTED (grpc enforces ``max_receive_message_length`` on the
decompressed message); a missing or wrong bearer token is UNAUTHENTICATED.
"""

from __future__ import annotations

import socket
from concurrent import futures

import grpc
from google.rpc import code_pb2

from spanmeter.otlp.protocol import GRPC_METHODS, RESPONSES, STATUS_DETAILS_KEY, rejected_field, retry_status
from spanmeter.pipeline.config import Protocol
from spanmeter.pipeline.receivers import RETRY_AFTER_S, BadRequest, Consume, decode_protobuf, token_matches

WORKERS = 16


def server_credentials(protocol: Protocol) -> grpc.ServerCredentials:
    tls = protocol.tls

    def read(path: str | None) -> bytes | None:
        if not path:
            return None
        with open(path, "rb") as file:
            return file.read()

    client_ca = read(tls.client_ca_file)
    return grpc.ssl_server_credentials([(read(tls.key_file), read(tls.cert_file))], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)  # fmt: skip


def _check_free(host: str, port: int) -> None:
    """Bind the address once ourselves: a busy port is then one clear OSError, not grpc's log lines.

    With SO_REUSEADDR, as grpc binds, so connections of a killed predecessor still in TIME_WAIT
    do not stop a restart (a supervisor's restart loop would crash-loop for a minute); a socket
    that listens there still does.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class GrpcReceiver:
    def __init__(self, name: str, protocol: Protocol, consume: Consume, token: str | None, signals: set[str]):
        """``signals``: those a pipeline takes from here; the other services are not offered (UNIMPLEMENTED)."""
        self.name, self.protocol, self.consume, self.token, self.signals = name, protocol, consume, token, signals
        self._server: grpc.Server | None = None
        self.port = 0

    def _handler(self, signal: str):
        response_type, field = RESPONSES[signal], rejected_field(signal)

        def export(body: bytes, context: grpc.ServicerContext) -> bytes:
            metadata = dict(context.invocation_metadata())
            if not token_matches(metadata.get("authorization"), self.token):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
            try:
                request = decode_protobuf(signal, body)
            except BadRequest as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            included = metadata if self.protocol.include_metadata else None
            outcome = self.consume(self.name, "grpc", signal, request, body, included)
            if outcome.failed:
                context.abort(grpc.StatusCode.INTERNAL, outcome.message)
            if outcome.refused:
                details = retry_status(code_pb2.UNAVAILABLE, outcome.message, RETRY_AFTER_S)
                context.set_trailing_metadata(((STATUS_DETAILS_KEY, details),))
                context.abort(grpc.StatusCode.UNAVAILABLE, outcome.message)
            response = response_type()
            if outcome.rejected:
                setattr(response.partial_success, field, outcome.rejected)
                response.partial_success.error_message = outcome.message
            return response.SerializeToString()

        return grpc.unary_unary_rpc_method_handler(export)

    def start(self) -> None:
        limit = self.protocol.max_request_bytes
        options = [("grpc.max_receive_message_length", limit), ("grpc.so_reuseport", 0), *self.protocol.keepalive]
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="otlp-grpc"),
                                   options=options)  # fmt: skip
        for signal, method in GRPC_METHODS.items():
            if signal not in self.signals:
                continue
            service, name = method.strip("/").split("/")
            handler = grpc.method_handlers_generic_handler(service, {name: self._handler(signal)})
            self._server.add_generic_rpc_handlers((handler,))
        address = f"{self.protocol.host}:{self.protocol.port}"
        try:
            _check_free(self.protocol.host, self.protocol.port)
            if self.protocol.tls is None:
                self.port = self._server.add_insecure_port(address)
            else:
                self.port = self._server.add_secure_port(address, server_credentials(self.protocol))
        except (OSError, RuntimeError) as exc:
            raise OSError(f"receiver {self.name}: cannot listen on {address} (gRPC): {exc}") from None
        self._server.start()

    def stop(self, grace: float) -> None:
        """Stop accepting; calls in progress get ``grace`` seconds to finish."""
        if self._server is not None:
            self._server.stop(grace).wait(grace + 1)
