"""The console's routes: (method, path, query, headers, body) in, (status, headers, body) out.

The same `Console.handle` serves the Function app's `console/{*path}` route and the local
stack's server, under `/api/console`:

    GET  /                    the fleet          GET /server?id=ID    one server
    GET  /finding/<id>        one finding        GET /alert/<key>     302 to the alert's finding
    GET  /static/<file>       the script and the stylesheet
    POST /accept, /ack        the review actions (`drift.http.review`), JSON from the console's script

`?format=csv|json` exports what a page shows; `severity`, `setting`, `who`, `since` (and `server`
on the fleet) filter it. Who is signed in comes from App Service Authentication's header, as for
the review routes (401 without it). Every answer carries a Content-Security-Policy that allows
only the console's own script and stylesheet: no inline script or style, no framing, no form
posting elsewhere.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from drift.console import data, export, pages
from drift.console.html import Markup

if TYPE_CHECKING:
    from drift.engine import DriftEngine
    from drift.findings import FindingStore

BASE = "/api/console"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
CONSOLE_HEADER = "x-drift-console"  # the console's script sets it; a cross-site form cannot
HEX_ID = re.compile(r"[0-9a-f]{16}", re.IGNORECASE)
ALERT_KEY = re.compile(r"[0-9A-Za-z_.:-]{1,256}")
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json; charset=utf-8"}


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.headers = {**SECURITY_HEADERS, **self.headers}


def html(status: int, markup: Markup) -> Response:
    return Response(status, markup.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})


def _json(status: int, answer: Any) -> Response:
    return Response(status, json.dumps(answer).encode("utf-8"), {"Content-Type": "application/json; charset=utf-8"})


class Console:
    """The console over one engine (its store for the pages, the engine itself for accept and ack)."""

    def __init__(self, engine: DriftEngine | Callable[[], DriftEngine], *, base: str = BASE) -> None:
        self._engine = engine
        self.base = base.rstrip("/")
        self._findings: FindingStore | None = None

    @property
    def engine(self) -> DriftEngine:
        return self._engine() if callable(self._engine) else self._engine

    @property
    def findings(self) -> FindingStore:
        if self._findings is None:
            from drift.findings import FindingStore

            self._findings = FindingStore(self.engine.store)
        return self._findings

    def handle(self, method: str, path: str, params: Mapping[str, str], headers: Mapping[str, str],
               body: bytes = b"") -> Response:
        """One request; `path` is what follows the console's base (`/`, `/server`, `/finding/ab12...`)."""
        from drift.http import Refused, signed_in_user

        path = "/" + path.strip("/")
        method = method.upper()
        try:
            if method in ("GET", "HEAD"):
                if path.startswith("/static/"):
                    answer = self._static(path.removeprefix("/static/"))
                else:
                    answer = self._get(path, params, signed_in_user(dict(headers)))
                if method == "HEAD":
                    answer.body = b""
                return answer
            if method == "POST" and path in ("/accept", "/ack"):
                return self._post(path[1:], body, headers)
            return Response(405, b"", {"Allow": "GET, HEAD" + (", POST" if path in ("/accept", "/ack") else "")})
        except Refused as exc:
            if method == "POST":
                return _json(exc.status, {"error": str(exc)})
            return html(exc.status, pages.message_page(self.base, "", exc.status, str(exc)))

    def _static(self, name: str) -> Response:
        if name not in STATIC:
            return Response(404, b"not found", {"Content-Type": "text/plain; charset=utf-8"})
        content = resources.files("drift.console").joinpath("static", name).read_bytes()
        return Response(200, content, {"Content-Type": STATIC[name], "Cache-Control": "no-cache"})

    def _get(self, path: str, params: Mapping[str, str], user: str) -> Response:
        fmt = params.get("format") or None
        try:
            if fmt is not None and fmt not in FORMATS:
                raise data.BadRequest("format must be csv or json")
            filters = data.Filters.parse(params)
            if path == "/":
                fleet = data.fleet(self.engine.store, self.findings, filters, full=fmt is not None)
                if fmt:
                    return self._download(export.fleet(fleet, fmt), fmt, "fleet")
                return html(200, pages.fleet_page(self.base, user, fleet, filters))
            if path == "/server":
                return self._server(params.get("id") or "", filters, fmt, user)
            if path.startswith("/finding/"):
                finding_id = path.removeprefix("/finding/")
                if not HEX_ID.fullmatch(finding_id):
                    raise data.BadRequest("a finding id is 16 hexadecimal characters")
                found = self.findings.finding(finding_id.lower())
                if found is None:
                    return self._message(404, user, f"no finding {finding_id}")
                if fmt:
                    return self._download(export.finding(found, fmt), fmt, f"finding-{found.id}")
                return html(200, pages.finding_page(self.base, user, found))
            if path.startswith("/alert/"):
                return self._alert(path.removeprefix("/alert/"), user)
        except data.BadRequest as exc:
            return self._message(400, user, str(exc))
        return self._message(404, user, f"no console page at {path[:80]}")

    def _server(self, server: str, filters: data.Filters, fmt: str | None, user: str) -> Response:
        from drift.armid import InvalidResourceId, mysql_server_ref

        if not server:
            raise data.BadRequest("name the server: ?id=<its ARM id or name>")
        from drift.subscription import target

        partition = label = None
        setting = target(server) if server.startswith("/") else None
        if setting is not None:  # a subscription-level setting (e.g. the Defender plan) has its own partition
            server_id, partition, label = setting.resource_id, setting.partition, setting.label
        elif server.startswith("/"):
            try:
                ref = mysql_server_ref(server)
            except InvalidResourceId:
                ref = None
            if ref is None:
                raise data.BadRequest("id is not the ARM id of a MySQL flexible server")
            server_id = ref.server_id
        else:
            ids = self.engine.store.server_ids(server)
            if len(ids) != 1:
                return self._message(404 if not ids else 400, user,
                                     f"no watched server is named {server!r}" if not ids
                                     else f"several servers are named {server!r}: give the id")
            server_id = ids[0]
        view = data.server_view(self.engine.store, self.findings, server_id, filters, partition=partition,
                                label=label)
        if view is None:
            return self._message(404, user, f"the table knows nothing of {server_id}")
        if fmt:
            return self._download(export.server(view, fmt), fmt, f"server-{view.server}")
        return html(200, pages.server_page(self.base, user, view, filters))

    def _alert(self, key: str, user: str) -> Response:
        from urllib.parse import quote

        if not ALERT_KEY.fullmatch(key):
            raise data.BadRequest("an alert id is the card's 16-character 'Alert id'")
        found = self.findings.finding_for_alert(key)
        if found is not None:
            return Response(302, b"", {"Location": f"{self.base}/finding/{found.id}"})
        server_id = data.alert_server(self.engine.store, key)
        if server_id is None:
            return self._message(404, user, f"no finding or history row carries alert {key}")
        return Response(302, b"", {"Location": f"{self.base}/server?id={quote(server_id, safe='/')}&alert={key}"})

    def _message(self, status: int, user: str, text: str) -> Response:
        return html(status, pages.message_page(self.base, user, status, text))

    def _download(self, body: bytes, fmt: str, name: str) -> Response:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]
        return Response(200, body, {"Content-Type": FORMATS[fmt],
                                    "Content-Disposition": f'attachment; filename="{safe}.{fmt}"'})

    def _post(self, action: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """Accept or acknowledge: the review route's own handler, after the console's own check."""
        from drift.http import review

        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get(CONSOLE_HEADER) != "1":
            return _json(403, {"error": f"the console's forms send {CONSOLE_HEADER.title()}: 1; this request did not"})
        status, answer = review(self.engine, action, body, dict(headers))
        return _json(status, answer)


def easy_auth_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Why the Function app must not serve the console here, or None.

    The console route takes no function key (a browser has none), so it trusts the principal
    header only where App Service Authentication runs in front of it: App Service then sets
    `WEBSITE_AUTH_ENABLED=True` in the app's environment. Anywhere else the header could be forged.
    """
    env = os.environ if env is None else env
    if (env.get("WEBSITE_AUTH_ENABLED") or "").strip().lower() != "true":
        return ("the console is served only behind App Service Authentication (WEBSITE_AUTH_ENABLED is not "
                "True here), which sets who is signed in")
    return None


def for_function(engine: Callable[[], DriftEngine], method: str, path: str, params: Mapping[str, str],
                 headers: Mapping[str, str], body: bytes) -> Response:
    """The Function app's `console/{*path}` route."""
    problem = easy_auth_problem()
    if problem:
        return html(403, pages.message_page(BASE, "", 403, problem))
    return Console(engine).handle(method, path, params, headers, body)
