"""`POST /api/accept` and `POST /api/ack`: the review actions over HTTP, for a portal button or a bot.

Who acts comes only from App Service Authentication ("Easy Auth", Entra sign-in, deployed by
infra/modules/function.bicep): it signs the user in and sets `X-MS-CLIENT-PRINCIPAL-NAME`. App
Service does not let an outside request set that header, but only where Easy Auth runs: a request
that reaches the code another way (a host without it, a misconfigured slot) could forge it. So
both are required: the function key (the route's `auth_level`) and Easy Auth in front. Without
the header the request is refused (401); a `by` in the body is ignored. Easy Auth also sets
`X-MS-CLIENT-PRINCIPAL` (the claims, base64 JSON): no harder to forge where Easy Auth is missing
and no more trustworthy where it runs, so the plain name header is the one read.

Every field is checked for type and size before the engine is touched, and every refusal is a
4xx with one line that says what is wrong; nothing is written.

Easy Auth signs a browser in with a cookie, which the browser sends with any request to the app,
even one a page on another site makes. So the body must come as `application/json` (a form on
another site can post only form-encoded, multipart or text/plain bodies without the app's CORS
consent, and the app grants none), and a request the browser marks cross-site
(`Sec-Fetch-Site`) is refused.
"""

from __future__ import annotations

import json
import re
from typing import Any

import detectors
from drift.armid import InvalidResourceId, mysql_server_ref
from drift.engine import DriftEngine
from drift.readers import ServerGone
from drift.review import ReviewError, accept, ack, resolve_server
from notifiers.safe import visible

PRINCIPAL_HEADER = "x-ms-client-principal-name"
MAX_BODY = 64 * 1024
MAX_REASON = 2_000
MAX_PRINCIPAL = 256
MAX_EVENT_ID = 256
# Azure's naming rules: a MySQL flexible server is 3-63 letters, digits and hyphens; a resource group
# 1-90 word characters, hyphens, periods and parentheses, not ending in a period; a subscription a GUID.
SERVER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", re.IGNORECASE)
RESOURCE_GROUP = re.compile(r"[-\w.()]{0,89}[-\w()]")
SUBSCRIPTION = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def signed_in_user(headers: dict[str, str]) -> str:
    """The name Easy Auth set for the signed-in user; 401 without one."""
    value = {k.lower(): v for k, v in headers.items()}.get(PRINCIPAL_HEADER)
    name = " ".join(visible(value).split()) if isinstance(value, str) else ""
    if not name:
        raise Refused(401, "sign in: the review routes take the user from App Service Authentication "
                           "(X-MS-CLIENT-PRINCIPAL-NAME), not from the body")
    if len(name) > MAX_PRINCIPAL:
        raise Refused(401, f"the signed-in user's name is over {MAX_PRINCIPAL} characters")
    return name


def same_origin_json(headers: dict[str, str]) -> None:
    """Refuse what a page on another site could make a signed-in browser send (see the module's docstring)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    kind = (lowered.get("content-type") or "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refused(415, "send the body as Content-Type: application/json (form posts are refused)")
    site = (lowered.get("sec-fetch-site") or "").strip().lower()
    if site and site not in ("same-origin", "none"):
        raise Refused(403, f"refused a {site[:20]} request: review only from the console or a client of your own")


def _text(payload: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Refused(400, f"'{key}' must be a non-empty string")
    if len(value) > limit:
        raise Refused(400, f"'{key}' is {len(value)} characters; at most {limit}")
    return value


def _server(engine: DriftEngine, value: str) -> str:
    """The watched server's full id, from a name or an id, checked against Azure's naming rules."""
    if value.startswith("/"):
        try:
            ref = mysql_server_ref(value)
        except InvalidResourceId:
            ref = None
        if ref is None or ref.child_type or ref.extension_type:
            raise Refused(400, "'server' is not the id of a MySQL flexible server")
    elif SERVER_NAME.fullmatch(value):
        try:
            ref = resolve_server(engine, value)
        except ReviewError as exc:
            raise Refused(404, str(exc)) from None
    else:
        raise Refused(400, "'server' is neither a MySQL flexible server name nor its ARM id")
    rid = ref.server
    if not (SUBSCRIPTION.fullmatch(rid.subscription_id) and RESOURCE_GROUP.fullmatch(rid.resource_group or "")
            and SERVER_NAME.fullmatch(ref.name)):
        raise Refused(400, "'server' breaks Azure's naming rules for a subscription, resource group or server")
    if engine.subscriptions and rid.subscription_id.lower() not in engine.subscriptions:
        raise Refused(403, f"subscription {rid.subscription_id} is not watched")
    return ref.server_id


def _handle(engine: DriftEngine, action: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    if action not in ("accept", "ack"):
        raise Refused(404, f"unknown action {action[:40]!r}")
    by = signed_in_user(headers)
    same_origin_json(headers)
    if len(body or b"") > MAX_BODY:
        raise Refused(413, f"the body is over {MAX_BODY} bytes")
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise Refused(400, "the body must be JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "the body must be a JSON object")
    if action == "ack":
        event_id = _text(payload, "event_id", MAX_EVENT_ID)
        reason = _text(payload, "reason", MAX_REASON)
        assert event_id is not None and reason is not None
        return {"acknowledged": ack(engine, event_id, reason=reason, by=by)}
    server = _text(payload, "server", 1024)
    setting = _text(payload, "setting", 64, required=False)
    alert = _text(payload, "alert", MAX_EVENT_ID, required=False)
    expect = _text(payload, "expect", MAX_REASON, required=False)
    reason = _text(payload, "reason", MAX_REASON)
    assert server is not None and reason is not None
    known = {d.setting for d in detectors.all_detectors()}
    if setting is not None and setting not in known:
        raise Refused(400, f"unknown setting {setting!r} (the README's settings table lists them)")
    server_id = _server(engine, server)
    try:
        result = accept(engine, server_id, setting=setting, reason=reason, by=by, alert=alert, expect=expect)
    except ServerGone:
        raise Refused(404, f"{server_id} no longer exists in Azure") from None
    return {"server_id": result.server_id, "accepted": [r.to_dict() for r in result.records],
            "dropped_alerts": result.dropped_alerts}


def review(engine: DriftEngine, action: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """(status, JSON answer) for one review request; a refusal is a 4xx whose `error` says why in one line."""
    try:
        return 200, _handle(engine, action, body, headers)
    except Refused as exc:
        return exc.status, {"error": str(exc)}
    except ReviewError as exc:
        return 400, {"error": str(exc)}
