"""Findings with a lifecycle, through the real engine on the local stack: a weakening opens one, a later
weakening of the same setting updates it, undoing it resolves it (and says so in the channel), `accept`
and `ack` close and mark it; concurrent and repeated deliveries never make two."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drift.config import Settings
from drift.engine import DriftEngine
from drift.findings import OPEN_MARK, Finding, FindingStore
from drift.index import INDEX
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.model import Severity
from drift.policy import parse_policy
from drift.reconcile import Reconciler
from drift.review import accept, ack
from drift.runtime import build_engine
from tests.conftest import GROUP, SUBSCRIPTION
from tests.helpers import add_rule, create_compliant_server, delete_rule, server_id, set_parameter, set_public_access

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


def test_a_partial_restore_keeps_the_finding_open_and_the_full_restore_found_by_a_reconcile_resolves_it(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    add_rule(sdk, server_name, "office", "198.51.100.10", "198.51.100.20")
    add_rule(sdk, server_name, "everyone", "0.0.0.0", "255.255.255.255")
    engine.handle_many(arm.drain_events())
    [finding] = open_of(engine, server_name)

    delete_rule(sdk, server_name, "everyone")  # better, but the office rule is still more than before
    [partial] = engine.handle_many(arm.drain_events())
    [row] = partial.records
    [still] = open_of(engine, server_name)
    assert row.verdict == "strengthened" and row.finding_id == finding.id
    assert still.id == finding.id and still.status == "open" and still.after == row.after
    assert "everyone" not in (still.after or "") and still.severity == finding.severity

    arm.emit_events = False  # the last rule goes, and Event Grid never says so
    delete_rule(sdk, server_name, "office")
    arm.emit_events = True
    teams.clear()
    Reconciler(engine).scan([SUBSCRIPTION])

    assert open_of(engine, server_name) == []
    closed = FindingStore(engine.store).finding(finding.id)
    assert closed is not None and (closed.status, closed.closed_via) == ("resolved", "reconcile")
    assert closed.closed_by == "reconcile (no caller known)" and closed.closed_at is not None
    resolved = [card_texts(m) for m in teams.messages() if "Resolved: " in card_texts(m)]
    assert len(resolved) == 1 and server_name in resolved[0] and finding.alert_keys[0] in resolved[0]


def test_accept_closes_the_finding_as_accepted_in_the_same_commit_and_sends_no_resolved_card(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    [weakened] = engine.handle_many(arm.drain_events())
    [finding] = open_of(engine, server_name)
    teams.clear()

    done = accept(engine, server_name, reason="break-glass account, CHG-9", by="Riley On-Call",
                  alert=weakened.records[0].alert_key)
    assert open_of(engine, server_name) == []
    closed = FindingStore(engine.store).finding(finding.id)
    assert closed is not None and (closed.status, closed.closed_via) == ("accepted", "accept")
    assert (closed.closed_by, closed.close_reason) == ("Riley On-Call", "break-glass account, CHG-9")
    assert done.records[0].finding_id == finding.id
    assert teams.messages() == []


def test_ack_marks_the_finding_acknowledged_and_a_later_weakening_opens_it_again(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    add_rule(sdk, server_name, "office", "198.51.100.10", "198.51.100.20")
    [weakened] = engine.handle_many(arm.drain_events())

    assert ack(engine, weakened.event_id or "", reason="looking into it", by="Riley On-Call") == 1
    [finding] = open_of(engine, server_name)
    assert finding.status == "acknowledged" and finding.open
    assert finding.acknowledged is not None and finding.acknowledged.startswith("Riley On-Call: looking into it (")
    assert FindingStore(engine.store).server_findings(server_id(server_name)) == [finding]

    add_rule(sdk, server_name, "everyone", "0.0.0.0", "255.255.255.255")
    engine.handle_many(arm.drain_events())
    [again] = open_of(engine, server_name)
    assert (again.id, again.status, again.acknowledged) == (finding.id, "open", finding.acknowledged)


def test_two_engines_handling_two_weakenings_of_one_setting_at_once_open_exactly_one_finding(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    add_rule(sdk, server_name, "office", "198.51.100.10", "198.51.100.20")
    add_rule(sdk, server_name, "vendor", "192.0.2.0", "192.0.2.255")
    first, second = arm.drain_events()
    barrier = threading.Barrier(2)

    def handle(event: dict[str, Any]) -> None:
        other = build_engine(settings)
        barrier.wait()
        other.handle_many([event])

    workers = [threading.Thread(target=handle, args=(e,)) for e in (first, second)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    found = FindingStore(engine.store).server_findings(server_id(server_name))
    assert [f.setting for f in found] == ["firewall_rules"], "one finding, however the race went"
    [finding] = open_of(engine, server_name)
    assert "office" in (finding.after or "") and "vendor" in (finding.after or "")
    rows = [r for r in engine.store.history(server_id=server_id(server_name)) if r.setting == "firewall_rules"]
    assert rows and {r.finding_id for r in rows} == {finding.id}


def test_a_redelivered_event_changes_nothing_and_restores_a_lost_marker(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    events = arm.drain_events()
    engine.handle_many(events)
    [finding] = open_of(engine, server_name)
    [marker] = [m for m in engine.store.index._range(OPEN_MARK) if m["RowKey"].endswith(finding.id)]
    engine.store._table.delete_entity(INDEX, marker["RowKey"])  # as if the index write had failed
    assert open_of(engine, server_name) == []

    [again] = engine.handle_many(events)
    assert again.status == "unchanged"
    assert open_of(engine, server_name) == [finding]
    assert len(FindingStore(engine.store).server_findings(server_id(server_name))) == 1
    assert len(teams.messages()) == 1


def test_a_marker_whose_finding_closed_or_never_landed_is_not_trusted(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    engine.handle_many(arm.drain_events())
    [finding] = open_of(engine, server_name)
    [marker] = [dict(m) for m in engine.store.index._range(OPEN_MARK) if m["RowKey"].endswith(finding.id)]
    assert marker["landed"] is True, "the first reader checked it against its row"

    set_parameter(sdk, server_name, "aad_auth_only", "ON")
    restored = arm.drain_events()
    engine.handle_many(restored)
    # The close's marker delete was lost, and a commit that never landed left a marker of its own.
    engine.store._table.upsert_entity({**marker, "landed": False})
    ghost = {**marker, "RowKey": marker["RowKey"].replace(finding.id, "0" * 16), "finding_id": "0" * 16,
             "landed": False, "created_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat()}
    engine.store._table.upsert_entity(ghost)
    assert open_of(engine, server_name) == []
    left = {m["RowKey"] for m in engine.store.index._range(OPEN_MARK)}
    assert ghost["RowKey"] not in left, "a stale marker of a commit that never landed is dropped"
    assert marker["RowKey"] not in left, "and so is the closed finding's"

    engine.store._table.upsert_entity(marker)  # even one a reader had marked landed before the close
    [redelivered] = engine.handle_many(restored)  # the close's retry finds it
    assert redelivered.status == "unchanged" and open_of(engine, server_name) == []
    assert marker["RowKey"] not in {m["RowKey"] for m in engine.store.index._range(OPEN_MARK)}


def test_a_deleted_server_closes_its_findings(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    engine.handle_many(arm.drain_events())
    [finding] = open_of(engine, server_name)
    sdk.servers.begin_delete(GROUP, server_name).result()
    engine.handle_many(arm.drain_events())

    assert open_of(engine, server_name) == []
    closed = FindingStore(engine.store).finding(finding.id)
    assert closed is not None and (closed.status, closed.close_reason) == ("resolved", "server deleted")


def test_the_mail_and_console_notifiers_say_resolved_and_name_the_original_alert() -> None:
    import io

    from drift.model import Alert, HistoryRecord
    from notifiers.console import ConsoleNotifier
    from notifiers.graph import html_body, subject

    row = HistoryRecord(server_id=server_id("orders-db"), server="orders-db", setting="aad_auth_only", before="OFF",
                        after="ON", verdict="strengthened", severity="info", why="resolved: password logins",
                        event_id="e2", event_time="2026-11-20T10:00:07+00:00", detected_at="2026-11-20T10:00:09+00:00",
                        operation="Microsoft.DBforMySQL/flexibleServers/configurations/write", changed_by=WHO,
                        client_ip="203.0.113.9", correlation_id=None, alert_status="pending")
    alert = Alert("resolved", [row], id="baseline|~outbox|history|2", resolves="0123456789abcdef")
    assert subject(alert).startswith("[RESOLVED] mysql-drift: Entra-only authentication on orders-db")
    assert "0123456789abcdef" in subject(alert) and "203.0.113.9" in html_body(alert)
    out = io.StringIO()
    ConsoleNotifier(out).send(alert)
    assert out.getvalue().startswith("RESOLVED orders-db: aad_auth_only is ON again (alert 0123456789abcdef;")


def test_an_exempted_weakening_opens_a_finding_marked_so_and_its_undoing_sends_no_card(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    engine.policy = parse_policy(f'[[exemptions]]\nserver = "{server_name}"\nsettings = ["aad_auth_only"]\n'
                                 'reason = "migration CHG-1"\nexpires = 2099-12-31\n')
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    [weakened] = engine.handle_many(arm.drain_events())
    assert weakened.records[0].alert_status == "suppressed" and teams.messages() == []

    [finding] = open_of(engine, server_name)
    assert finding.exemption is not None and finding.exemption.startswith("migration CHG-1")
    assert finding.alert_keys == [] and finding.severity == weakened.records[0].severity

    set_parameter(sdk, server_name, "aad_auth_only", "ON")
    engine.handle_many(arm.drain_events())
    closed = FindingStore(engine.store).finding(finding.id)
    assert closed is not None and closed.status == "resolved"
    assert teams.messages() == [], "no alert went out, so no resolved card either"


def test_the_policy_turns_resolved_cards_off_with_a_boolean_and_refuses_anything_else() -> None:
    from drift.policy import Policy, PolicyError

    assert Policy().resolved_cards is True
    assert parse_policy("[alerts]\nresolved_cards = false\n").resolved_cards is False
    with pytest.raises(PolicyError, match=r"line 3: alerts.resolved_cards: must be true or false"):
        parse_policy('[alerts]\nmin_severity = "low"\nresolved_cards = "no"\n', "policy")
