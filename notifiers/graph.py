"""Microsoft Graph: alerts by mail (`sendMail`, app-only) and as a channel message (delegated only).

What works for an always-on app with a managed identity is `POST /users/{sender}/sendMail` with
the application permission `Mail.Send` (scoped to one mailbox with Exchange RBAC for
Applications), e.g. to the security team's list or to the channel's e-mail address.

Graph does not let an application post a live channel message: app-only
`POST /teams/{t}/channels/{c}/messages` is for migration only and answers 401 ("Message POST is
allowed in application-only context only for import purposes"). `GraphChannelNotifier` is for
tenants that run the detector with a delegated identity (`ChannelMessage.Send`); otherwise use
the Workflows webhook or mail.

`msgraph` is imported only here, on the path that sends through Graph (cold starts: ~1.2 s).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from typing import Any

import detectors
from drift.model import Alert
from notifiers import NotifierError
from notifiers.safe import clip, html_text
from notifiers.teams import adaptive_card

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
SEVERITY_HTML = {"critical": "#a4262c", "high": "#d13438", "medium": "#ca5010", "low": "#0078d4", "info": "#605e5c"}


def graph_client(credential: Any, endpoint: str) -> Any:
    from msgraph import GraphServiceClient

    client = GraphServiceClient(credentials=credential, scopes=[GRAPH_SCOPE])
    client.request_adapter.base_url = endpoint.rstrip("/") + "/v1.0"
    return client


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def run(coroutine: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
    """Run one Graph call from synchronous code (the Function's handlers are synchronous).

    msgraph's HTTP client binds to the event loop it first runs on, so every call goes to one
    long-lived loop in a background thread rather than a new `asyncio.run` each time.
    """
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="graph-loop", daemon=True).start()
    return asyncio.run_coroutine_threadsafe(coroutine, _loop).result(timeout)


def _graph_error(exc: Exception) -> str:
    status = getattr(exc, "response_status_code", None)
    return f"Graph answered HTTP {status}" if status else f"Graph call failed ({type(exc).__name__})"


def subject(alert: Alert) -> str:
    first = alert.records[0]
    if alert.kind == "change":
        what = f"{detectors.by_setting(first.setting).title} {first.verdict} on {first.server}"
    elif alert.kind == "posture":
        what = f"new server {first.server}: {len(alert.records)} gap(s) against the baseline"
    elif alert.kind == "resolved":
        title = detectors.by_setting(first.setting).title if first.setting != "server" else "Server"
        return clip(f"[RESOLVED] mysql-drift: {' '.join(f'{title} on {first.server}'.split())[:200]} "
                    f"(alert {alert.resolves or '-'})", 300)
    else:
        what = f"{len(alert.records)} weakening change(s) on {alert.server}"
    return clip(f"[{alert.severity.upper()}] mysql-drift: {' '.join(what.split())[:200]}", 300)


def html_body(alert: Alert) -> str:
    rows = []
    for r in alert.records:
        title = detectors.by_setting(r.setting).title if r.setting != "server" else "Server"
        cells = [r.severity.upper(), r.server, title, r.before if r.before is not None else "(first seen)", r.after,
                 r.why, r.changed_by, r.client_ip or "unknown", r.event_time, r.remediation]
        rows.append("<tr>" + "".join(f"<td>{html_text(c, 600)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th align='left'>{h}</th>" for h in (
        "Severity", "Server", "Setting", "Before", "After", "Why", "Changed by", "From IP", "When", "Undo"))
    color = SEVERITY_HTML.get(alert.severity.value, "#605e5c")
    portal = f"https://portal.azure.com/#resource{html_text(alert.server_id, 600)}"
    return (f"<h2 style='color:{color}'>{html_text(subject(alert), 300)}</h2>"
            f"<table border='1' cellpadding='4' cellspacing='0'><tr>{head}</tr>{''.join(rows)}</table>"
            f"<p><a href='{portal}'>Open the server in the Azure portal</a> · alert id {html_text(alert.key)}</p>")


class GraphMailNotifier:
    """`sendMail` from one mailbox, app-only (managed identity with Mail.Send)."""

    name = "mail"

    def __init__(self, credential: Any, sender: str, recipients: list[str], *,
                 graph_endpoint: str = "https://graph.microsoft.com") -> None:
        if not recipients:
            raise ValueError("mail notifier needs at least one recipient")
        self._credential, self._endpoint = credential, graph_endpoint
        self.sender, self.recipients = sender, recipients
        self._client: Any = None

    def send(self, alert: Alert) -> None:
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.email_address import EmailAddress
        from msgraph.generated.models.importance import Importance
        from msgraph.generated.models.internet_message_header import InternetMessageHeader
        from msgraph.generated.models.item_body import ItemBody
        from msgraph.generated.models.message import Message
        from msgraph.generated.models.recipient import Recipient
        from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

        if self._client is None:
            self._client = graph_client(self._credential, self._endpoint)
        message = Message(
            subject=subject(alert),
            body=ItemBody(content_type=BodyType.Html, content=html_body(alert)),
            to_recipients=[Recipient(email_address=EmailAddress(address=a)) for a in self.recipients],
            importance=Importance.High if alert.severity.rank >= 3 else Importance.Normal,
            internet_message_headers=[InternetMessageHeader(name="X-MySqlDrift-Alert-Id", value=alert.key)],
        )
        body = SendMailPostRequestBody(message=message, save_to_sent_items=False)
        try:  # kiota's retry handler already retries 429/503/504 honouring Retry-After
            run(self._client.users.by_user_id(self.sender).send_mail.post(body))
        except Exception as exc:
            raise NotifierError(_graph_error(exc)) from None


class GraphChannelNotifier:
    """A channel message with the alert's Adaptive Card: needs a delegated identity (see module doc)."""

    name = "channel"

    def __init__(self, credential: Any, team_id: str, channel_id: str, *,
                 graph_endpoint: str = "https://graph.microsoft.com") -> None:
        self._credential, self._endpoint = credential, graph_endpoint
        self.team_id, self.channel_id = team_id, channel_id
        self._client: Any = None

    def send(self, alert: Alert) -> None:
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.chat_message import ChatMessage
        from msgraph.generated.models.chat_message_attachment import ChatMessageAttachment
        from msgraph.generated.models.item_body import ItemBody

        if self._client is None:
            self._client = graph_client(self._credential, self._endpoint)
        message = ChatMessage(
            body=ItemBody(content_type=BodyType.Html, content='<attachment id="card"></attachment>'),
            attachments=[ChatMessageAttachment(id="card", content_type="application/vnd.microsoft.card.adaptive",
                                               content=json.dumps(adaptive_card(alert)))],
        )
        try:
            run(self._client.teams.by_team_id(self.team_id).channels.by_channel_id(self.channel_id)
                .messages.post(message))
        except Exception as exc:
            raise NotifierError(_graph_error(exc)) from None
