"""Local receivers for the alert channels: a Teams Workflows webhook and a slice of Microsoft Graph.

Plain HTTP on loopback by default; pass ``ssl_context=LocalCA.server_context()`` for HTTPS (needed
when a client sends its token through azure-core's bearer policy, which refuses http). Both record
what they receive, answer like the real service, and can be told to fail (``add_fault``) to
exercise the notifiers' retry paths:

* Teams Workflows webhook: ``POST {webhook_url}`` -> ``202 Accepted`` with an empty body.
* Graph: ``POST /v1.0/users/{id}/sendMail`` -> 202; ``POST /v1.0/teams/{t}/channels/{c}/messages``
  -> 201 with a chatMessage-like body; ``GET /v1.0/servicePrincipals(appId='{appId}')`` -> the
  registered service principal or a Graph 404.

Out-of-process helpers: ``GET /messages``, ``POST /_faults`` (``{"status", "times", "retry_after"}``),
``POST /_clear``.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from drift.local.httpd import JsonRequestHandler, ServerThread

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: float | None


def _format_retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class _Receiver:
    """Shared plumbing: server lifecycle, message store, faults, the ``/messages`` and ``/_faults`` routes."""

    name = "receiver"

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._lock = threading.Lock()
        self._messages: list[JsonDict] = []
        self._faults: list[_Fault] = []
        self._server: ServerThread | None = None
        self.url = ""

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        handler = type(f"{type(self).__name__}Handler", (_ReceiverHandler,), {"receiver": self})
        self._server = ServerThread((self._host, self._port), handler, self._ssl_context, self.name)
        self.url = self._server.origin
        log.info("%s listening on %s", self.name, self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- recording and faults -----------------------------------------------------------

    def messages(self) -> list[JsonDict]:
        """Everything recorded so far, oldest first (copies)."""
        with self._lock:
            return json.loads(json.dumps(self._messages))

    def clear(self) -> None:
        """Forget recorded messages and pending faults."""
        with self._lock:
            self._messages.clear()
            self._faults.clear()

    def add_fault(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` service requests with ``status`` (and ``Retry-After`` when given)."""
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(_Fault(int(status), int(times), retry_after))

    def _record(self, message: JsonDict) -> None:
        with self._lock:
            self._messages.append(message)

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.pop(0)
            return fault

    def _fault_body(self, status: int) -> JsonDict:
        return {"error": {"code": "InjectedFault", "message": f"Injected fault {status}."}}

    # ---- request handling ---------------------------------------------------------------

    def _route(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        """Service routes; subclasses answer, or return (404, ...) for unknown paths."""
        raise NotImplementedError

    def _is_service_path(self, path: str) -> bool:
        raise NotImplementedError

    def _dispatch(
        self, method: str, raw_path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        path = unquote(urlsplit(raw_path).path)
        lower = path.rstrip("/").lower()
        if (method, lower) == ("GET", "/messages"):
            return 200, self.messages(), {}
        if (method, lower) == ("POST", "/_faults"):
            try:
                spec = json.loads(body or b"{}")
                self.add_fault(int(spec["status"]), int(spec.get("times", 1)), spec.get("retry_after"))
            except (ValueError, KeyError, TypeError) as exc:
                return 400, {"error": {"code": "BadRequest", "message": str(exc)}}, {}
            return 200, {"ok": True}, {}
        if (method, lower) == ("POST", "/_clear"):
            self.clear()
            return 200, {"ok": True}, {}
        if self._is_service_path(path):
            fault = self._take_fault()
            if fault is not None:
                extra: dict[str, str] = {}
                if fault.retry_after is not None:
                    extra["Retry-After"] = _format_retry_after(fault.retry_after)
                return fault.status, self._fault_body(fault.status), extra
        status, answer = self._route(method, path, body, headers)
        return status, answer, {}


class _ReceiverHandler(JsonRequestHandler):
    receiver: _Receiver  # set on the per-instance subclass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, answer, extra = self.receiver._dispatch(self.command.upper(), self.path, body, headers)
        except Exception:  # the receiver must answer even when it has a bug
            log.exception("%s failed on %s %s", self.receiver.name, self.command, self.path)
            status, answer, extra = 500, {"error": {"code": "InternalServerError", "message": "receiver"}}, {}
        self.send_json(status, answer, extra)


def _json_object(body: bytes) -> JsonDict | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class TeamsReceiver(_Receiver):
    """A Teams Workflows ("Send webhook alerts to a channel") webhook.

    ``webhook_url`` is ``{url}/workflows/teams-webhook``; any POST under ``/workflows/`` is accepted
    so a URL with the real shape (``/workflows/{id}/triggers/manual/paths/invoke?...``) works too.
    """

    name = "teams-receiver"
    WEBHOOK_PATH = "/workflows/teams-webhook"

    @property
    def webhook_url(self) -> str:
        return self.url + self.WEBHOOK_PATH

    def _is_service_path(self, path: str) -> bool:
        return path.lower().startswith("/workflows/")

    def _fault_body(self, status: int) -> JsonDict:
        return {
            "error": {"code": "TooManyRequests" if status == 429 else "InjectedFault", "message": "fault"}
        }

    def _route(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        if not self._is_service_path(path):
            return 404, {"error": {"code": "NotFound", "message": f"No route {method} {path}"}}
        if method != "POST":
            return 405, {"error": {"code": "MethodNotAllowed", "message": "Use POST."}}
        message = _json_object(body)
        if message is None:
            return 400, {"error": {"code": "InvalidRequestContent", "message": "Body must be a JSON object."}}
        self._record(message)
        return 202, None


_SP_PATTERN = re.compile(r"^/v1\.0/serviceprincipals\(appid='([^']+)'\)$", re.IGNORECASE)


class GraphReceiver(_Receiver):
    """The parts of Microsoft Graph v1.0 the notifiers use.

    ``require_auth=True`` answers 401 (Graph's ``InvalidAuthenticationToken``) to requests without
    a ``Authorization: Bearer ...`` header.
    """

    name = "graph-receiver"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        require_auth: bool = False,
    ) -> None:
        super().__init__(host=host, port=port, ssl_context=ssl_context)
        self.require_auth = require_auth
        self._service_principals: dict[str, JsonDict] = {}
        self._next_message_id = int(datetime.now(UTC).timestamp() * 1000)

    def register_service_principal(
        self, app_id: str, display_name: str, object_id: str | None = None
    ) -> JsonDict:
        """Make ``GET /v1.0/servicePrincipals(appId='{app_id}')`` answer with this principal."""
        principal = {"id": object_id or str(uuid.uuid4()), "appId": app_id, "displayName": display_name}
        with self._lock:
            self._service_principals[app_id.lower()] = principal
        return dict(principal)

    def _is_service_path(self, path: str) -> bool:
        return path.lower().startswith("/v1.0/")

    def _fault_body(self, status: int) -> JsonDict:
        return _graph_error(
            "TooManyRequests" if status == 429 else "InjectedFault", f"Injected fault {status}."
        )

    def _route(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        if not self._is_service_path(path):
            return 404, _graph_error("NotFound", f"No route {method} {path}")
        if self.require_auth and not headers.get("authorization", "").lower().startswith("bearer "):
            return 401, _graph_error("InvalidAuthenticationToken", "Access token is empty.")
        parts = [p for p in path.split("/") if p]
        low = [p.lower() for p in parts]
        if method == "POST" and len(parts) == 4 and low[1] == "users" and low[3] == "sendmail":
            payload = _json_object(body)
            # Graph reads property names case-insensitively; msgraph-sdk sends "Message".
            fields = {k.lower(): v for k, v in (payload or {}).items()}
            if payload is None or not isinstance(fields.get("message"), dict):
                return 400, _graph_error("ErrorInvalidRequest", "The 'message' property is required.")
            self._record({"user": parts[2], "body": payload})
            return 202, None
        if (
            method == "POST"
            and len(parts) == 6
            and (low[1], low[3], low[5]) == ("teams", "channels", "messages")
        ):
            payload = _json_object(body)
            if payload is None or not isinstance(payload.get("body"), dict):
                return 400, _graph_error("BadRequest", "The 'body' property is required.")
            with self._lock:
                self._next_message_id += 1
                message_id = str(self._next_message_id)
                self._messages.append({"team": parts[2], "channel": parts[4], "body": payload})
            return 201, {
                "id": message_id,
                "createdDateTime": datetime.now(UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "messageType": "message",
                "body": payload.get("body"),
                "channelIdentity": {"teamId": parts[2], "channelId": parts[4]},
            }
        match = _SP_PATTERN.match(path)
        if method == "GET" and match:
            with self._lock:
                principal = self._service_principals.get(match.group(1).lower())
            if principal is None:
                return 404, _graph_error(
                    "Request_ResourceNotFound",
                    f"Resource '{match.group(1)}' does not exist or one of its queried reference-property "
                    "objects are not present.",
                )
            return 200, {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals/$entity",
                **principal,
            }
        return 404, _graph_error("BadRequest", f"Resource not found for the segment '{parts[-1]}'.")


def _graph_error(code: str, message: str) -> JsonDict:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": str(uuid.uuid4()),
                "client-request-id": str(uuid.uuid4()),
            },
        }
    }


__all__ = ["GraphReceiver", "LogsIngestionReceiver", "TeamsReceiver"]


class TopicReceiver(_Receiver):
    """An Event Grid custom topic (`POST /api/events`), keeping every CloudEvent it is sent.

    Serve it with TLS (`ssl_context`): the publisher sends a bearer token, which azure-core
    refuses to send over plain http.
    """

    name = "topic-receiver"

    @property
    def endpoint(self) -> str:
        return self.url + "/api/events"

    def _is_service_path(self, path: str) -> bool:
        return path.lower().startswith("/api/events")

    def _route(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        if method != "POST" or not self._is_service_path(path):
            return 404, {"error": {"code": "NotFound", "message": f"No route {method} {path}"}}
        if not headers.get("authorization", "").lower().startswith("bearer ") and "aeg-sas-key" not in headers:
            return 401, {"error": {"code": "Unauthorized", "message": "No credential."}}
        try:
            events = json.loads(body)
        except ValueError:
            return 400, {"error": {"code": "BadRequest", "message": "Body must be JSON."}}
        for event in events if isinstance(events, list) else [events]:
            if not isinstance(event, dict) or event.get("specversion") != "1.0":
                return 400, {"error": {"code": "BadRequest", "message": "Expected CloudEvents 1.0."}}
            self._record(event)
        return 200, None


LOGS_API_VERSION = "2023-01-01"
LOGS_AUDIENCE = "https://monitor.azure.com"
LOGS_MAX_BYTES = 1024 * 1024  # Azure's limit per call, compressed and uncompressed
_LOGS_PATH = re.compile(r"^/datacollectionrules/([^/]+)/streams/([^/]+)$", re.IGNORECASE)


class LogsIngestionReceiver(_Receiver):
    """A data collection endpoint's Logs Ingestion API, for `azure-monitor-ingestion`'s LogsIngestionClient.

    `POST /dataCollectionRules/{immutableId}/streams/{stream}?api-version=2023-01-01` with a JSON
    array body, gzip-compressed when `Content-Encoding: gzip` says so, and a bearer token for the
    audience `https://monitor.azure.com`: 204 on success, 401 without a token (or with one for another
    audience), 404 for an unknown rule or stream, 400 for a body that is not a JSON array of objects,
    413 over 1 MB (compressed or not). The error codes are inferred from Azure's documented shape
    (`{"error": {"code", "message"}}`), not copied from a captured answer.

    Serve it with TLS (`ssl_context`): the client refuses to send its token over plain http. It keeps
    every row it accepted, per stream and decoded (`rows`), and every call, accepted or not (`calls`).
    """

    name = "logs-ingestion-receiver"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None,
                 rule_id: str | None = None, streams: tuple[str, ...] = ("Custom-MySqlDrift_CL",)) -> None:
        super().__init__(host=host, port=port, ssl_context=ssl_context)
        self.rule_id = rule_id or f"dcr-{uuid.uuid4().hex}"
        self._rules: dict[str, set[str]] = {self.rule_id.lower(): {s.lower() for s in streams}}
        self._calls: list[JsonDict] = []
        self._request = threading.local()  # what the current request decoded (the server is threaded)

    @property
    def endpoint(self) -> str:
        """What a data collection endpoint's `logsIngestion.endpoint` would be."""
        return self.url

    def rows(self, stream: str = "Custom-MySqlDrift_CL") -> list[JsonDict]:
        """Every row accepted on `stream`, oldest first, as the client sent it (copies)."""
        return [m["row"] for m in self.messages() if m["stream"].lower() == stream.lower()]

    def calls(self) -> list[JsonDict]:
        """Every upload request: `status`, `rows`, `bytes` (as sent) and `decoded_bytes`."""
        with self._lock:
            return [dict(c) for c in self._calls]

    def clear(self) -> None:
        super().clear()
        with self._lock:
            self._calls.clear()

    def _is_service_path(self, path: str) -> bool:
        return path.lower().startswith("/datacollectionrules/")

    def _dispatch(self, method: str, raw_path: str, body: bytes,
                  headers: Mapping[str, str]) -> tuple[int, Any, dict[str, str]]:
        self._request.rows, self._request.decoded = 0, 0
        self._request.query = parse_qs(urlsplit(raw_path).query)
        status, answer, extra = super()._dispatch(method, raw_path, body, headers)
        if self._is_service_path(unquote(urlsplit(raw_path).path)):
            with self._lock:
                self._calls.append({"status": status, "bytes": len(body), "path": raw_path,
                                    "rows": self._request.rows, "decoded_bytes": self._request.decoded})
        return status, answer, extra

    def _route(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        from drift.local.credential import decode_unverified

        match = _LOGS_PATH.match(path)
        if method != "POST" or match is None:
            return 404, _logs_error("NotFound", f"No route {method} {path}")
        authorization = headers.get("authorization", "")
        if not authorization.lower().startswith("bearer "):
            return 401, _logs_error("MissingToken", "The request has no bearer token.")
        audience = str(decode_unverified(authorization).get("aud") or "").rstrip("/")
        if audience != LOGS_AUDIENCE:
            return 401, _logs_error("InvalidToken", f"The token's audience {audience!r} is not {LOGS_AUDIENCE}.")
        if self._request.query.get("api-version") != [LOGS_API_VERSION]:
            return 400, _logs_error("UnsupportedApiVersion", f"Use api-version={LOGS_API_VERSION}.")
        rule, stream = match.group(1), match.group(2)
        if rule.lower() not in self._rules:
            return 404, _logs_error("NotFound", f"Data collection rule with immutable Id '{rule}' not found.")
        if stream.lower() not in self._rules[rule.lower()]:
            return 404, _logs_error("InvalidStream",
                                    f"Data collection rule '{rule}' has no stream declaration '{stream}'.")
        if len(body) > LOGS_MAX_BYTES:
            return 413, _too_large(len(body))
        if headers.get("content-encoding", "").lower() == "gzip":
            import gzip
            import zlib

            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                return 400, _logs_error("InvalidContentEncoding", "The body is not valid gzip.")
        self._request.decoded = len(body)
        if len(body) > LOGS_MAX_BYTES:
            return 413, _too_large(len(body))
        try:
            rows = json.loads(body)
        except ValueError:
            return 400, _logs_error("InvalidPayload", "The body is not valid JSON.")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            return 400, _logs_error("InvalidPayload", "The body must be a JSON array of objects.")
        with self._lock:
            self._messages.extend({"stream": stream, "row": row} for row in rows)
        self._request.rows = len(rows)
        return 204, None


def _logs_error(code: str, message: str) -> JsonDict:
    return {"error": {"code": code, "message": message}}


def _too_large(size: int) -> JsonDict:
    return _logs_error("ContentLengthLimitExceeded",
                       f"Maximum allowed content length: {LOGS_MAX_BYTES} bytes (1 MB). "
                       f"Provided content length: {size} bytes.")
