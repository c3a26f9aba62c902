"""OTLP/HTTP receiver: POST /v1/traces|metrics|logs, protobuf and JSON on one port.

The answer has the request's content type; errors carry a google.rpc.Status body.
``Content-Encoding: gzip`` bodies are inflated with the size limit applied to the
inflated size (413 beyond it). A full queue is 503 with ``Retry-After``; a bad body
400; a missing or wrong bearer token 401. An empty request is a success.
"""

from __future__ import annotations

import json
import ssl
import zlib
from http.server import BaseHTTPRequestHandler

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from spanmeter.otlp.protocol import HTTP_PATHS, RESPONSES, rejected_field
from spanmeter.pipeline.config import Protocol
from spanmeter.pipeline.http_server import Server, start_server, stop_server
from spanmeter.pipeline.receivers import (
    RETRY_AFTER_S,
    BadRequest,
    Consume,
    Outcome,
    decode_json,
    decode_protobuf,
    token_matches,
)  # fmt: skip

PROTOBUF, JSON = "application/x-protobuf", "application/json"
_SIGNALS = {path: signal for signal, path in HTTP_PATHS.items()}
_CODES = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 404: code_pb2.NOT_FOUND,
          413: code_pb2.RESOURCE_EXHAUSTED,
          415: code_pb2.INVALID_ARGUMENT, 503: code_pb2.UNAVAILABLE}  # fmt: skip


class _TooLarge(ValueError):
    pass


def _inflate(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"cannot gunzip the body: {exc}") from None
    if len(data) > limit:
        raise _TooLarge(f"body larger than {limit} bytes after decompression")
    return data


class OTLPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server
    body_read = False

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the self-metrics count requests."""

    def _answer(self, status: int, content_type: str, body: bytes, retry_after: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if retry_after:
            self.send_header("Retry-After", str(RETRY_AFTER_S))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, content_type: str, message: str) -> None:
        if not self.body_read:
            self.close_connection = True  # the unread body would be taken for the next request
        rpc_status = status_pb2.Status(code=_CODES.get(status, code_pb2.UNKNOWN), message=message)
        if content_type == JSON:
            body = json.dumps({"code": rpc_status.code, "message": message}).encode()
        else:
            content_type, body = PROTOBUF, rpc_status.SerializeToString()
        self._answer(status, content_type, body, retry_after=status == 503)

    def do_POST(self) -> None:
        self.body_read = False
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        answer_type = JSON if content_type == JSON else PROTOBUF
        signal = _SIGNALS.get(self.path.split("?", 1)[0])
        if signal not in self.server.signals:
            return self._error(404, answer_type, f"no OTLP endpoint at {self.path}")
        if not token_matches(self.headers.get("Authorization"), self.server.token):
            return self._error(401, answer_type, "missing or wrong bearer token")
        if content_type not in (PROTOBUF, JSON):
            return self._error(415, answer_type, f"unsupported content type {content_type!r}")
        try:
            body = self._body()
            request = decode_json(signal, body) if content_type == JSON else decode_protobuf(signal, body)
        except _TooLarge as exc:
            return self._error(413, answer_type, str(exc))
        except BadRequest as exc:
            return self._error(400, answer_type, str(exc))
        raw = body if content_type == PROTOBUF else None
        outcome = self.server.consume(self.server.receiver, "http", signal, request, raw)
        if outcome.refused:
            return self._error(503, answer_type, outcome.message)
        self._success(signal, answer_type, outcome)

    def _body(self) -> bytes:
        limit = self.server.limit
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise BadRequest("a Content-Length header is required")
        if int(length) > limit:
            raise _TooLarge(f"body of {length} bytes, the limit is {limit}")
        body = self.rfile.read(int(length))
        self.body_read = True
        if (self.headers.get("Content-Encoding") or "").strip().lower() == "gzip":
            body = _inflate(body, limit)
        return body

    def _success(self, signal: str, content_type: str, outcome: Outcome) -> None:
        response = RESPONSES[signal]()
        if outcome.rejected:
            setattr(response.partial_success, rejected_field(signal), outcome.rejected)
            response.partial_success.error_message = outcome.message
        if content_type == JSON:
            body = json_format.MessageToJson(response, indent=None).encode()
        else:
            body = response.SerializeToString()
        self._answer(200, content_type, body)


def _tls_context(protocol: Protocol) -> ssl.SSLContext | None:
    tls = protocol.tls
    if tls is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file:
        context.load_verify_locations(tls.client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class HttpReceiver:
    def __init__(self, name: str, protocol: Protocol, consume: Consume, token: str | None, signals: set[str]):
        """``signals``: those a pipeline takes from this receiver; the others' paths answer 404."""
        self.name, self.protocol, self.consume, self.token, self.signals = name, protocol, consume, token, signals
        self._server: Server | None = None
        self.port = 0

    def start(self) -> None:
        self._server = start_server(
            self.protocol.host, self.protocol.port, OTLPHandler, _tls_context(self.protocol),
            name=f"receiver {self.name}", receiver=self.name, consume=self.consume, token=self.token,
            limit=self.protocol.max_request_bytes, signals=self.signals,
        )  # fmt: skip
        self.port = self._server.server_address[1]

    def stop(self, grace: float) -> None:
        if self._server is not None:
            stop_server(self._server)
