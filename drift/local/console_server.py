"""The console and the review routes on 127.0.0.1, for `mysql-drift local up`: the local stand-in for the
Function app's `console/{*path}`, `accept` and `ack` routes behind App Service Authentication.

It plays Easy Auth: every request is taken as the user who runs the stack (`<login> (local)`, from the
OS), set in `X-MS-CLIENT-PRINCIPAL-NAME` after any `X-MS-CLIENT-PRINCIPAL*` header the client sent is
dropped, as App Service drops them. It listens on loopback only, and answers only requests addressed
to it by its own name (`Host: 127.0.0.1:PORT` or `localhost:PORT`), so a web page cannot reach it
through a DNS name rebound to 127.0.0.1. Anyone who can open connections on this machine's loopback
acts as you: run the stack on a machine of your own.
"""

from __future__ import annotations

import getpass
import logging
import ssl
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from drift.console.app import BASE, Console, Response
from drift.engine import DriftEngine
from drift.http import PRINCIPAL_HEADER
from drift.http import review as review_route
from drift.local.httpd import JsonRequestHandler, ServerThread

log = logging.getLogger(__name__)
EASY_AUTH_HEADERS = "x-ms-client-principal"


def local_user() -> str:
    try:
        return f"{getpass.getuser()} (local)"
    except Exception:  # no login name (a container without a passwd entry)
        return "local user"


class LocalConsole:
    def __init__(self, engine: DriftEngine, *, host: str = "127.0.0.1", port: int = 0,
                 user: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.console = Console(engine)
        self.engine = engine
        self.user = user or local_user()
        self._host, self._port, self._ssl = host, port, ssl_context
        self._server: ServerThread | None = None
        self.origin = ""

    @property
    def url(self) -> str:
        """The console's address (`console_url` in the endpoints file)."""
        return f"{self.origin}{BASE}"

    def start(self) -> Self:
        handler = type("LocalConsoleHandler", (_Handler,), {"app": self})
        self._server = ServerThread((self._host, self._port), handler, self._ssl, "local-console")
        self.origin = self._server.origin
        self._names = {f"{self._server.host}:{self._server.port}", f"localhost:{self._server.port}"}
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        """One request as App Service with Easy Auth would hand it to the Function app."""
        if headers.get("host", "").lower() not in self._names:
            return Response(421, b"this server answers only to 127.0.0.1 and localhost",
                            {"Content-Type": "text/plain; charset=utf-8"})
        headers = {k: v for k, v in headers.items() if not k.startswith(EASY_AUTH_HEADERS)}
        headers[PRINCIPAL_HEADER] = self.user
        parts = urlsplit(target)
        path = parts.path
        if path == BASE or path.startswith(BASE + "/"):
            params = dict(parse_qsl(parts.query, keep_blank_values=False))
            return self.console.handle(method, path.removeprefix(BASE), params, headers, body)
        if method == "POST" and path in ("/api/accept", "/api/ack"):
            import json

            status, answer = review_route(self.engine, path.rsplit("/", 1)[1], body, headers)
            return Response(status, json.dumps(answer).encode(), {"Content-Type": "application/json; charset=utf-8"})
        return Response(404, b"not found", {"Content-Type": "text/plain; charset=utf-8"})


class _Handler(JsonRequestHandler):
    app: LocalConsole
    server_version = "drift-local-console"

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.read_body() if self.command == "POST" else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            answer = self.app.answer(self.command.upper(), self.path, headers, body)
        except Exception:  # one failed page must not take the server down
            log.exception("console failed on %s %s", self.command, self.path)
            answer = Response(500, b"the console failed; see the log", {"Content-Type": "text/plain; charset=utf-8"})
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD" and answer.body:
            self.wfile.write(answer.body)


def serve(engine: DriftEngine, **kwargs: Any) -> LocalConsole:
    return LocalConsole(engine, **kwargs).start()
