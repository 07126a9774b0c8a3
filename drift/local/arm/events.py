"""The Event Grid events the stand-in emits for its writes, and the queue tests take them from.

Every successful PUT/PATCH/DELETE/POST queues one event in the Event Grid schema (system topic of the
subscription) under the same lock as the state change, with the caller's claims and the authorization
evidence Azure puts there; `EventVariation` may duplicate, delay or reshape them as Azure's deliveries do.
`EventEmitter` is the part of `ArmStandIn` that emits and hands out events.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from drift.local import traffic
from drift.local.arm.errors import JsonDict
from drift.local.arm.model import MYSQL_PROVIDER, SERVER_TYPE, utc_now
from drift.local.arm.routes import Request, Route
from drift.local.credential import CLAIM_OBJECT_ID, CLAIM_UPN
from drift.local.variation import EventVariation

PUBLIC_ARM_URL = "https://management.azure.com"
CONTRIBUTOR_ROLE_DEFINITION_ID = "b24988ac-6180-42a0-ab88-20f7382dd24c"


def event_time(moment: datetime) -> str:
    """ISO 8601 with 7 fractional digits and ``Z``, as Event Grid writes ``eventTime``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def stringify_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Azure puts claims into events as a string-to-string map (``"iat": "1531764543"``)."""
    out: dict[str, str] = {}
    for key, value in claims.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, (dict, list)):
            out[key] = json.dumps(value, separators=(",", ":"))
        else:
            out[key] = str(value)
    return out


class EventEmitter:
    """The event queue of `ArmStandIn` (the methods use its state; the caller of `_emit` holds the lock)."""

    tenant_id: str
    emit_events: bool
    event_variation: EventVariation
    _event_sequence: int
    _lock: threading.RLock
    _events_ready: threading.Condition
    _events: deque[JsonDict]
    _stopping: bool

    def next_event(self, timeout: float | None = None) -> JsonDict | None:
        """The oldest queued event, waiting up to ``timeout`` seconds (forever if None)."""
        with self._events_ready:
            self._events_ready.wait_for(lambda: bool(self._events) or self._stopping, timeout)
            return self._events.popleft() if self._events else None

    def pending_events(self) -> int:
        """How many events are queued and not yet taken."""
        with self._lock:
            return len(self._events)

    def drain_events(self) -> list[JsonDict]:
        """Every event queued now, oldest first; does not wait."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
            return events

    def wait_events(self, wait: float) -> list[JsonDict]:
        """Wait up to ``wait`` seconds for at least one event, then drain all (the long poll)."""
        with self._events_ready:
            self._events_ready.wait_for(lambda: bool(self._events) or self._stopping, wait)
            return self.drain_events()

    def _emit(self, request: Request, route: Route, operation: str, kind: str, provider: str,
              created: bool = False) -> None:
        """Queue one subscription event for the target of ``route`` (caller holds the lock)."""
        if not self.emit_events:
            return
        subject = request.path_prefix(route.depth)
        claims = request.claims
        principal_id = str(claims.get(CLAIM_OBJECT_ID) or claims.get("oid") or "")
        is_user = bool(claims.get("upn") or claims.get(CLAIM_UPN))
        sub = route.subscription_id
        url = PUBLIC_ARM_URL + request.raw_path + (f"?{request.raw_query}" if request.raw_query else "")
        event = {
            "subject": subject,
            "eventType": f"Microsoft.Resources.Resource{kind}Success",
            "eventTime": event_time(utc_now()),
            "id": str(uuid.uuid4()),
            "data": {
                "authorization": {
                    "scope": subject,
                    "action": operation,
                    "evidence": {
                        "role": "Contributor",
                        "roleAssignmentScope": f"/subscriptions/{sub}",
                        "roleAssignmentId": uuid.uuid5(uuid.NAMESPACE_URL, f"{sub}/{principal_id}").hex,
                        "roleDefinitionId": CONTRIBUTOR_ROLE_DEFINITION_ID.replace("-", ""),
                        "principalId": principal_id.replace("-", ""),
                        "principalType": "User" if is_user else "ServicePrincipal",
                    },
                },
                "claims": stringify_claims(claims),
                "correlationId": request.correlation_id,
                "httpRequest": {
                    "clientRequestId": request.headers.get("x-ms-client-request-id") or "",
                    "clientIpAddress": str(claims.get("ipaddr") or request.client_ip),
                    "method": request.method,
                    "url": url,
                },
                "resourceProvider": provider,
                "resourceUri": subject,
                "operationName": operation,
                "status": "Succeeded",
                "subscriptionId": sub,
                "tenantId": self.tenant_id,
            },
            "dataVersion": "2",
            "metadataVersion": "1",
            "topic": f"/subscriptions/{sub}",
        }
        self._event_sequence += 1
        variation = self.event_variation
        for delivery in variation.deliveries(event, created=created, sequence=self._event_sequence):
            traffic.report_event(delivery)
            if variation.delay > 0:
                timer = threading.Timer(variation.delay, self._deliver, (delivery,))
                timer.daemon = True
                timer.start()
            else:
                self._events.append(delivery)
        self._events_ready.notify_all()

    def _deliver(self, event: JsonDict) -> None:
        with self._events_ready:
            self._events.append(event)
            self._events_ready.notify_all()

    def _emit_mysql(self, request: Request, route: Route, suffix: str, kind: str, created: bool = False) -> None:
        self._emit(request, route, f"{SERVER_TYPE}/{suffix}", kind, MYSQL_PROVIDER, created)
