"""Teams Workflows webhook ("Send webhook alerts to a channel"): one Adaptive Card per alert.

The Workflows bot renders Adaptive Cards up to version 1.4 only, so the cards use FactSet,
Container, ColumnSet and Action.OpenUrl and nothing newer. Every value that comes from outside
goes through `safe.markdown`. The webhook URL carries a signature: it is a secret, so it never
appears in a log line or an exception message.
"""

from __future__ import annotations

import json
from typing import Any

import detectors
from drift.model import Alert, HistoryRecord, severity_counts
from notifiers import NotifierError
from notifiers.safe import DeliveryError, markdown, retry_after_seconds, with_retries

CARD_VERSION = "1.4"
SEVERITY_COLOR = {"critical": "Attention", "high": "Attention", "medium": "Warning", "low": "Accent",
                  "info": "Default"}
PORTAL = "https://portal.azure.com/#resource"
MAX_LISTED = 25  # records listed on one card; the rest are counted
# The Workflows webhook refuses messages over about 28 KB ("Request Entity too large"): a card lists
# the records that fit under this, with a margin, and counts the rest.
MAX_MESSAGE_BYTES = 24_000


def _heading(text: str, severity: str) -> dict[str, Any]:
    return {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True,
            "color": SEVERITY_COLOR.get(severity, "Default"), "text": text}


def _facts(pairs: list[tuple[str, object]]) -> dict[str, Any]:
    return {"type": "FactSet", "facts": [{"title": t, "value": markdown(v)} for t, v in pairs]}


def _when(value: str | None) -> str:
    """`2026-11-20T10:00:07.512+00:00` as `2026-11-20 10:00:07 UTC`."""
    return f"{value[:10]} {value[11:19]} UTC" if value and len(value) >= 19 else (value or "unknown")


def _operation(value: str) -> str:
    """The operation without the long provider prefix, which would squeeze the fact titles."""
    return value.removeprefix("Microsoft.DBforMySQL/") or value


def _server(record: HistoryRecord) -> str:
    """The server and its resource group; a subscription-level setting by its subscription."""
    parts = record.server_id.strip("/").split("/")
    if len(parts) > 3 and parts[2].lower() == "resourcegroups":
        return f"{record.server} (resource group {parts[3]})"
    return f"{record.server} (subscription {parts[1] if len(parts) > 1 else '?'})"


def _who(record: HistoryRecord) -> list[tuple[str, object]]:
    return [("Changed by", record.changed_by), ("From IP", record.client_ip or "unknown"),
            ("When", _when(record.event_time)), ("Operation", _operation(record.operation)),
            ("Correlation", record.correlation_id or "-")]


def _title(record: HistoryRecord) -> str:
    return detectors.by_setting(record.setting).title if record.setting != "server" else "Server"


def _change_body(alert: Alert) -> list[dict[str, Any]]:
    record = alert.records[0]
    detector = detectors.by_setting(record.setting)
    facts: list[tuple[str, object]] = [
        ("Server", _server(record)), ("Setting", f"{detector.title} ({record.setting})"),
        ("Before", record.before if record.before is not None else "(first seen)"), ("After", record.after),
        ("Severity", record.severity.upper()), ("Control", f"MCSB {record.control}"), *_who(record),
        ("Alert id", alert.key)]
    return [
        _heading(f"{record.severity.upper()}: {markdown(detector.title)} {record.verdict} on {markdown(record.server)}",
                 record.severity),
        {"type": "TextBlock", "wrap": True, "text": markdown(record.why, 600)},
        _facts(facts),
        {"type": "TextBlock", "wrap": True, "weight": "Bolder", "text": "Undo"},
        {"type": "TextBlock", "wrap": True, "text": markdown(detector.remediation, 600)},
        {"type": "TextBlock", "wrap": True, "fontType": "Monospace", "text": markdown(record.remediation, 600)},
    ]


def _record_item(record: HistoryRecord, with_server: bool) -> dict[str, Any]:
    where = f" · {markdown(record.server)}" if with_server else ""
    return {"type": "Container", "separator": True, "items": [
        {"type": "TextBlock", "wrap": True, "weight": "Bolder", "color": SEVERITY_COLOR.get(record.severity),
         "text": f"{record.severity.upper()} · {markdown(_title(record))}{where} · MCSB {markdown(record.control)}"},
        {"type": "TextBlock", "wrap": True, "spacing": "None",
         "text": f"{markdown(record.before if record.before is not None else '(first seen)', 120)} → "
                 f"{markdown(record.after, 120)}"},
        {"type": "TextBlock", "wrap": True, "isSubtle": True, "spacing": "None", "text": markdown(record.why, 300)},
        {"type": "TextBlock", "wrap": True, "fontType": "Monospace", "isSubtle": True, "spacing": "None",
         "text": markdown(record.remediation, 300)},
    ]}


def serialized_size(payload: Any) -> int:
    """Bytes of a payload as it is posted (JSON with ASCII escapes, the default of every HTTP client here)."""
    return len(json.dumps(payload).encode())


def _more(hidden: int) -> dict[str, Any]:
    return {"type": "TextBlock", "wrap": True, "isSubtle": True,
            "text": f"… and {hidden} more: run `mysql-drift history --verdict weakened`"}


def _fitting(head: list[dict[str, Any]], items: list[dict[str, Any]], total: int,
             actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As many listed records as keep the message under MAX_MESSAGE_BYTES, then "and N more"."""
    base = serialized_size(_message(_card([*head, _more(total)], actions)))
    budget, listed = MAX_MESSAGE_BYTES - base, []
    for item in items:
        budget -= serialized_size(item) + 2  # ", " between list items
        if budget < 0:
            break
        listed.append(item)
    hidden = total - len(listed)
    return [*head, *listed, *([_more(hidden)] if hidden else [])]


def _list_body(alert: Alert, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first, count = alert.records[0], len(alert.records)
    servers = sorted({r.server for r in alert.records})
    severity = alert.severity.value
    if alert.kind == "posture":
        heading = f"{severity.upper()}: new server {markdown(first.server)} has {count} gap(s) against the baseline"
        facts: list[tuple[str, object]] = [("Server", _server(first)), *_who(first)]
    elif alert.kind == "group":
        heading = (f"{severity.upper()}: {count} weakening change(s) in one operation on "
                   f"{markdown(', '.join(servers))}")
        facts = [("Servers", ", ".join(servers)), *_who(first)]
    else:
        heading = f"{severity.upper()}: digest of {count} further weakening change(s) (alert rate limit reached)"
        people = sorted({r.changed_by for r in alert.records})
        facts = [("Severities", ", ".join(f"{n} {s}" for s, n in severity_counts(alert))),
                 ("Servers", ", ".join(servers)), ("Changed by", ", ".join(people)),
                 ("From", min(r.event_time or "" for r in alert.records)),
                 ("To", max(r.event_time or "" for r in alert.records))]
    items = [_record_item(r, len(servers) > 1) for r in alert.records[:MAX_LISTED]]
    return _fitting([_heading(heading, severity), _facts(facts)], items, count, actions)


def resolved_body(alert: Alert) -> list[dict[str, Any]]:
    """A "resolved" card: the weakening an earlier alert showed was undone (`Alert.resolves` is its id)."""
    record = alert.records[0]
    facts: list[tuple[str, object]] = [
        ("Server", _server(record)), ("Setting", f"{_title(record)} ({record.setting})"), ("Now", record.after),
        ("Undone by", record.changed_by), ("From IP", record.client_ip or "unknown"),
        ("When", _when(record.event_time)),
        ("Found by", "reconcile scan" if record.operation == "reconcile" else _operation(record.operation)),
        ("Original alert id", alert.resolves or "-"), ("Alert id", alert.key)]
    return [{"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True, "color": "Good",
             "text": f"Resolved: {markdown(_title(record))} on {markdown(record.server)}"},
            {"type": "TextBlock", "wrap": True, "text": markdown(record.why, 600)}, _facts(facts)]


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": CARD_VERSION, "msteams": {"width": "Full"}, "body": body, "actions": actions}


def adaptive_card(alert: Alert) -> dict[str, Any]:
    actions = [{"type": "Action.OpenUrl", "title": "Open in Azure portal", "url": f"{PORTAL}{alert.server_id}"}]
    settings = sorted({r.setting for r in alert.records if r.setting != "server"})
    if len(settings) == 1:
        actions.append({"type": "Action.OpenUrl", "title": "How to fix",
                        "url": detectors.by_setting(settings[0]).doc_url})
    if alert.kind == "resolved":
        return _card(resolved_body(alert), actions[:1])
    body = _change_body(alert) if alert.kind == "change" else _list_body(alert, actions)
    return _card(body, actions)


def _message(card: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def message(alert: Alert) -> dict[str, Any]:
    """The envelope the Workflows webhook expects, under MAX_MESSAGE_BYTES."""
    return _message(adaptive_card(alert))


class TeamsWebhookNotifier:
    """Posts through azure-core's pipeline, the one HTTP stack of the app (built on the first post).

    No retry policy of azure-core's (`with_retries` honours `Retry-After` within `max_wait`), no
    logging or tracing policy (they would carry the secret URL), and no proxy or CA settings
    from the environment (which requests would otherwise rescan on every request).
    """

    name = "teams"

    def __init__(self, webhook_url: str, *, timeout: float = 10.0, max_wait: float = 10.0,
                 name: str = "teams") -> None:
        self.name = name
        self._url = webhook_url
        self._timeout = timeout
        self._max_wait = max_wait
        self._pipeline: Any = None

    def __repr__(self) -> str:
        return "TeamsWebhookNotifier(<webhook url hidden>)"

    def _client(self) -> Any:
        if self._pipeline is None:
            from azure.core import PipelineClient
            from azure.core.pipeline.policies import HeadersPolicy, RedirectPolicy, UserAgentPolicy

            self._pipeline = PipelineClient(
                base_url="", policies=[HeadersPolicy({"Accept": "application/json"}),
                                       UserAgentPolicy("mysql-drift"), RedirectPolicy()],
                use_env_settings=False)
        return self._pipeline

    def _post(self, payload: dict[str, Any]) -> None:
        from azure.core.exceptions import AzureError
        from azure.core.rest import HttpRequest

        try:
            response = self._client().send_request(HttpRequest("POST", self._url, json=payload),
                                                   connection_timeout=self._timeout, read_timeout=self._timeout)
        except AzureError as exc:
            raise DeliveryError(f"Teams webhook unreachable ({type(exc).__name__})", retryable=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryError(f"Teams webhook answered HTTP {response.status_code}", retryable=True,
                                retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        if response.status_code >= 300:
            raise DeliveryError(f"Teams webhook answered HTTP {response.status_code}", retryable=False)

    def send(self, alert: Alert) -> None:
        payload = message(alert)
        try:
            with_retries(lambda: self._post(payload), max_wait=self._max_wait)
        except DeliveryError as exc:
            raise NotifierError(str(exc)) from None
