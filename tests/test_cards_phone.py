"""Cards an analyst reads on a phone (issue 13, item 4).

CRITICAL looks different from HIGH, in words as well as colour; the ids one only looks up are folded
under "Details"; a "Review" button opens the console's page for the alert; every card names the
subscription; lists are worst first and a digest is summarised by setting and severity; undo
commands carry the values the detector saw before; parameter values read as Azure writes them; every
card stays under the Workflows limit. The rendering tests draw the cards at 375 px in Chromium (the
harness of test_card_render) and save them under `artifacts/cards/phone-*.png`; they skip without it.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

import detectors
from detectors import Context
from drift.armid import mysql_server_ref
from drift.config import Settings
from drift.engine import DriftEngine
from drift.local.arm import ArmStandIn
from drift.local.cards import PHONE_WIDTH, render_cards, renderer_missing
from drift.local.credential import LocalCredential
from drift.local.receivers import GraphReceiver, TeamsReceiver
from drift.model import Alert, HistoryRecord, Judgement
from drift.runtime import build_engine, build_notifiers
from drift.undo import remediation, undo_command
from notifiers.graph import GraphChannelNotifier, GraphMailNotifier, html_body
from notifiers.teams import (
    DETAILS_ID,
    DIGEST_LISTED,
    MAX_MESSAGE_BYTES,
    adaptive_card,
    heading_text,
    listed_records,
    message,
    serialized_size,
)
from tests.conftest import SUBSCRIPTION
from tests.helpers import WORKSPACE, add_rule, create_compliant_server, diagnostic_setting, server_id
from tests.test_graph_and_eventgrid import lower_keys

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "cards"
CONSOLE = "https://drift-app.azurewebsites.net/api/console"
SUB = "3f2a9c1e-5b7d-4e0f-9a8b-1c2d3e4f5a6b"
NAMES = {SUB: "Payments Production"}


def _record(server: str = "mysql-payments-01", setting: str = "firewall_rules", severity: str = "critical", *,
            before: str | None = "office (198.51.100.10-198.51.100.20)",
            after: str = "AllowAll (0.0.0.0-255.255.255.255)",
            why: str = "opens port 3306 to the whole internet", subscription: str = SUB,
            event: str = "9d1c7a52-2f4e-4b8e-a0c1-5e7f3a9b2d61", remediation: str = "az mysql flexible-server x",
            ) -> HistoryRecord:
    return HistoryRecord(
        server_id=f"/subscriptions/{subscription}/resourceGroups/rg-payments/providers/Microsoft.DBforMySQL/"
                  f"flexibleServers/{server}",
        server=server, setting=setting, before=before, after=after, verdict="weakened", severity=severity, why=why,
        event_id=event, event_time="2025-11-20T09:41:07.512000+00:00", detected_at="2025-11-20T09:41:19.204511+00:00",
        operation="Microsoft.DBforMySQL/flexibleServers/firewallRules/write",
        changed_by="Casey Admin <casey@contoso.example>",
        client_ip="203.0.113.7", correlation_id="c0ffee00-1d2e-4f3a-8b4c-5d6e7f8a9b0c", alert_status="pending",
        remediation=remediation, control=detectors.by_setting(setting).control)


def _visible(node: Any, *, hidden: bool = False) -> list[str]:
    """Every string a reader sees before touching anything (or, with `hidden`, what "Details" shows)."""
    found: list[str] = []

    def walk(item: Any, shown: bool) -> None:
        if isinstance(item, dict):
            shown = shown and item.get("isVisible", True) is not False
            if item.get("type") == "TextBlock" and shown != hidden:
                found.append(item["text"])
            if "title" in item and "value" in item and shown != hidden:
                found.append(f"{item['title']}: {item['value']}")
            for value in item.values():
                walk(value, shown)
        elif isinstance(item, list):
            for value in item:
                walk(value, shown)

    walk(node["body"], True)
    return [re.sub(r"\\(.)", r"\1", t) for t in found]


def _facts(card: dict[str, Any]) -> dict[str, str]:
    return dict(t.split(": ", 1) for t in _visible(card) if ": " in t and not t.startswith(("CRITICAL", "HIGH")))


def _style_free(card: dict[str, Any]) -> str:
    """The card with every colour and style taken out: what a reader who cannot tell colours sees."""
    return re.sub(r'"(color|style)": "[A-Za-z]+",? ?', "", json.dumps(card))


# CRITICAL and HIGH

def test_critical_and_high_differ_in_style_colour_and_words() -> None:
    critical = adaptive_card(Alert("change", [_record(severity="critical")], id="a1"))
    high = adaptive_card(Alert("change", [_record(severity="high")], id="a2"))
    critical_head, high_head = critical["body"][0], high["body"][0]
    assert (critical_head["style"], high_head["style"]) == ("attention", "warning")
    assert [b["color"] for b in critical_head["items"]] == ["Attention", "Attention"]
    assert [b["color"] for b in high_head["items"]] == ["Warning", "Warning"]
    assert critical_head["items"][0]["text"] == "CRITICAL" and high_head["items"][0]["text"] == "HIGH"
    # Without colour the badge still says which is which.
    assert '"text": "CRITICAL"' in _style_free(critical) and '"text": "HIGH"' in _style_free(high)
    assert heading_text(critical) == "CRITICAL: Firewall rules weakened on mysql-payments-01"


def test_listed_records_carry_their_own_severity_word_and_style() -> None:
    card = adaptive_card(Alert("posture", [_record(severity="high", setting="tls_version"),
                                           _record(severity="critical")], id="p1"))
    items = listed_records(card)
    assert [i["items"][0]["text"].split(" · ")[0] for i in items] == ["CRITICAL", "HIGH"]
    assert [i.get("style") for i in items] == ["attention", "warning"]


# Details

@pytest.mark.parametrize("kind", ["change", "posture", "group"])
def test_ids_are_folded_under_a_details_toggle(kind: str) -> None:
    alert = Alert(kind, [_record()] if kind == "change" else [_record(), _record(setting="tls_version",
                                                                                  severity="medium")], id="a1")
    card = adaptive_card(alert)
    shown, folded = " ".join(_visible(card)), _visible(card, hidden=True)
    for hidden in ("c0ffee00-1d2e-4f3a-8b4c-5d6e7f8a9b0c", alert.key, "firewallRules/write"):
        assert hidden not in shown
    assert f"Alert id: {alert.key}" in folded
    assert "Correlation id: c0ffee00-1d2e-4f3a-8b4c-5d6e7f8a9b0c" in folded
    assert "Operation: flexibleServers/firewallRules/write" in folded
    toggles = [a for b in card["body"] if b["type"] == "ActionSet" for a in b["actions"]]
    assert toggles == [{"type": "Action.ToggleVisibility", "title": "Details", "targetElements": [DETAILS_ID]}]
    [details] = [b for b in card["body"] if b.get("id") == DETAILS_ID]
    assert details["isVisible"] is False
    assert card["version"] == "1.4", "ToggleVisibility and ActionSet are 1.2: Workflows renders up to 1.4"


def test_a_digest_folds_its_alert_id() -> None:
    alert = Alert("digest", [_record(event=f"e{n}") for n in range(3)], id="d1")
    card = adaptive_card(alert)
    assert alert.key not in " ".join(_visible(card))
    assert f"Alert id: {alert.key}" in _visible(card, hidden=True)


# Review

def test_the_review_button_opens_the_consoles_page_for_the_alert() -> None:
    alert = Alert("change", [_record()], id="20251120T094119-firewall_rules-9d1c7a52")
    card = adaptive_card(alert, console_url=CONSOLE + "/")
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Review",
                                  "url": f"{CONSOLE}/alert/{alert.key}"}
    assert "Review" not in [a["title"] for a in adaptive_card(alert)["actions"]], "no console, no button"


def test_a_resolved_card_reviews_the_finding_through_the_alert_that_opened_it() -> None:
    restoring = _record(severity="info", before="AllowAll (0.0.0.0-255.255.255.255)", after="no rules")
    alert = Alert("resolved", [restoring], id="r1", resolves="d0f631ca1ddba8db")
    card = adaptive_card(alert, console_url=CONSOLE, subscription_names=NAMES)
    assert [a["title"] for a in card["actions"]] == ["Review", "Azure portal"]
    assert card["actions"][0]["url"] == f"{CONSOLE}/alert/d0f631ca1ddba8db"
    assert _facts(card)["Subscription"] == "Payments Production"


def test_the_console_url_comes_from_the_setting_and_reaches_the_posted_card(
    settings: Settings, teams: TeamsReceiver,
) -> None:
    configured = Settings.from_env({"DRIFT_CONSOLE_URL": CONSOLE + "/",
                                    "DRIFT_SUBSCRIPTION_NAMES": f"{SUB.upper()}=Payments, Production; x=y"})
    assert configured.console_url == CONSOLE
    assert configured.subscription_names == {SUB: "Payments, Production", "x": "y"}
    assert Settings.from_env({}).console_url is None
    settings.console_url, settings.subscription_names = CONSOLE, configured.subscription_names
    [notifier] = build_notifiers(settings)
    alert = Alert("change", [_record()], id="a1")
    notifier.send(alert)
    [posted] = teams.messages()
    card = posted["attachments"][0]["content"]
    assert card["actions"][0]["url"] == f"{CONSOLE}/alert/{alert.key}"
    assert _facts(card)["Subscription"] == "Payments, Production"


def test_mail_and_channel_message_carry_the_same_review_link_and_subscription(graph: GraphReceiver) -> None:
    alert = Alert("change", [_record()], id="a1")
    options = {"graph_endpoint": graph.url, "console_url": CONSOLE, "subscription_names": NAMES}
    GraphMailNotifier(LocalCredential(), "drift@contoso.example", ["secops@contoso.example"], **options).send(alert)
    GraphChannelNotifier(LocalCredential(), "team-1", "19:abc@thread.tacv2", **options).send(alert)
    mail, channel = (lower_keys(m.get("body", m)) for m in graph.messages())
    html = mail["message"]["body"]["content"]
    assert f"href='{CONSOLE}/alert/{alert.key}'" in html and "Subscription: Payments Production" in html
    card = json.loads(channel["attachments"][0]["content"])
    assert card["actions"][0]["url"] == f"{CONSOLE}/alert/{alert.key}"
    assert card == adaptive_card(alert, console_url=CONSOLE, subscription_names=NAMES), "the webhook's card"


def test_the_endpoints_file_gives_the_local_consoles_address(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps({"arm_endpoint": "https://127.0.0.1:1", "ca_bundle": "ca.pem",
                                "storage_connection_string": "x", "console_url": "https://127.0.0.1:2/api/console"}))
    assert Settings.from_endpoints_file(path, env={}).console_url == "https://127.0.0.1:2/api/console"


# The subscription

@pytest.mark.parametrize("kind", ["change", "posture", "group", "digest"])
def test_every_card_names_the_subscription(kind: str) -> None:
    records = [_record()] if kind == "change" else [_record(), _record("mysql-payments-02", "tls_version", "medium")]
    alert = Alert(kind, records, id="a1")
    assert _facts(adaptive_card(alert, subscription_names=NAMES))["Subscription"] == "Payments Production"
    assert _facts(adaptive_card(alert))["Subscription"] == SUB, "the id when no name is configured"


def test_a_digest_over_many_subscriptions_counts_them() -> None:
    records = [_record(subscription=f"0000000{n}-0000-0000-0000-000000000000", event=f"e{n}") for n in range(5)]
    assert _facts(adaptive_card(Alert("digest", records, id="d1")))["Subscription"] == "5 subscriptions"


# Worst first, and the digest's summary

def _burst() -> list[HistoryRecord]:
    """25 near-identical firewall changes on 9 servers (12 low, 3 medium), 9 tls ones, and one critical last."""
    records = [_record(f"mysql-batch-{n % 9:02d}", "firewall_rules", "low" if n < 12 else "medium",
                       after=f"office (198.51.100.10-198.51.100.20), rule{n} (10.{n}.0.0-10.{n}.3.255)",
                       why=f"opens port 3306 to 1,024 more IPv4 addresses: rule{n} (10.{n}.0.0-10.{n}.3.255)",
                       remediation=f"az mysql flexible-server firewall-rule delete -g rg-payments "
                                   f"-n mysql-batch-{n % 9:02d} --rule-name rule{n} --yes", event=f"f{n}")
               for n in range(15)]
    records += [_record(f"mysql-batch-{n:02d}", "tls_version", "medium", before="TLSv1.3", after="TLSv1.2,TLSv1.3",
                        why="allows TLSv1.2 (policy allows TLSv1.3)",
                        remediation=f"az mysql flexible-server parameter set -g rg-payments -s mysql-batch-{n:02d} "
                                    "-n tls_version --value TLSv1.3", event=f"t{n}") for n in range(9)]
    return [*records, _record("mysql-core", "public_network_access", "critical", before="Disabled", after="Enabled",
                              why="public network access is Enabled while rule AllowAll admits the whole internet",
                              remediation="az mysql flexible-server update -g rg-payments -n mysql-core "
                                          "--public-access Disabled", event="p1")]


def test_a_digest_is_summarised_by_setting_and_severity_and_lists_the_worst_few() -> None:
    alert = Alert("digest", _burst(), id="d1")
    card = adaptive_card(alert)
    summary = [t for t in _visible(card) if t.startswith("• ")]
    assert summary == ["• public_network_access: 1 critical on 1 server",
                       "• firewall_rules: 3 medium, 12 low on 9 servers",  # as bad as tls_version, and more of it
                       "• tls_version: 9 medium on 9 servers"]
    listed = [i["items"][0]["text"].split(" · ")[0] for i in listed_records(card)]
    assert listed == ["CRITICAL", "MEDIUM", "MEDIUM", "MEDIUM", "MEDIUM"][:DIGEST_LISTED]
    assert f"… and {len(alert.records) - DIGEST_LISTED} more" in " ".join(_visible(card))


def test_posture_gaps_are_listed_worst_first() -> None:
    gaps = [_record(setting=s, severity=v, before=None) for s, v in
            (("backup", "medium"), ("defender", "low"), ("firewall_rules", "critical"), ("aad_auth_only", "high"))]
    card = adaptive_card(Alert("posture", gaps, id="p1"))
    assert [i["items"][0]["text"].split(" · ")[0] for i in listed_records(card)] == ["CRITICAL", "HIGH", "MEDIUM",
                                                                                      "LOW"]


def test_the_mail_shows_what_the_card_shows_in_the_same_order() -> None:
    alert = Alert("digest", _burst(), id="d1")
    mail = html_body(alert, console_url=CONSOLE, subscription_names=NAMES)
    assert mail.index("public_network_access: 1 critical") < mail.index("firewall_rules: 3 medium, 12 low on 9")
    rows = re.findall(r"<tr><td>([A-Z]+)</td>", mail)
    assert rows[0] == "CRITICAL" and rows == sorted(rows, key=["CRITICAL", "HIGH", "MEDIUM", "LOW"].index)
    assert f"href='{CONSOLE}/alert/{alert.key}'" in mail
    assert "Subscription: Payments Production" in mail


def test_a_digest_does_not_grow_with_its_records() -> None:
    small = serialized_size(message(Alert("digest", _burst(), id="d1")))
    many = serialized_size(message(Alert("digest", _burst() * 40, id="d1")))
    assert many - small < 600, (small, many)


@pytest.mark.parametrize("kind", ["posture", "group", "digest"])
def test_every_card_with_the_new_parts_stays_under_the_workflows_limit(kind: str) -> None:
    long = "x" * 5_000
    records = [_record(f"mysql-{n:03d}", why=long, after=long, remediation=long, event=f"e{n}") for n in range(80)]
    size = serialized_size(message(Alert(kind, records, id="a1"), console_url=CONSOLE, subscription_names=NAMES))
    assert size <= MAX_MESSAGE_BYTES, size


# Undo commands with the values the detector knows

REF = mysql_server_ref(server_id("db1"))
SOC = WORKSPACE
STORAGE = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/sec/providers/Microsoft.Storage/storageAccounts/auditstore"
HUB = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/sec/providers/Microsoft.EventHub/namespaces/ns/"
       "authorizationrules/RootManageSharedAccessKey")


def _undo(setting: str, before: Any, after: Any, ctx: Context | None = None) -> tuple[Judgement, str]:
    assert REF is not None
    detector = detectors.by_setting(setting)
    judgement = detector.judge(before, after, ctx or Context())
    assert judgement is not None
    return judgement, undo_command(detector.command, detector.commands, REF, judgement)


def _words(command: str) -> list[list[str]]:
    return [shlex.split(part) for part in command.split(" ; ")]


def test_lost_diagnostic_settings_are_recreated_with_the_destinations_seen_before() -> None:
    before = [{"name": "to-soc", "audit": True, "destinations": [f"workspace:{SOC}", f"storage:{STORAGE}"]},
              {"name": "to hub; curl evil", "audit": True, "destinations": [f"event hub:{HUB}"]}]
    judgement, command = _undo("diagnostic_settings", before, [])
    assert judgement.severity.value == "high"
    hub, soc = _words(command)
    assert soc[soc.index("-n") + 1] == "to-soc"
    assert (soc[soc.index("--workspace") + 1], soc[soc.index("--storage-account") + 1]) == (SOC, STORAGE)
    assert "--event-hub-rule" not in soc and "<" not in command
    assert hub[hub.index("-n") + 1] == "to hub; curl evil", "a hostile name stays one word"
    assert hub[hub.index("--event-hub-rule") + 1] == HUB


def test_a_widened_firewall_rule_gets_its_addresses_back_and_a_new_one_is_deleted() -> None:
    before = [{"name": "office", "start": "198.51.100.10", "end": "198.51.100.20"}]
    after = [{"name": "office", "start": "0.0.0.0", "end": "255.255.255.255"},
             {"name": "$(reboot)", "start": "1.0.0.0", "end": "1.255.255.255"}]
    judgement, command = _undo("firewall_rules", before, after)
    delete, restore = sorted(_words(command), key=lambda w: w[4])
    assert restore[:4] == ["az", "mysql", "flexible-server", "firewall-rule"] and restore[4] == "update"
    assert restore[restore.index("--rule-name") + 1] == "office"
    assert (restore[restore.index("--start-ip-address") + 1], restore[restore.index("--end-ip-address") + 1]) == (
        "198.51.100.10", "198.51.100.20")
    assert delete[4] == "delete" and delete[delete.index("--rule-name") + 1] == "$(reboot)"
    assert judgement.targets == ("office", "$(reboot)")


@pytest.mark.parametrize(("setting", "before", "after", "option", "value"), [
    ("network_isolation", {"delegated_subnet": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/"
                                               "virtualNetworks/v/subnets/mysql", "private_dns_zone": None},
     {"delegated_subnet": None, "private_dns_zone": None}, "--subnet",
     "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/mysql"),
    ("entra_admin", [{"login": "dba-group", "sid": "5d2f7a44-0000-4000-8000-000000000001", "tenant_id": "t"}], [],
     "--object-id", "5d2f7a44-0000-4000-8000-000000000001"),
    ("data_encryption", {"type": "AzureKeyVault", "primary_key_uri": "https://kv.vault.azure.net/keys/k/1"},
     {"type": "SystemManaged", "primary_key_uri": None}, "--key", "https://kv.vault.azure.net/keys/k/1"),
    ("backup", {"geo_redundant": "Enabled", "retention_days": 35}, {"geo_redundant": "Enabled", "retention_days": 7},
     "--backup-retention", "35"),
    ("tls_version", {"value": "TLSV1.2,TLSV1.3", "running": "TLSV1.3"}, "TLSV1,TLSV1.1,TLSV1.2,TLSV1.3", "--value",
     "TLSv1.2,TLSv1.3"),
    ("audit_log_events", "CONNECTION,ADMIN,DDL,DCL,DML", "DDL", "--value", "CONNECTION,ADMIN,DDL,DCL,DML"),
    ("high_availability", {"mode": "SameZone", "standby_zone": "2"}, {"mode": "Disabled", "standby_zone": None},
     "--high-availability", "SameZone"),
    ("audit_log_exclude_users", ["azure_superuser"], ["azure_superuser", "dba"], "--value", "azure_superuser"),
])
def test_an_undo_command_restores_the_value_before(setting: str, before: Any, after: Any, option: str,
                                                     value: str) -> None:
    ctx = Context(others={"audit_log_enabled": "ON", "administrator_login": "dba"})
    judgement, command = _undo(setting, before, after, ctx)
    assert judgement.verdict.value == "weakened"
    [words] = _words(command.split(" && ")[0])
    assert words[words.index(option) + 1] == value
    if setting == "high_availability":
        assert words[words.index("--standby-zone") + 1] == "2"
    if setting == "entra_admin":
        assert words[words.index("--display-name") + 1] == "dba-group"
        assert "<user-assigned-identity>" in command, "the admin's identity is not in the detector's state"


def test_a_long_filled_undo_command_reaches_the_change_card_whole() -> None:
    before = [{"name": f"to-soc-{n}", "audit": True, "destinations": [f"workspace:{SOC}", f"storage:{STORAGE}",
                                                                      f"event hub:{HUB}"]} for n in range(3)]
    _, command = _undo("diagnostic_settings", before, [])
    assert len(command) > 1_000
    card = adaptive_card(Alert("change", [_record(setting="diagnostic_settings", remediation=command)], id="a1"))
    assert command in _visible(card)


def test_a_first_seen_gap_keeps_the_templates_default() -> None:
    detector = detectors.by_setting("tls_version")
    judgement = detector.first_seen("TLSV1.2", Context())
    assert judgement is not None and REF is not None
    assert "--value TLSv1.3" in undo_command(detector.command, detector.commands, REF, judgement)


def test_a_deleted_diagnostic_setting_is_alerted_with_the_workspace_to_send_to_again(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str,
) -> None:
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    diagnostic_setting(sdk, server_name, "audit", None)
    engine.handle_many(arm.drain_events())
    [row] = engine.store.history(server_id=server_id(server_name))
    assert (row.setting, row.severity) == ("diagnostic_settings", "high")
    [words] = _words(row.remediation or "")
    assert (words[words.index("-n") + 1], words[words.index("--workspace") + 1]) == ("audit", WORKSPACE)
    [posted] = teams.messages()
    assert WORKSPACE in " ".join(_visible(posted["attachments"][0]["content"]))


def test_a_widened_rule_is_recorded_with_the_command_that_narrows_it_again(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    add_rule(sdk, server_name, "office", "198.51.100.10", "198.51.100.20")
    engine.handle_many(arm.drain_events())
    add_rule(sdk, server_name, "office", "198.51.0.0", "198.51.255.255")
    engine.handle_many(arm.drain_events())
    row = next(r for r in engine.store.history(server_id=server_id(server_name)) if "198.51.0.0" in (r.after or ""))
    assert row.remediation == (f"az mysql flexible-server firewall-rule update -g {row.server_id.split('/')[4]} "
                               f"-n {server_name} --rule-name office --start-ip-address 198.51.100.10 "
                               "--end-ip-address 198.51.100.20")


# Parameter values as Azure writes them

def test_tls_versions_read_as_azure_writes_them_and_compare_in_any_case() -> None:
    tls = detectors.by_setting("tls_version")
    as_written = tls.state({"properties": {"value": "TLSv1.2,TLSv1.3", "currentValue": "TLSv1.2,TLSv1.3"}})
    other_case = tls.state({"properties": {"value": "tlsv1.2,TLSV1.3", "currentValue": "TLSv1.2,TLSv1.3"}})
    assert as_written == other_case, "compared case-insensitively: a case-only rewrite is no change"
    assert tls.describe(as_written) == "TLSv1.2,TLSv1.3"
    assert tls.describe({"value": "TLSV1.3", "running": "TLSV1.2,TLSV1.3"}) == (
        "TLSv1.3 (running TLSv1.2,TLSv1.3 until restart)")
    assert tls.describe("TLSV1.4") == "TLSV1.4", "a version Azure does not write stays as read"
    assert tls.describe(None) == "not set"


# At phone width, in Chromium

def _phone_cards() -> dict[str, dict[str, Any]]:
    critical = _record(after="office (198.51.100.10-198.51.100.20), AllowAll_2025-11-20_09-41-02 "
                             "(0.0.0.0-255.255.255.255)",
                       remediation="az mysql flexible-server firewall-rule delete -g rg-payments -n mysql-payments-01 "
                                   "--rule-name AllowAll_2025-11-20_09-41-02 --yes")
    high = _record("mysql-orders-02", "diagnostic_settings", "high",
                   before=f"audit (audit to workspace soc ({SUBSCRIPTION}/sec))", after="no diagnostic settings",
                   why="audit logs no longer reach workspace soc; they are now shipped nowhere",
                   remediation=f"az monitor diagnostic-settings create --resource /subscriptions/{SUB}/resourceGroups/"
                               f"rg-payments/providers/Microsoft.DBforMySQL/flexibleServers/mysql-orders-02 -n audit "
                               f"--workspace {WORKSPACE} --logs '[{{\"categoryGroup\":\"audit\",\"enabled\":true}}]'")
    ref = mysql_server_ref(_record("mysql-orders-new").server_id)
    assert ref is not None
    posture = [_record("mysql-orders-new", s, v, before=None, after=a, why=w,
                       remediation=remediation(detectors.by_setting(s).command, ref, ("AllowAll",)))
               for s, v, a, w in (
        ("defender", "medium", "Disabled", "Defender threat protection is not enabled"),
        ("public_network_access", "high", "Enabled", "public network access is Enabled"),
        ("tls_version", "medium", "TLSv1.2,TLSv1.3", "allows TLSv1.2 (policy allows TLSv1.3)"),
        ("firewall_rules", "critical", "AllowAll (0.0.0.0-255.255.255.255)", "opens port 3306 to the whole internet"),
    )]
    options = {"console_url": CONSOLE, "subscription_names": NAMES}
    return {"phone-critical": adaptive_card(Alert("change", [critical], id="c1"), **options),
            "phone-high": adaptive_card(Alert("change", [high], id="h1"), **options),
            "phone-digest": adaptive_card(Alert("digest", _burst(), id="d1"), **options),
            "phone-posture": adaptive_card(Alert("posture", posture, id="p1"), **options)}


@pytest.fixture(scope="module")
def phone(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    if renderer_missing() is not None or shutil.which("node") is None:
        pytest.skip(f"card render harness unavailable: {renderer_missing() or 'node not found'}")
    out = tmp_path_factory.mktemp("phone")
    report = render_cards(_phone_cards(), out, width=PHONE_WIDTH)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for png in out.glob("phone-*.png"):
        shutil.copy2(png, ARTIFACTS / png.name)
    return report, out


@pytest.mark.parametrize("name", ["phone-critical", "phone-high", "phone-digest", "phone-posture"])
def test_each_card_renders_clean_at_phone_width(phone: tuple[dict[str, Any], Path], name: str) -> None:
    report, out = phone
    entry = report[name]
    assert (entry["version"], entry["warnings"], entry["errors"]) == ("1.4", [], []), entry
    assert entry["width"] == PHONE_WIDTH and entry["height"] > 200
    assert entry["overflow"] == [], "nothing runs past the card's edge on a phone"
    assert (out / f"{name}.png").stat().st_size > 5 * 1024
    assert "Payments Production" in entry["text"]
    assert "Review" in entry["text"] and "Details" in entry["text"]
    assert "c0ffee00" not in entry["text"], "the correlation id waits under Details"


def test_details_opens_in_the_renderer_and_shows_the_ids(phone: tuple[dict[str, Any], Path]) -> None:
    """The official renderer's own toggle: pressed once, the folded ids are there to read."""
    report, out = phone
    for name in ("phone-critical", "phone-posture", "phone-digest"):
        expanded = report[name]["expandedText"]
        assert expanded is not None and "Alert id" in expanded and "Alert id" not in report[name]["text"], name
        assert (out / f"{name}-expanded.png").is_file()
    assert "c0ffee00-1d2e-4f3a-8b4c-5d6e7f8a9b0c" in report["phone-critical"]["expandedText"]
    assert Alert("change", [], id="c1").key in report["phone-critical"]["expandedText"]


def test_a_phone_reader_tells_critical_from_high_by_the_first_line(phone: tuple[dict[str, Any], Path]) -> None:
    report = phone[0]
    assert report["phone-critical"]["text"].splitlines()[0] == "CRITICAL"
    assert report["phone-high"]["text"].splitlines()[0] == "HIGH"
    assert "firewall_rules: 3 medium, 12 low on 9 servers" in report["phone-digest"]["text"]
