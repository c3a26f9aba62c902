"""A threaded HTTP/1.1 server on the standard library, shared by the receiver, health and /metrics.

``start_server`` binds (port 0 picks a free one), optionally wraps the socket in TLS,
and serves in a daemon thread; ``stop_server`` stops it and closes the socket.

Careless and hostile clients cost bounded resources: a connection waits at most
``idle_timeout`` for its next request and a request must arrive whole (headers and
body) within ``read_timeout``, else a watchdog shuts its socket (so a client sending
1 byte/s or holding idle connections frees its thread); connections beyond
``max_connections`` are closed on accept. A client's mistake, or a connection cut
under a handler, is one ``http_client_error`` event, not a traceback.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from spanmeter.pipeline.telemetry import log_event

# path -> () -> (status, content type, body)
Routes = dict[str, Callable[[], tuple[int, str, bytes]]]

IDLE_TIMEOUT_S = 30.0  # between requests on a keep-alive connection
READ_TIMEOUT_S = 30.0  # from a request's first line to its last body byte
MAX_CONNECTIONS = 256  # open at once, each holding a thread
_WATCH_INTERVAL_S = 0.25
_LINGER_S, _LINGER_BYTES = 1.0, 1 << 20  # how long and how much a closing connection's input is drained


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    idle_timeout = IDLE_TIMEOUT_S
    read_timeout = READ_TIMEOUT_S
    max_connections = MAX_CONNECTIONS

    def server_activate(self) -> None:
        super().server_activate()
        self._deadlines: dict[socket.socket, float] = {}
        self._deadlines_lock = threading.Lock()
        self._watching = threading.Event()
        threading.Thread(target=self._watch, daemon=True, name="spanmeter-http-deadlines").start()

    def verify_request(self, request, client_address) -> bool:
        """Refuse (close) a connection beyond ``max_connections``: each one holds a thread."""
        with self._deadlines_lock:
            if len(self._deadlines) >= self.max_connections:
                return False
            self._deadlines[request] = time.monotonic() + self.idle_timeout
        return True

    def set_deadline(self, connection: socket.socket, seconds: float) -> None:
        with self._deadlines_lock:
            if connection in self._deadlines:
                self._deadlines[connection] = time.monotonic() + seconds

    def shutdown_request(self, request) -> None:
        """Close a connection gracefully: after the answer and our FIN, read and drop what the client
        still sends (a body we refused, at most ``_LINGER_BYTES`` for ``_LINGER_S``), so closing with
        unread data does not reset the connection and destroy the answer before the client reads it."""
        with self._deadlines_lock:
            self._deadlines.pop(request, None)
        try:
            request.shutdown(socket.SHUT_WR)
            request.settimeout(_LINGER_S)
            left = _LINGER_BYTES
            while left > 0 and (piece := request.recv(min(left, 65536))):
                left -= len(piece)
        except OSError:
            pass  # reset, timed out, or already shut by the watchdog: close now
        self.close_request(request)

    def _watch(self) -> None:
        """Shut the sockets whose deadline passed: the blocked read in their handler then ends."""
        while not self._watching.wait(_WATCH_INTERVAL_S):
            now = time.monotonic()
            with self._deadlines_lock:
                late = [connection for connection, deadline in self._deadlines.items() if deadline < now]
                for connection in late:
                    self._deadlines[connection] = float("inf")  # shut once
            for connection in late:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # closed meanwhile

    def server_close(self) -> None:
        self._watching.set()
        super().server_close()

    def handle_error(self, request, client_address) -> None:
        """One event for what a client did wrong or cut short (the standard library prints a traceback)."""
        error = sys.exc_info()[1]
        log_event("http_client_error", logging.WARNING, client=f"{client_address[0]}:{client_address[1]}",
                  error=f"{type(error).__name__}: {error}")  # fmt: skip


class TimedHandler(BaseHTTPRequestHandler):
    """Gives each request ``read_timeout`` from its first line, and the connection ``idle_timeout`` after it."""

    protocol_version = "HTTP/1.1"
    server: Server

    def parse_request(self) -> bool:
        self.server.set_deadline(self.connection, self.server.read_timeout)
        return super().parse_request()

    def handle_one_request(self) -> None:
        super().handle_one_request()
        self.server.set_deadline(self.connection, self.server.idle_timeout)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the self-metrics count requests; one line per request would drown the pipeline's log."""


def start_server(host: str, port: int, handler: type[BaseHTTPRequestHandler],
                 tls: ssl.SSLContext | None = None, **attributes: object) -> Server:  # fmt: skip
    """Serve ``handler`` on host:port in a daemon thread; ``attributes`` are set on the server.

    A port that cannot be bound is an OSError naming the address and ``name``.
    """
    name = attributes.pop("name", "server")
    try:
        server = Server((host, port), handler)
    except OSError as exc:
        raise OSError(f"{name}: cannot listen on {host}:{port} (HTTP): {exc}") from None
    for key, value in attributes.items():
        setattr(server, key, value)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                              name=f"spanmeter-http-{server.server_address[1]}")  # fmt: skip
    thread.start()
    return server


def stop_server(server: Server) -> None:
    server.shutdown()
    server.server_close()


class GetHandler(TimedHandler):
    """Answers GET from ``server.routes`` (path -> producer of status, content type, body)."""

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path.split("?", 1)[0])  # type: ignore[attr-defined]
        status, content_type, body = route() if route else (404, "text/plain", b"not found\n")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve_routes(name: str, host: str, port: int, routes: Routes) -> Server:
    return start_server(host, port, GetHandler, routes=routes, name=name)
