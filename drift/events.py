"""Azure subscription events in, in either schema, out as one plain `ArmEvent`.

Event Grid delivers the system topic `Microsoft.Resources.Subscriptions` in the Event Grid
schema (`eventType`, `eventTime`, `topic`) or as CloudEvents 1.0 (`type`, `time`, `source`,
`specversion`); the payload under `data` is the same. Nothing here trusts the input: a bad
event raises `MalformedEvent` with a message that says what is wrong, so the caller can log
it and go on with the rest of the batch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

UPN_CLAIMS = ("upn", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "unique_name")
OBJECT_ID_CLAIMS = ("oid", "http://schemas.microsoft.com/identity/claims/objectidentifier")
NAME_CLAIMS = ("name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
EVENT_TYPE_PREFIX = "Microsoft.Resources."

log = logging.getLogger(__name__)


class MalformedEvent(ValueError):
    """The input is not an event this detector can read."""


@dataclass(frozen=True)
class Caller:
    """Who made the ARM call, from the token claims Event Grid copies into the event."""

    name: str | None = None
    upn: str | None = None
    app_id: str | None = None
    object_id: str | None = None
    ip_address: str | None = None

    @property
    def display(self) -> str:
        """`Name <upn>` for a person, `app <appid>` for a service principal, else `unknown`."""
        if self.upn and self.name and self.name != self.upn:
            return f"{self.name} <{self.upn}>"
        if self.upn or self.name:
            return str(self.upn or self.name)
        if self.app_id:
            return f"app {self.app_id}"
        if self.object_id:
            return f"principal {self.object_id}"
        return "unknown"


@dataclass(frozen=True)
class ArmEvent:
    """What the detector needs of one Azure subscription event."""

    id: str
    kind: str  # e.g. "ResourceWriteSuccess"
    subject: str
    time: datetime
    operation_name: str
    subscription_id: str | None
    tenant_id: str | None
    correlation_id: str | None
    caller: Caller
    client_ip: str | None
    schema: str  # "eventgrid" or "cloudevents"
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def action(self) -> str:
        """Write, Delete or Action."""
        for action in ("Write", "Delete", "Action"):
            if self.kind.startswith(f"Resource{action}"):
                return action
        return ""

    @property
    def succeeded(self) -> bool:
        return self.kind.endswith("Success")


MAX_SUBJECT = 1024  # no ARM id of a MySQL server or its children comes near; its table key must stay under 1 KiB
MAX_ID = 256  # event ids are GUIDs; they go into row keys (cut again there) and history rows
MAX_TIME = 64
MAX_OPERATION = 256  # operation names are provider/type/.../verb
MAX_GUID = 128  # subscription, tenant, correlation, app and object ids
MAX_NAME = 256  # a person's name or UPN
MAX_IP = 64  # an IPv6 address with a zone fits


class _Fields:
    """The event's string fields, each type-checked and bounded; what was wrong is noted for one log line."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        self.problems: list[str] = []

    def text(self, where: str, value: Any, limit: int) -> str | None:
        """A string as it is, cut at `limit` characters; anything else is dropped (None)."""
        if value is None:
            return None
        if not isinstance(value, str):
            self.problems.append(f"{where} is a {type(value).__name__}, not a string: dropped")
            return None
        if len(value) > limit:
            self.problems.append(f"{where} is {len(value)} characters: cut to {limit}")
            return value[:limit]
        return value

    def first(self, claims: dict[str, Any], names: tuple[str, ...], limit: int) -> tuple[str | None, str | None]:
        """(claim name, value) of the first of `names` the claims hold as a non-empty string."""
        for name in names:
            value = self.text(f"claim {name}", claims.get(name), limit)
            if value:
                return name, value
        return None, None

    def log(self) -> None:
        if self.problems:
            log.warning("event %s: %s", self.event_id, "; ".join(self.problems))


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise MalformedEvent("event has no time")
    if len(value) > MAX_TIME:
        raise MalformedEvent(f"event time is not ISO 8601: {value[:MAX_TIME]!r}... ({len(value)} characters)")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Azure writes 7 fractional digits; Python reads at most 6.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits):]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MalformedEvent(f"event time is not ISO 8601: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _key_length(subject: str) -> int:
    from drift.keys import encode_key

    return len(encode_key(subject).encode("utf-8"))


def parse_event(raw: Any) -> ArmEvent:
    """One event of either schema as an `ArmEvent`; raises MalformedEvent.

    Every string taken from the event is type-checked and bounded: a field that is not a string
    is dropped and a long one cut, with one log line, so that a hostile or broken field costs
    the event nothing but that field (the state comes from ARM). Only what the detector cannot
    do without (id, type, time, subject) makes the event malformed. `raw` on the result is the
    event rebuilt from the bounded fields alone: it is what a deferred re-check queues.
    """
    if not isinstance(raw, dict):
        raise MalformedEvent(f"event is a {type(raw).__name__}, not a JSON object")
    if "specversion" in raw or "specVersion" in raw:
        schema, type_key, time_key = "cloudevents", "type", "time"
    else:
        schema, type_key, time_key = "eventgrid", "eventType", "eventTime"
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEvent("event has no id")
    fields = _Fields(event_id[:MAX_ID])
    event_id = fields.text("id", event_id, MAX_ID) or ""
    event_type = raw.get(type_key)
    if not isinstance(event_type, str) or not event_type.startswith(EVENT_TYPE_PREFIX) or len(event_type) > 128:
        shown = event_type[:128] if isinstance(event_type, str) else event_type
        raise MalformedEvent(f"event {event_id}: not an Azure subscription event type: {shown!r}")
    data = raw.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise MalformedEvent(f"event {event_id}: data is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedEvent(f"event {event_id}: data is missing or not an object")
    subject = raw.get("subject") or data.get("resourceUri")
    if not isinstance(subject, str) or not subject:
        raise MalformedEvent(f"event {event_id}: no subject and no data.resourceUri")
    if len(subject) > MAX_SUBJECT or _key_length(subject) > MAX_SUBJECT:
        raise MalformedEvent(f"event {event_id}: subject of {len(subject)} characters is no ARM id of a server")
    time_text = raw.get(time_key)
    time = _parse_time(time_text)
    claims = data.get("claims") if isinstance(data.get("claims"), dict) else {}
    http = data.get("httpRequest") if isinstance(data.get("httpRequest"), dict) else {}
    kept: dict[str, str] = {}
    for names, limit in ((NAME_CLAIMS, MAX_NAME), (UPN_CLAIMS, MAX_NAME), (("appid", "azp"), MAX_GUID),
                         (OBJECT_ID_CLAIMS, MAX_GUID), (("ipaddr",), MAX_IP)):
        name, value = fields.first(claims, names, limit)
        if name and value:
            kept[name] = value
    ip_claim = kept.get("ipaddr")
    client_ip = fields.text("httpRequest.clientIpAddress", http.get("clientIpAddress"), MAX_IP) or ip_claim
    bounded = {
        "operationName": fields.text("operationName", data.get("operationName"), MAX_OPERATION),
        "subscriptionId": fields.text("subscriptionId", data.get("subscriptionId"), MAX_GUID),
        "tenantId": fields.text("tenantId", data.get("tenantId"), MAX_GUID),
        "correlationId": fields.text("correlationId", data.get("correlationId"), MAX_GUID),
    }
    fields.log()
    caller = Caller(
        name=next((kept[n] for n in NAME_CLAIMS if n in kept), None),
        upn=next((kept[n] for n in UPN_CLAIMS if n in kept), None),
        app_id=kept.get("appid") or kept.get("azp"),
        object_id=next((kept[n] for n in OBJECT_ID_CLAIMS if n in kept), None),
        ip_address=ip_claim,
    )
    trimmed: dict[str, Any] = {
        "id": event_id, type_key: event_type, time_key: time_text, "subject": subject,
        "data": {**{k: v for k, v in bounded.items() if v is not None}, "claims": kept,
                 **({"httpRequest": {"clientIpAddress": client_ip}} if client_ip else {})},
    }
    if schema == "cloudevents":
        trimmed["specversion"] = "1.0"
    return ArmEvent(
        id=event_id,
        kind=event_type[len(EVENT_TYPE_PREFIX):],
        subject=subject,
        time=time,
        operation_name=bounded["operationName"] or "",
        subscription_id=bounded["subscriptionId"],
        tenant_id=bounded["tenantId"],
        correlation_id=bounded["correlationId"],
        caller=caller,
        client_ip=client_ip,
        schema=schema,
        raw=trimmed,
    )


def load_events(text: str) -> list[Any]:
    """Raw events from JSON text: an array of events or a single event."""
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise MalformedEvent(f"input is not JSON: {exc}") from exc
    return payload if isinstance(payload, list) else [payload]
