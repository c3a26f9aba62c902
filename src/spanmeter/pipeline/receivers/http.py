"""OTLP/HTTP receiver: POST /v1/traces|metrics|logs, protobuf and JSON on one port.

The answer has the request's content type; errors carry a google.rpc.Status body.
Bodies come with a Content-Length or chunked (``Transfer-Encoding: chunked``, as the
OpenTelemetry JS exporter sends them); ``Content-Encoding: gzip`` bodies are inflated
with the size limit applied to the inflated size (413 beyond it). A full queue is 503 with ``Retry-After``; a bad body
400; a missing or wrong bearer token 401. An empty request is a success.
"""

from __future__ import annotations

import json
import ssl
import threading
import zlib
from collections.abc import Callable
from typing import BinaryIO

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from spanmeter.otlp.protocol import HTTP_PATHS, RESPONSES, rejected_field
from spanmeter.pipeline.config import Protocol
from spanmeter.pipeline.http_server import Server, TimedHandler, start_server, stop_server
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
          413: code_pb2.RESOURCE_EXHAUSTED, 500: code_pb2.INTERNAL,
          415: code_pb2.INVALID_ARGUMENT, 503: code_pb2.UNAVAILABLE}  # fmt: skip


MAX_CONCURRENT_REQUESTS = 32  # read and decoded at once; more wait for a 503's Retry-After
MIN_BYTES_IN_FLIGHT = 64 << 20  # request bytes held at once: at least this, and 3 requests of the size limit
_MAX_CHUNK_LINE = 1024
_DISCARD_PIECE = 64 << 10
# Request headers a browser may send to an allowed origin without cors.allowed_headers naming them.
_CORS_HEADERS = (
    "Accept",
    "Accept-Language",
    "Content-Type",
    "Content-Language",
    "Content-Encoding",
    "X-Requested-With",
)  # a chunk-size line (hex size and extensions) or a trailer field


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


def _read_chunked(rfile: BinaryIO, limit: int, take: Callable[[int], None]) -> bytes:
    """A ``Transfer-Encoding: chunked`` body (the OpenTelemetry JS exporter streams its requests so),
    refused past ``limit`` bytes before more is read; ``take`` holds each chunk's size (or raises);
    trailers are read and ignored."""
    parts, size = [], 0
    while True:
        line = rfile.readline(_MAX_CHUNK_LINE)
        try:
            chunk = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest("malformed chunked body: bad chunk size line") from None
        if chunk == 0:
            break
        size += chunk
        if size > limit:
            raise _TooLarge(f"chunked body larger than {limit} bytes")
        take(chunk)
        parts.append(rfile.read(chunk))
        if rfile.readline(_MAX_CHUNK_LINE) not in (b"\r\n", b"\n"):
            raise BadRequest("malformed chunked body: a chunk does not end with CRLF")
    while rfile.readline(_MAX_CHUNK_LINE) not in (b"\r\n", b"\n", b""):
        pass  # trailer fields
    return b"".join(parts)


class Admission:
    """How many requests, and how many of their bytes, are read and decoded at once: beyond either,
    a request is refused with the retryable answer (503 + Retry-After), so a burst of large requests
    cannot take the memory of the service (a decoded request takes several times its size)."""

    def __init__(self, requests: int, body_bytes: int):
        self._lock = threading.Lock()
        self.requests, self.body_bytes = requests, body_bytes

    def enter(self) -> bool:
        with self._lock:
            if self.requests <= 0:
                return False
            self.requests -= 1
            return True

    def leave(self, body_bytes: int) -> None:
        with self._lock:
            self.requests += 1
            self.body_bytes += body_bytes

    def take(self, body_bytes: int) -> bool:
        with self._lock:
            if body_bytes > self.body_bytes:
                return False
            self.body_bytes -= body_bytes
            return True


class _Busy(Exception):
    pass


class OTLPHandler(TimedHandler):
    body_read = False
    taken = 0  # bytes of this request held in the server's Admission

    def _answer(self, status: int, content_type: str, body: bytes, retry_after: bool = False) -> None:
        self.send_response(status)
        self._cors_origin()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if retry_after:
            self.send_header("Retry-After", str(RETRY_AFTER_S))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, content_type: str, message: str) -> None:
        if not self.body_read and status != 413:
            self._discard_body()
        if not self.body_read:
            self.close_connection = True  # the unread body would be taken for the next request
        rpc_status = status_pb2.Status(code=_CODES.get(status, code_pb2.UNKNOWN), message=message)
        if content_type == JSON:
            body = json.dumps({"code": rpc_status.code, "message": message}).encode()
        else:
            content_type, body = PROTOBUF, rpc_status.SerializeToString()
        self._answer(status, content_type, body, retry_after=status == 503)

    def _cors_origin(self) -> bool:
        """``Access-Control-Allow-Origin`` for a browser origin the receiver's ``cors`` allows."""
        origin, cors = self.headers.get("Origin"), self.server.cors
        if origin is None or cors is None or not cors.allows(origin):
            return False
        self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Vary", "Origin")
        return True

    def do_OPTIONS(self) -> None:
        """A browser's CORS preflight: allowed origins get the methods, headers and max age; others
        an answer without them, which the browser takes as a refusal."""
        self.send_response(204)
        if self._cors_origin():
            cors = self.server.cors
            self.send_header("Access-Control-Allow-Methods", "POST")
            self.send_header("Access-Control-Allow-Headers", ", ".join((*_CORS_HEADERS, *cors.allowed_headers)))
            if cors.max_age:
                self.send_header("Access-Control-Max-Age", str(cors.max_age))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.close_connection = True
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self.body_read, self.taken = False, 0
        admission = self.server.admission
        if not admission.enter():
            return self._error(503, PROTOBUF, "too many requests at once: retry later")
        try:
            self._post()
        finally:
            admission.leave(self.taken)

    def _discard_body(self) -> None:
        """Read and drop a body of known size within the limit, a piece at a time (no memory held), so
        a refused sender reads its answer instead of a connection reset mid-upload and may keep the
        connection; read_timeout still bounds how long that takes."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > self.server.limit:
            return
        left = int(length)
        while left > 0:
            piece = self.rfile.read(min(left, _DISCARD_PIECE))
            if not piece:
                return
            left -= len(piece)
        self.body_read = True

    def _take(self, body_bytes: int) -> None:
        """Hold ``body_bytes`` more of this request in the server's Admission, or refuse it (503)."""
        if not self.server.admission.take(body_bytes):
            raise _Busy("too many request bytes being decoded at once: retry later")
        self.taken += body_bytes

    def _post(self) -> None:
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
        except _Busy as exc:
            return self._error(503, answer_type, str(exc))
        except BadRequest as exc:
            return self._error(400, answer_type, str(exc))
        raw = body if content_type == PROTOBUF else None
        included = {k.lower(): v for k, v in self.headers.items()} if self.server.include_metadata else None
        outcome = self.server.consume(self.server.receiver, "http", signal, request, raw, included)
        if outcome.failed:
            return self._error(500, answer_type, outcome.message)
        if outcome.refused:
            return self._error(503, answer_type, outcome.message)
        self._success(signal, answer_type, outcome)

    def _body(self) -> bytes:
        limit = self.server.limit
        if (self.headers.get("Transfer-Encoding") or "").strip().lower() == "chunked":
            body = _read_chunked(self.rfile, limit, self._take)
        else:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise BadRequest("a Content-Length or Transfer-Encoding: chunked header is required")
            if int(length) > limit:
                raise _TooLarge(f"body of {length} bytes, the limit is {limit}")
            self._take(int(length))
            body = self.rfile.read(int(length))
        self.body_read = True
        if (self.headers.get("Content-Encoding") or "").strip().lower() == "gzip":
            compressed = len(body)
            body = _inflate(body, limit)
            self._take(max(0, len(body) - compressed))
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
            limit=self.protocol.max_request_bytes, signals=self.signals, include_metadata=self.protocol.include_metadata,
            cors=self.protocol.cors,
            admission=Admission(MAX_CONCURRENT_REQUESTS, max(MIN_BYTES_IN_FLIGHT, 3 * self.protocol.max_request_bytes)),
            read_timeout=self.protocol.read_timeout or float("inf"), idle_timeout=self.protocol.idle_timeout or float("inf"),
        )  # fmt: skip
        self.port = self._server.server_address[1]

    def stop(self, grace: float) -> None:
        if self._server is not None:
            stop_server(self._server)
