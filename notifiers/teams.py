"""Teams Workflows webhook ("Send webhook alerts to a channel"): one Adaptive Card per alert.

The Workflows bot renders Adaptive Cards up to version 1.4 only, so the card uses FactSet and
Action.OpenUrl and nothing newer. The webhook URL carries a signature: it is a secret, so it
never appears in a log line or an exception message.
"""

from __future__ import annotations

from typing import Any

from drift.model import HistoryRecord
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


def adaptive_card(record: HistoryRecord) -> dict[str, Any]:
    facts = [
        ("Server", record.server),
        ("Setting", record.setting),
        ("Before", record.before if record.before is not None else "(first seen)"),
        ("After", record.after),
        ("Severity", record.severity.upper()),
        ("Changed by", record.changed_by),
        ("From IP", record.client_ip or "unknown"),
        ("When", record.event_time),
        ("Operation", record.operation),
        ("Event", record.event_id),
    ]
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": [
            {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True,
             "color": SEVERITY_COLOR.get(record.severity, "Default"),
             "text": f"{record.severity.upper()}: {_plain(record.setting)} {record.verdict} "
                     f"on {_plain(record.server)}"},
            {"type": "TextBlock", "wrap": True, "text": _plain(record.why)},
            {"type": "FactSet", "facts": [{"title": t, "value": _plain(v)} for t, v in facts]},
            {"type": "TextBlock", "wrap": True, "weight": "Bolder", "text": "Undo"},
            {"type": "TextBlock", "wrap": True, "fontType": "Monospace", "text": _plain(record.remediation or "")},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "Open in Azure portal", "url": f"{PORTAL}{record.server_id}"}],
    }


def message(record: HistoryRecord) -> dict[str, Any]:
    """The envelope the Workflows webhook expects."""
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": adaptive_card(record)}]}


class TeamsWebhookNotifier:
    name = "teams"

    def __init__(self, webhook_url: str, *, timeout: float = 10.0) -> None:
        import requests

        self._url = webhook_url
        self._timeout = timeout
        self._session = requests.Session()

    def __repr__(self) -> str:
        return "TeamsWebhookNotifier(<webhook url hidden>)"

    def send(self, record: HistoryRecord) -> None:
        import requests

        try:
            response = self._session.post(self._url, json=message(record), timeout=self._timeout)
        except requests.RequestException as exc:
            raise NotifierError(f"Teams webhook unreachable ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise NotifierError(f"Teams webhook answered HTTP {response.status_code}")
