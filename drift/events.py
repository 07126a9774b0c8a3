"""Azure subscription events in, in either schema, out as one plain `ArmEvent`.

Event Grid delivers the system topic `Microsoft.Resources.Subscriptions` in the Event Grid
schema (`eventType`, `eventTime`, `topic`) or as CloudEvents 1.0 (`type`, `time`, `source`,
`specversion`); the payload under `data` is the same. Nothing here trusts the input: a bad
event raises `MalformedEvent` with a message that says what is wrong, so the caller can log
it and go on with the rest of the batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

UPN_CLAIMS = ("upn", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "unique_name")
OBJECT_ID_CLAIMS = ("oid", "http://schemas.microsoft.com/identity/claims/objectidentifier")
NAME_CLAIMS = ("name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
EVENT_TYPE_PREFIX = "Microsoft.Resources."


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


def _first(claims: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise MalformedEvent("event has no time")
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


def parse_event(raw: Any) -> ArmEvent:
    """One event of either schema as an `ArmEvent`; raises MalformedEvent."""
    if not isinstance(raw, dict):
        raise MalformedEvent(f"event is a {type(raw).__name__}, not a JSON object")
    if "specversion" in raw or "specVersion" in raw:
        schema, type_key, time_key = "cloudevents", "type", "time"
    else:
        schema, type_key, time_key = "eventgrid", "eventType", "eventTime"
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEvent("event has no id")
    event_type = raw.get(type_key)
    if not isinstance(event_type, str) or not event_type.startswith(EVENT_TYPE_PREFIX):
        raise MalformedEvent(f"event {event_id}: not an Azure subscription event type: {event_type!r}")
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
    claims = data.get("claims") if isinstance(data.get("claims"), dict) else {}
    http = data.get("httpRequest") if isinstance(data.get("httpRequest"), dict) else {}
    client_ip = http.get("clientIpAddress") or claims.get("ipaddr")
    caller = Caller(
        name=_first(claims, NAME_CLAIMS),
        upn=_first(claims, UPN_CLAIMS),
        app_id=_first(claims, ("appid", "azp")),
        object_id=_first(claims, OBJECT_ID_CLAIMS),
        ip_address=claims.get("ipaddr") if isinstance(claims.get("ipaddr"), str) else None,
    )
    return ArmEvent(
        id=event_id,
        kind=event_type[len(EVENT_TYPE_PREFIX):],
        subject=subject,
        time=_parse_time(raw.get(time_key)),
        operation_name=str(data.get("operationName") or ""),
        subscription_id=data.get("subscriptionId"),
        tenant_id=data.get("tenantId"),
        correlation_id=data.get("correlationId"),
        caller=caller,
        client_ip=client_ip if isinstance(client_ip, str) else None,
        schema=schema,
        raw=raw,
    )


def load_events(text: str) -> list[Any]:
    """Raw events from JSON text: an array of events or a single event."""
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise MalformedEvent(f"input is not JSON: {exc}") from exc
    return payload if isinstance(payload, list) else [payload]
