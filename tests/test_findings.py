"""Findings with a lifecycle, through the real engine on the local stack: a weakening opens one, a later
weakening of the same setting updates it, undoing it resolves it (and says so in the channel), `accept`
and `ack` close and mark it; concurrent and repeated deliveries never make two."""

from __future__ import annotations

from typing import Any

from drift.config import Settings
from drift.engine import DriftEngine
from drift.findings import Finding, FindingStore
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.model import Severity
from drift.policy import parse_policy
from drift.runtime import build_engine
from tests.helpers import add_rule, create_compliant_server, server_id, set_parameter, set_public_access

WHO = "Casey Admin <casey@contoso.example>"


def watched(settings: Settings, sdk: Any, arm: ArmStandIn, name: str) -> DriftEngine:
    """An engine with a compliant server already baselined (no finding, no card)."""
    engine = build_engine(settings)
    create_compliant_server(sdk, name)
    engine.handle_many(arm.drain_events())
    return engine


def open_of(engine: DriftEngine, name: str) -> list[Finding]:
    return [f for f in FindingStore(engine.store).open_findings() if f.server == name]


def card_texts(message: dict[str, Any]) -> str:
    import json

    return json.dumps(message)


def test_a_weakening_opens_a_finding_and_a_second_one_updates_it_instead_of_opening_another(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    assert open_of(engine, server_name) == []
    set_public_access(sdk, server_name, "Enabled")  # so that firewall rules matter
    engine.handle_many(arm.drain_events())
    assert [f.setting for f in open_of(engine, server_name)] == ["public_network_access"]
    add_rule(sdk, server_name, "office", "198.51.100.10", "198.51.100.20")
    [first] = engine.handle_many(arm.drain_events())

    [finding] = [f for f in open_of(engine, server_name) if f.setting == "firewall_rules"]
    [record] = first.records
    assert (finding.setting, finding.status, finding.severity) == ("firewall_rules", "open", record.severity)
    assert finding.changed_by == record.changed_by == WHO
    assert finding.client_ip == "203.0.113.7" and finding.event_id == record.event_id
    assert finding.alert_keys == [record.alert_key] and record.finding_id == finding.id
    assert len(finding.id) == 16 and finding.before == record.before

    add_rule(sdk, server_name, "everyone", "0.0.0.0", "255.255.255.255")
    [second] = engine.handle_many(arm.drain_events())
    [record2] = second.records
    [updated] = [f for f in open_of(engine, server_name) if f.setting == "firewall_rules"]
    assert updated.id == finding.id, "the same finding, not a second one"
    assert record2.finding_id == finding.id
    assert updated.alert_keys == [record.alert_key, record2.alert_key]
    assert Severity(record2.severity).rank > Severity(record.severity).rank
    assert updated.severity == record2.severity and updated.why == record2.why
    assert updated.before == finding.before and updated.after == record2.after
    assert finding.id in [f.id for f in FindingStore(engine.store).server_findings(server_id(server_name))]
    assert FindingStore(engine.store).finding(finding.id) == updated
    assert FindingStore(engine.store).finding_for_alert(record.alert_key) == updated


def test_undoing_the_weakening_resolves_the_finding_and_posts_one_resolved_card_naming_the_first_alert(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    [weakened] = engine.handle_many(arm.drain_events())
    [finding] = open_of(engine, server_name)
    teams.clear()

    set_parameter(sdk, server_name, "aad_auth_only", "ON")
    events = arm.drain_events()
    [restored] = engine.handle_many(events)
    engine.handle_many(events)  # Event Grid delivers it again: nothing more

    assert open_of(engine, server_name) == []
    closed = FindingStore(engine.store).finding(finding.id)
    assert closed is not None and closed.status == "resolved" and not closed.open
    assert (closed.closed_by, closed.closed_via) == (WHO, "event")
    assert closed.closed_at == restored.records[0].detected_at and closed.after == "ON"
    [row] = restored.records
    assert row.finding_id == finding.id and row.verdict == "strengthened" and row.alert_status == "sent"
    [card] = teams.messages()
    text = card_texts(card)
    assert "Resolved: " in text and server_name in text
    assert weakened.records[0].alert_key in text, "the original alert id"
    assert "Casey Admin" in text


def test_no_resolved_card_when_the_policy_turns_them_off_but_the_finding_still_resolves(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    engine.policy = parse_policy("[alerts]\nresolved_cards = false\n")
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    engine.handle_many(arm.drain_events())
    [finding] = open_of(engine, server_name)
    teams.clear()
    set_parameter(sdk, server_name, "aad_auth_only", "ON")
    [restored] = engine.handle_many(arm.drain_events())
    assert teams.messages() == []
    assert restored.records[0].alert_status == "none"
    closed = FindingStore(engine.store).finding(finding.id)
    assert closed is not None and closed.status == "resolved"
