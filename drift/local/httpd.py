"""HTTP plumbing shared by the local servers (the ARM stand-in, the Teams/Graph and Event Grid receivers).

`ServerThread` binds one of them and serves it on a daemon thread until `stop()`;
`TrackingHTTPServer` is a threading HTTP server that does TLS per connection, in the connection's thread,
and can cut open keep-alive connections on stop; `JsonRequestHandler` is a keep-alive HTTP/1.1 handler
that reads plain or chunked bodies and answers JSON, logging to ``logging`` instead of stderr.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


class TrackingHTTPServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer that can do TLS per connection and cut open keep-alive connections on stop.

    The TLS handshake happens in the connection's thread (not in ``accept``), so one slow or
    misbehaving client cannot stall the accept loop.
    """

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[http.server.BaseHTTPRequestHandler],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=sys.exc_info())


class ServerThread:
    """A `TrackingHTTPServer` bound at construction and served on a daemon thread until `stop()`,
    which stops accepting, cuts open keep-alive connections and joins the thread."""

    def __init__(self, address: tuple[str, int], handler: type[http.server.BaseHTTPRequestHandler],
                 ssl_context: ssl.SSLContext | None, name: str) -> None:
        self._httpd = TrackingHTTPServer(address, handler, ssl_context)
        host, port = self._httpd.server_address[:2]
        self.host, self.port = str(host), int(port)
        self.origin = f"{'https' if ssl_context else 'http'}://{host}:{port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class JsonRequestHandler(http.server.BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler with JSON helpers; logs to ``logging`` instead of stderr."""

    protocol_version = "HTTP/1.1"
    timeout = 120
    server_version = "drift-local"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the peer's
        # delayed ACK adds ~40 ms to every answer with a body.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), fmt % args)

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status: int, body: Any | None, headers: Mapping[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)
