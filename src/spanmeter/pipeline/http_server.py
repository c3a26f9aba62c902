"""A threaded HTTP/1.1 server on the standard library, shared by the receiver, health and /metrics.

``start_server`` binds (port 0 picks a free one), optionally wraps the socket in TLS,
and serves in a daemon thread; ``stop_server`` stops it and closes the socket.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# path -> () -> (status, content type, body)
Routes = dict[str, Callable[[], tuple[int, str, bytes]]]


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


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


class GetHandler(BaseHTTPRequestHandler):
    """Answers GET from ``server.routes`` (path -> producer of status, content type, body)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path.split("?", 1)[0])  # type: ignore[attr-defined]
        status, content_type, body = route() if route else (404, "text/plain", b"not found\n")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per scrape would drown the pipeline's own log."""


def serve_routes(name: str, host: str, port: int, routes: Routes) -> Server:
    return start_server(host, port, GetHandler, routes=routes, name=name)
