"""Drift findings as CloudEvents on an Event Grid custom topic, for Sentinel, Security Lake, Logic Apps or a SOAR.

Each history row of an alert is one CloudEvent whose `data` is one OCSF 1.8.0 Compliance Finding
(`drift.ocsf`): SIEMs and data lakes take one OCSF event per record, and a 200-record digest does not
become one event past Event Grid's 1 MB. The CloudEvent's `id` is the row's stable id (`metadata.uid` of the
OCSF event), so a subscriber drops the duplicate an at-least-once retry may publish; the extension attributes
`alertkey` (the card's "Alert id") and `alertkind` (`change`, `group`, `digest`, `posture`, `resolved`) group
the events of one alert; a `resolved` alert's events also carry `resolves`, the key of the alert that opened
the finding. The type carries the OCSF version (`MySqlDrift.Finding.OCSF.v1_8`): a subscriber filters
on it and a future schema gets a new type instead of surprising an old subscriber. An alert's events go in
one publish call, split only where a batch would pass 1 MB.
"""

from __future__ import annotations

import json
from typing import Any

from drift import ocsf
from drift.model import Alert
from notifiers import NotifierError

TYPE = "MySqlDrift.Finding.OCSF.v" + "_".join(ocsf.VERSION.split(".")[:2])
MAX_BATCH_BYTES = 1_000_000  # Event Grid refuses a publish over 1 MB
_ENVELOPE_BYTES = 1_000  # a CloudEvent's own attributes, generously


def cloud_events(alert: Alert) -> list[Any]:
    """The alert's CloudEvents, one OCSF finding each."""
    from azure.core.messaging import CloudEvent

    events = []
    for record in alert.records:
        data = ocsf.finding_event(record)
        extensions = {"alertkind": alert.kind}
        if alert.id:
            extensions["alertkey"] = alert.key
        if alert.resolves:
            extensions["resolves"] = alert.resolves  # a resolved card: the alert key of the finding's first alert
        events.append(CloudEvent(
            source=record.server_id, type=TYPE, subject=data["metadata"]["event_code"], id=data["metadata"]["uid"],
            data=data, datacontenttype="application/json", dataschema=ocsf.SCHEMA_URL, extensions=extensions))
    return events


def batches(events: list[Any], limit: int = MAX_BATCH_BYTES) -> list[list[Any]]:
    """Consecutive runs of events whose serialized size stays under `limit`."""
    out: list[list[Any]] = []
    size = 0
    for event in events:
        cost = len(json.dumps(event.data).encode()) + _ENVELOPE_BYTES
        if not out or size + cost > limit:
            out.append([])
            size = 0
        out[-1].append(event)
        size += cost
    return out


class EventGridNotifier:
    name = "eventgrid"

    def __init__(self, endpoint: str, credential: Any, *, connection_verify: str | bool = True) -> None:
        self._endpoint = endpoint
        self._credential = credential
        self._verify = connection_verify
        self._client: Any = None

    def send(self, alert: Alert) -> None:
        from azure.core.exceptions import AzureError
        from azure.eventgrid import EventGridPublisherClient

        if self._client is None:
            self._client = EventGridPublisherClient(self._endpoint, self._credential)
        try:
            for batch in batches(cloud_events(alert)):
                # Per call: azure-eventgrid 4.2x drops the constructor's transport options for basic topics.
                self._client.send(batch, connection_verify=self._verify)
        except AzureError as exc:
            raise NotifierError(f"Event Grid publish failed ({type(exc).__name__})") from None
