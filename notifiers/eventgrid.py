"""Drift findings as CloudEvents on an Event Grid custom topic, for Sentinel, Logic Apps or a SOAR.

Each alert is one CloudEvent whose `id` is the alert's idempotency key, so a subscriber can
drop the duplicate that an at-least-once retry may publish. The type says what happened
(`MySqlDrift.SecurityWeakened`, `MySqlDrift.PostureGaps`); `data` carries the history records.
"""

from __future__ import annotations

from typing import Any

from drift.model import Alert
from notifiers import NotifierError

TYPES = {"change": "MySqlDrift.SecurityWeakened", "group": "MySqlDrift.SecurityWeakened",
         "digest": "MySqlDrift.SecurityWeakened", "posture": "MySqlDrift.PostureGaps",
         "resolved": "MySqlDrift.FindingResolved"}


class EventGridNotifier:
    name = "eventgrid"

    def __init__(self, endpoint: str, credential: Any, *, connection_verify: str | bool = True) -> None:
        self._endpoint = endpoint
        self._credential = credential
        self._verify = connection_verify
        self._client: Any = None

    def send(self, alert: Alert) -> None:
        from azure.core.exceptions import AzureError
        from azure.core.messaging import CloudEvent
        from azure.eventgrid import EventGridPublisherClient

        if self._client is None:
            self._client = EventGridPublisherClient(self._endpoint, self._credential)
        event = CloudEvent(
            source=alert.server_id, type=TYPES.get(alert.kind, "MySqlDrift.SecurityWeakened"),
            subject=",".join(sorted({r.setting for r in alert.records})), id=alert.key if alert.id else None,
            data={"kind": alert.kind, "severity": alert.severity.value,
                  "records": [r.to_dict() for r in alert.records],
                  **({"resolves": alert.resolves} if alert.kind == "resolved" else {})},
        )
        try:
            # Per call: azure-eventgrid 4.2x drops the constructor's transport options for basic topics.
            self._client.send([event], connection_verify=self._verify)
        except AzureError as exc:
            raise NotifierError(f"Event Grid publish failed ({type(exc).__name__})") from None
