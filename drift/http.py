"""`POST /api/accept` and `POST /api/ack`: the review actions over HTTP, for a portal button or a bot.

The Function uses function-level keys; put Entra authentication (App Service "Easy Auth") in
front of it so that the caller is a signed-in person: their name then comes from the
`X-MS-CLIENT-PRINCIPAL-NAME` header that Easy Auth sets, not from the request body.
"""

from __future__ import annotations

import json
from typing import Any

from drift.engine import DriftEngine
from drift.review import ReviewError, accept, ack

PRINCIPAL_HEADER = "x-ms-client-principal-name"


def review(engine: DriftEngine, action: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """(status, JSON answer) for one review request; bad input is a 400 that says what is wrong."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return 400, {"error": "the body must be JSON"}
    if not isinstance(payload, dict):
        return 400, {"error": "the body must be a JSON object"}
    signed_in = {k.lower(): v for k, v in headers.items()}.get(PRINCIPAL_HEADER)
    by = signed_in or str(payload.get("by") or "http (no signed-in user)")
    reason = str(payload.get("reason") or "")
    try:
        if action == "accept":
            if not payload.get("server"):
                return 400, {"error": "'server' (name or ARM id) is required"}
            result = accept(engine, str(payload["server"]), setting=payload.get("setting"), reason=reason, by=by,
                            alert=payload.get("alert"), expect=payload.get("expect"))
            return 200, {"server_id": result.server_id, "accepted": [r.to_dict() for r in result.records],
                         "dropped_alerts": result.dropped_alerts}
        if action == "ack":
            if not payload.get("event_id"):
                return 400, {"error": "'event_id' is required"}
            return 200, {"acknowledged": ack(engine, str(payload["event_id"]), reason=reason, by=by)}
    except ReviewError as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"unknown action {action!r}"}
