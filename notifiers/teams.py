"""Teams Workflows webhook ("Send webhook alerts to a channel"): one Adaptive Card per alert.

The Workflows bot renders Adaptive Cards up to version 1.4 only, so the card uses FactSet,
Container and Action.OpenUrl and nothing newer. The webhook URL carries a signature: it is a
secret, so it never appears in a log line or an exception message.
"""

from __future__ import annotations

from typing import Any

import detectors
from drift.model import Alert, HistoryRecord
from notifiers import NotifierError

CARD_VERSION = "1.4"
SEVERITY_COLOR = {"critical": "Attention", "high": "Attention", "medium": "Warning", "low": "Accent",
                  "info": "Default"}
MAX_VALUE = 400
PORTAL = "https://portal.azure.com/#resource"


def _plain(value: object) -> str:
    """Text from outside (names, claims, values) shown literally: no markdown, links or mentions."""
    text = "" if value is None else str(value)
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE] + " …[cut]"
    for ch in "\\*`[]<>":
        text = text.replace(ch, "\\" + ch)
    return text


def _heading(text: str, severity: str) -> dict[str, Any]:
    return {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True,
            "color": SEVERITY_COLOR.get(severity, "Default"), "text": text}


def _who(record: HistoryRecord) -> list[tuple[str, str | None]]:
    return [("Changed by", record.changed_by), ("From IP", record.client_ip or "unknown"),
            ("When", record.event_time), ("Operation", record.operation), ("Event", record.event_id)]


def _change_body(record: HistoryRecord) -> list[dict[str, Any]]:
    detector = detectors.by_setting(record.setting)
    facts = [("Server", record.server), ("Setting", f"{detector.title} ({record.setting})"),
             ("Before", record.before if record.before is not None else "(first seen)"), ("After", record.after),
             ("Severity", record.severity.upper()), ("Control", f"MCSB {record.control}"), *_who(record)]
    return [
        _heading(f"{record.severity.upper()}: {_plain(detector.title)} {record.verdict} on {_plain(record.server)}",
                 record.severity),
        {"type": "TextBlock", "wrap": True, "text": _plain(record.why)},
        {"type": "FactSet", "facts": [{"title": t, "value": _plain(v)} for t, v in facts]},
        {"type": "TextBlock", "wrap": True, "weight": "Bolder", "text": "Undo"},
        {"type": "TextBlock", "wrap": True, "text": _plain(detector.remediation)},
        {"type": "TextBlock", "wrap": True, "fontType": "Monospace", "text": _plain(record.remediation or "")},
    ]


def _posture_body(alert: Alert) -> list[dict[str, Any]]:
    first = alert.records[0]
    body: list[dict[str, Any]] = [
        _heading(f"{alert.severity.upper()}: new server {_plain(alert.server)} has {len(alert.records)} "
                 "gap(s) against the security baseline", alert.severity),
        {"type": "FactSet", "facts": [{"title": t, "value": _plain(v)}
                                      for t, v in [("Server", first.server_id), *_who(first)]]},
    ]
    for record in alert.records:
        detector = detectors.by_setting(record.setting)
        body.append({"type": "Container", "separator": True, "items": [
            {"type": "TextBlock", "wrap": True, "weight": "Bolder", "color": SEVERITY_COLOR.get(record.severity),
             "text": f"{record.severity.upper()} · {_plain(detector.title)} · MCSB {record.control}"},
            {"type": "TextBlock", "wrap": True, "text": f"{_plain(record.after)}: {_plain(record.why)}"},
            {"type": "TextBlock", "wrap": True, "fontType": "Monospace", "isSubtle": True,
             "text": _plain(record.remediation or "")},
        ]})
    return body


def adaptive_card(alert: Alert) -> dict[str, Any]:
    body = _posture_body(alert) if alert.kind == "posture" else _change_body(alert.records[0])
    actions = [{"type": "Action.OpenUrl", "title": "Open in Azure portal", "url": f"{PORTAL}{alert.server_id}"}]
    if alert.kind != "posture":
        actions.append({"type": "Action.OpenUrl", "title": "How to fix",
                        "url": detectors.by_setting(alert.records[0].setting).doc_url})
    return {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": CARD_VERSION, "msteams": {"width": "Full"}, "body": body, "actions": actions}


def message(alert: Alert) -> dict[str, Any]:
    """The envelope the Workflows webhook expects."""
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": adaptive_card(alert)}]}


class TeamsWebhookNotifier:
    name = "teams"

    def __init__(self, webhook_url: str, *, timeout: float = 10.0) -> None:
        import requests

        self._url = webhook_url
        self._timeout = timeout
        self._session = requests.Session()

    def __repr__(self) -> str:
        return "TeamsWebhookNotifier(<webhook url hidden>)"

    def send(self, alert: Alert) -> None:
        import requests

        try:
            response = self._session.post(self._url, json=message(alert), timeout=self._timeout)
        except requests.RequestException as exc:
            raise NotifierError(f"Teams webhook unreachable ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise NotifierError(f"Teams webhook answered HTTP {response.status_code}")
