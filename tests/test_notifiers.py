"""What reaches the channel: hostile strings stay literal, throttling is waited out, secrets stay out."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from drift.local.receivers import TeamsReceiver
from drift.model import Alert, HistoryRecord
from notifiers import NotifierError
from notifiers.safe import DeliveryError, html_text, markdown, retry_after_seconds, with_retries
from notifiers.teams import TeamsWebhookNotifier, adaptive_card

HOSTILE = [
    "[Approve access](https://evil.example/phish)",
    "<at>Security Lead</at> please approve",
    "**URGENT** `rm -rf` ~~x~~",
    "{{DATE(2030-01-01T00:00:00Z, SHORT)}}",
    "# Heading\n- forged list item\n1. step",
    "right-to-left \u202eevil\u202c override",
    "<script>alert(1)</script><img src=x onerror=alert(1)>",
]


def record(**overrides: Any) -> HistoryRecord:
    base = dict(server_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforMySQL/flexibleServers/db1",
                server="db1", setting="firewall_rules", before="no rules", after="x", verdict="weakened",
                severity="critical", why="opens port 3306 to the whole internet", event_id="e1",
                event_time="2026-11-20T10:00:00+00:00", detected_at="2026-11-20T10:00:01+00:00",
                operation="Microsoft.DBforMySQL/flexibleServers/firewallRules/write", changed_by="Casey Admin",
                client_ip="203.0.113.7", correlation_id="c1", alert_status="pending",
                remediation="az mysql flexible-server firewall-rule delete", control="NS-2", exemption=None)
    base.update(overrides)
    return HistoryRecord(**base)


def texts(card: dict[str, Any]) -> list[str]:
    """Every string a reader sees: TextBlock texts and fact values, at any depth."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                found.append(node["text"])
            if "value" in node and "title" in node:
                found.append(node["value"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card["body"])
    return found


def unescaped_markup(text: str) -> list[str]:
    """Markup that would still be live after markdown's backslash escapes are taken out."""
    live = re.sub(r"\\.", "\x00", text)
    return [m for m in ("](", "[", "<", "**", "`", "{{", "://", "~~") if m in live] + (
        ["line-start markup"] if re.match(r"^\s*(#|-|\d+\.)\s", live) else [])


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("kind", ["change", "posture", "group", "digest"])
def test_hostile_values_cannot_inject_links_mentions_or_markup(hostile: str, kind: str) -> None:
    records = [record(after=f"{hostile} (0.0.0.0-255.255.255.255)", changed_by=hostile, why=hostile,
                      server=hostile if kind == "group" else "db1", remediation=hostile)]
    if kind != "change":
        records.append(record(setting="tls_version", after=hostile, severity="medium"))
    card = adaptive_card(Alert(kind, records, id="a1"))
    for text in texts(card):
        assert unescaped_markup(text) == [], text
        assert "\n" not in text and "\u202e" not in text
    assert card["actions"][0]["url"].startswith("https://portal.azure.com/#resource/subscriptions/")


def test_long_values_are_cut_with_a_marker_and_the_card_stays_small() -> None:
    card = adaptive_card(Alert("change", [record(after="r" * 70_000, why="w" * 70_000)], id="a1"))
    assert len(json.dumps(card)) < 10_000
    assert any("[cut, " in re.sub(r"\\(.)", r"\1", t) for t in texts(card))


def test_mail_text_is_html_escaped_and_defanged() -> None:
    assert html_text("<b>x</b> https://evil.example") == "&lt;b&gt;x&lt;/b&gt; https[:]//evil.example"
    assert markdown("aad_auth_only") == "aad_auth_only", "identifiers stay readable"


@pytest.mark.parametrize(("header", "seconds"), [("3", 3.0), ("0.25", 0.25), ("", None), ("soon", None)])
def test_retry_after_is_read_as_seconds(header: str, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_retries_honour_retry_after_and_give_up_within_the_budget() -> None:
    slept: list[float] = []
    calls = iter([DeliveryError("429", retryable=True, retry_after=2.0), DeliveryError("503", retryable=True), "ok"])

    def send() -> str:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert with_retries(send, sleep=slept.append) == "ok"
    assert slept == [2.0, 1.0], "Retry-After first, then exponential backoff"

    with pytest.raises(DeliveryError):
        with_retries(lambda: (_ for _ in ()).throw(DeliveryError("429", retryable=True, retry_after=60)),
                     sleep=slept.append, max_wait=10)
    with pytest.raises(DeliveryError):
        with_retries(lambda: (_ for _ in ()).throw(DeliveryError("400", retryable=False)), sleep=slept.append)
    assert slept == [2.0, 1.0], "no wait past the budget, none for a client error"


def test_a_throttled_webhook_is_retried_after_its_retry_after(teams: TeamsReceiver) -> None:
    teams.add_fault(429, times=2, retry_after=0.05)
    TeamsWebhookNotifier(teams.webhook_url, max_wait=1.0).send(Alert("change", [record()], id="a1"))
    assert len(teams.messages()) == 1


def test_a_failure_message_never_carries_the_webhook_url(teams: TeamsReceiver) -> None:
    secret_url = teams.webhook_url + "?sig=SECRET-SIGNATURE"
    teams.add_fault(403)
    with pytest.raises(NotifierError) as caught:
        TeamsWebhookNotifier(secret_url, max_wait=0).send(Alert("change", [record()], id="a1"))
    assert "SECRET" not in str(caught.value) and "403" in str(caught.value)
    unreachable = TeamsWebhookNotifier("http://127.0.0.1:9/hook?sig=SECRET-SIGNATURE", max_wait=0)
    with pytest.raises(NotifierError) as caught:
        unreachable.send(Alert("change", [record()], id="a1"))
    assert "SECRET" not in str(caught.value) and "SECRET" not in repr(unreachable)


def test_the_webhook_post_takes_no_proxy_from_the_environment(
    teams: TeamsReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The secret URL goes straight to Teams: a proxy variable (read per request by requests) is not honoured."""
    for variable in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # nothing listens there
    TeamsWebhookNotifier(teams.webhook_url, max_wait=0).send(Alert("change", [record()], id="a1"))
    assert len(teams.messages()) == 1
