"""The event-to-alert path on the local stack: real SDK writes, the stand-in's events, Azurite, Teams.

Each test makes its changes as a user would (the management SDK against the ARM stand-in),
takes the events the stand-in emitted, and delivers them to the engine the way Event Grid
would: once, twice, late, concurrently, or into a failing webhook.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import pytest

from drift.config import Settings
from drift.engine import DriftEngine, RetryableFailure
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.runtime import build_engine
from tests.helpers import (
    add_rule,
    create_compliant_server,
    create_server,
    diagnostic_setting,
    server_id,
    set_parameter,
    set_public_access,
)


def deliver(engine: DriftEngine, arm: ArmStandIn) -> list[Any]:
    return engine.handle_many(arm.drain_events())


def history(engine: DriftEngine, name: str) -> list[Any]:
    return engine.store.history(server_id=server_id(name))


def facts(card_message: dict[str, Any]) -> dict[str, str]:
    """The card's facts as a reader sees them (markdown escapes removed)."""
    content = card_message["attachments"][0]["content"]
    factset = next(b for b in content["body"] if b["type"] == "FactSet")
    return {f["title"]: re.sub(r"\\(.)", r"\1", f["value"]) for f in factset["facts"]}


@pytest.fixture
def baseline_server(sdk: Any, arm: ArmStandIn, engine: DriftEngine, server_name: str,
                    teams: TeamsReceiver) -> str:
    """A server whose watched settings are secure and already baselined, with no alert sent."""
    create_compliant_server(sdk, server_name)
    add_rule(sdk, server_name, "office", "198.51.100.20", "198.51.100.20")
    deliver(engine, arm)
    assert history(engine, server_name) == []
    assert teams.messages() == []
    arm.reset_stats()
    return server_name


@pytest.mark.parametrize(
    ("change", "setting", "severity", "before", "after"),
    [
        (lambda sdk, s: add_rule(sdk, s, "AllowAll", "0.0.0.0", "255.255.255.255"), "firewall_rules", "low",
         "office (198.51.100.20-198.51.100.20)",
         "AllowAll (0.0.0.0-255.255.255.255), office (198.51.100.20-198.51.100.20)"),
        (lambda sdk, s: add_rule(sdk, s, "AllowAllWindowsAzureIps", "0.0.0.0", "0.0.0.0"), "firewall_rules", "low",
         None, None),
        (lambda sdk, s: set_parameter(sdk, s, "tls_version", "TLSv1.2,TLSv1.3"), "tls_version", "medium",
         "TLSV1.3", "TLSV1.2,TLSV1.3 (running TLSV1.3 until restart)"),
        (lambda sdk, s: set_parameter(sdk, s, "aad_auth_only", "OFF"), "aad_auth_only", "high", "ON", "OFF"),
        (lambda sdk, s: set_parameter(sdk, s, "require_secure_transport", "OFF"), "require_secure_transport", "high",
         "ON", "OFF"),
        (lambda sdk, s: set_public_access(sdk, s, "Enabled"), "public_network_access", "high", "Disabled", "Enabled"),
        (lambda sdk, s: diagnostic_setting(sdk, s, "audit", None), "diagnostic_settings", "high", None,
         "no diagnostic settings"),
    ],
    ids=["firewall-internet-while-private", "firewall-azure-services-while-private", "tls-floor", "entra-only-off",
         "secure-transport-off",
         "public-access-on", "audit-setting-deleted"],
)
def test_a_weakening_change_is_recorded_and_alerted_once_with_one_arm_read(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
    change: Any, setting: str, severity: str, before: str | None, after: str | None,
) -> None:
    change(sdk, baseline_server)
    events = arm.drain_events()
    assert len(events) == 1

    outcomes = engine.handle_many(events)

    assert arm.stats.reads == 1, "one event about one setting costs one ARM read"
    assert outcomes[0].status == "recorded"
    [row] = history(engine, baseline_server)
    assert (row.setting, row.verdict, row.severity, row.alert_status) == (setting, "weakened", severity, "sent")
    assert row.changed_by == "Casey Admin <casey@contoso.example>"
    assert row.client_ip == "203.0.113.7"
    assert row.event_id == events[0]["id"]
    assert row.correlation_id == events[0]["data"]["correlationId"]
    assert row.operation == events[0]["data"]["operationName"]
    if before is not None:
        assert row.before == before
    if after is not None:
        assert row.after == after
    [card] = teams.messages()
    shown = facts(card)
    assert shown["Server"] == f"{baseline_server} (resource group rg-tests)"
    assert shown["Setting"].endswith(f"({setting})")
    assert shown["Severity"] == severity.upper()
    assert shown["Changed by"] == "Casey Admin <casey@contoso.example>"
    assert card["attachments"][0]["content"]["version"] == "1.4"


def test_a_harmless_parameter_change_costs_no_read_and_no_alert(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_parameter(sdk, baseline_server, "wait_timeout", "600")
    with caplog.at_level(logging.DEBUG, logger="drift.routing"):
        [outcome] = deliver(engine, arm)
    assert outcome.status == "ignored"
    assert arm.stats.reads == 0
    assert history(engine, baseline_server) == [] and teams.messages() == []
    assert "touches no watched setting" in caplog.text


def test_strengthening_is_recorded_without_an_alert(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    from tests.helpers import delete_rule

    delete_rule(sdk, baseline_server, "office")
    deliver(engine, arm)
    [row] = history(engine, baseline_server)
    assert (row.verdict, row.alert_status) == ("strengthened", "none")
    assert teams.messages() == []


def test_a_new_server_gets_a_full_posture_check_and_one_alert_listing_every_gap(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str,
) -> None:
    create_server(sdk, server_name, public_access="Enabled")  # Azure's defaults otherwise
    [outcome] = deliver(engine, arm)

    assert outcome.reads == 13, "every watched setting, read once"
    rows = history(engine, server_name)
    assert {r.setting for r in rows} == {
        "public_network_access", "aad_auth_only", "entra_admin", "tls_version", "audit_log_enabled",
        "diagnostic_settings", "data_encryption", "backup", "defender", "high_availability"}
    assert all(r.before is None and r.verdict == "weakened" and r.alert_status == "sent" for r in rows)
    assert {r.control for r in rows} >= {"NS-2", "IM-1", "DP-3", "DP-5", "LT-4", "BR-1", "LT-1"}
    [card] = teams.messages()
    text = str(card)
    assert "10 gap(s)" in text and "MCSB DP-5" in text

    set_parameter(sdk, server_name, "wait_timeout", "120")
    set_public_access(sdk, server_name, "Enabled")  # same value again: a write, but no change
    arm.reset_stats()
    deliver(engine, arm)
    assert arm.stats.reads == 1, "the baseline exists now: back to one read per event"
    assert len(history(engine, server_name)) == 10, "accepted findings are not reported twice"


def test_a_compliant_new_server_is_baselined_silently(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str,
) -> None:
    create_compliant_server(sdk, server_name)
    deliver(engine, arm)
    assert history(engine, server_name) == [] and teams.messages() == []
    baselines = engine.store.load(server_id(server_name)).baselines
    assert baselines["public_network_access"].state == "Disabled"
    assert baselines["data_encryption"].state["type"] == "AzureKeyVault"
    assert len(baselines) == 20


def test_opening_public_access_while_a_rule_admits_the_internet_is_critical_and_names_the_rule(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    add_rule(sdk, baseline_server, "AllowAll", "0.0.0.0", "255.255.255.255")
    deliver(engine, arm)
    [latent] = history(engine, baseline_server)
    assert (latent.severity, latent.alert_status) == ("low", "sent")
    assert "public network access is Disabled" in latent.why

    set_public_access(sdk, baseline_server, "Enabled")
    deliver(engine, arm)
    opened = history(engine, baseline_server)[0]
    assert (opened.setting, opened.severity) == ("public_network_access", "critical")
    assert "AllowAll" in opened.why and "office" not in opened.why.split("admit")[0]
    assert "AllowAll" in str(teams.messages()[-1])


def test_the_same_event_delivered_twice_gives_one_row_and_one_alert(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    set_parameter(sdk, baseline_server, "aad_auth_only", "OFF")
    events = arm.drain_events()
    engine.handle_many(events)
    engine.handle_many(events)
    assert len(history(engine, baseline_server)) == 1
    assert len(teams.messages()) == 1


def test_an_old_event_arriving_late_never_rolls_the_baseline_back(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    set_parameter(sdk, baseline_server, "tls_version", "TLSv1.2,TLSv1.3")
    lowered = arm.drain_events()
    engine.handle_many(lowered)
    set_parameter(sdk, baseline_server, "tls_version", "TLSv1.3")
    restored = arm.drain_events()
    engine.handle_many(restored)
    engine.handle_many(lowered)  # Event Grid redelivers the old event after the newer one

    rows = history(engine, baseline_server)
    assert [r.verdict for r in rows] == ["strengthened", "weakened"]
    assert engine.store.load(server_id(baseline_server)).baselines["tls_version"].state == "TLSV1.3"
    assert len(teams.messages()) == 2, "the weakening's card and its resolved card, each once"


def test_events_in_reverse_order_record_the_final_state_once(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    add_rule(sdk, baseline_server, "vendor", "192.0.2.0", "192.0.2.255")
    add_rule(sdk, baseline_server, "everyone", "0.0.0.0", "255.255.255.255")
    first, second = arm.drain_events()
    engine.handle_many([second, first])

    [row] = history(engine, baseline_server)
    assert row.event_id == second["id"] and row.severity == "low", "public access is Disabled"
    assert "everyone" in row.after and "vendor" in row.after
    assert len(teams.messages()) == 1


def test_concurrent_deliveries_for_one_server_lose_no_update_and_double_nothing(
    sdk: Any, arm: ArmStandIn, settings: Settings, teams: TeamsReceiver, baseline_server: str,
) -> None:
    set_parameter(sdk, baseline_server, "aad_auth_only", "OFF")
    set_parameter(sdk, baseline_server, "tls_version", "TLSv1.2,TLSv1.3")
    add_rule(sdk, baseline_server, "everyone", "0.0.0.0", "255.255.255.255")
    events = arm.drain_events()
    arm.latency = 0.05  # widen the window between reading the baseline and committing
    hosts = [build_engine(settings) for _ in range(6)]  # six Function instances
    deliveries = [(hosts[i], [events[i % 3]]) for i in range(6)]  # every event twice, all at once
    barrier = threading.Barrier(len(deliveries))
    errors: list[BaseException] = []

    def run(host: DriftEngine, batch: list[Any]) -> None:
        barrier.wait()
        try:
            host.handle_many(batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=d) for d in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    rows = hosts[0].store.history(server_id=server_id(baseline_server))
    assert sorted(r.setting for r in rows) == ["aad_auth_only", "firewall_rules", "tls_version"]
    assert len(teams.messages()) == 3
    baselines = hosts[0].store.load(server_id(baseline_server)).baselines
    assert baselines["aad_auth_only"].state == "OFF"
    assert baselines["tls_version"].state == {"value": "TLSV1.2,TLSV1.3", "running": "TLSV1.3"}, "pending restart"
    assert any(r["name"] == "everyone" for r in baselines["firewall_rules"].state)


def test_a_failed_alert_post_keeps_the_alert_pending_and_the_retry_sends_it_once(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    set_public_access(sdk, baseline_server, "Enabled")
    events = arm.drain_events()
    teams.add_fault(500)

    with pytest.raises(RetryableFailure):
        engine.handle_many(events)
    [row] = history(engine, baseline_server)
    assert row.alert_status == "pending"
    assert teams.messages() == []

    engine.handle_many(events)  # Event Grid's retry
    engine.handle_many(events)  # and a duplicate of it
    [row] = history(engine, baseline_server)
    assert row.alert_status == "sent"
    assert len(teams.messages()) == 1
    assert facts(teams.messages()[0])["After"] == "Enabled"


def test_an_alert_left_pending_is_sent_by_the_next_event_for_that_server_by_another_instance(
    sdk: Any, arm: ArmStandIn, settings: Settings, teams: TeamsReceiver, baseline_server: str,
) -> None:
    first, second = build_engine(settings), build_engine(settings)
    set_parameter(sdk, baseline_server, "aad_auth_only", "OFF")
    teams.add_fault(503)
    with pytest.raises(RetryableFailure):
        first.handle_many(arm.drain_events())
    set_parameter(sdk, baseline_server, "wait_timeout", "100")
    set_parameter(sdk, baseline_server, "tls_version", "TLSv1.3")  # unchanged value: no new row
    second.handle_many(arm.drain_events())
    assert len(teams.messages()) == 1
    assert [r.alert_status for r in history(second, baseline_server)] == ["sent"]


def test_arm_throttling_is_retried_and_a_persistent_outage_fails_the_event_without_side_effects(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    set_parameter(sdk, baseline_server, "aad_auth_only", "OFF")
    events = arm.drain_events()
    arm.add_fault(status=429, retry_after=0.1, method="GET")
    engine.handle_many(events)
    assert len(history(engine, baseline_server)) == 1

    set_parameter(sdk, baseline_server, "require_secure_transport", "OFF")
    events = arm.drain_events()
    arm.add_fault(status=503, times=10, retry_after=0.01, method="GET")
    with pytest.raises(RetryableFailure):
        engine.handle_many(events)
    assert len(history(engine, baseline_server)) == 1, "nothing was recorded from a failed read"
    arm.clear_faults()
    engine.handle_many(events)
    assert history(engine, baseline_server)[0].setting == "require_secure_transport"


def test_a_malformed_event_is_logged_and_skipped_and_the_rest_of_the_batch_is_processed(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_parameter(sdk, baseline_server, "aad_auth_only", "OFF")
    [good] = arm.drain_events()
    no_data = {k: v for k, v in good.items() if k != "data"} | {"id": "no-data", "subject": None}
    bad_time = dict(good, id="bad-time", eventTime="yesterday")
    batch = ["not an event", no_data, {"id": "x", "eventType": "Something.Else"}, bad_time, good]

    with caplog.at_level(logging.WARNING):
        outcomes = engine.handle_many(batch)

    assert [o.status for o in outcomes] == ["malformed"] * 4 + ["recorded"]
    assert "malformed event skipped" in caplog.text and "not ISO 8601" in caplog.text
    assert [r.event_id for r in history(engine, baseline_server)] == [good["id"]]


def test_a_deleted_server_has_its_baselines_closed_and_a_stale_write_afterwards_is_ignored(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    from tests.conftest import GROUP

    set_public_access(sdk, baseline_server, "Enabled")
    stale_write = arm.drain_events()
    sdk.servers.begin_delete(GROUP, baseline_server).result()
    deliver(engine, arm)
    assert arm.stats.reads == 1, "a delete costs one read: ARM confirms the server is gone"

    outcomes = engine.handle_many(stale_write)
    assert outcomes[0].status == "server_gone"
    rows = history(engine, baseline_server)
    assert [(r.setting, r.after) for r in rows] == [("server", "deleted")]
    assert all(b.closed for b in engine.store.load(server_id(baseline_server)).baselines.values())
    assert teams.messages() == []


def test_a_delete_delivered_again_after_the_server_was_recreated_keeps_the_new_servers_baselines(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    from tests.conftest import GROUP

    sdk.servers.begin_delete(GROUP, baseline_server).result()
    [delete] = arm.drain_events()
    engine.handle_many([delete])
    create_compliant_server(sdk, baseline_server)  # the same name, a new server
    deliver(engine, arm)
    assert not any(b.closed for b in engine.store.load(server_id(baseline_server)).baselines.values())

    [outcome] = engine.handle_many([delete])  # Event Grid delivers the old delete once more
    assert (outcome.status, outcome.detail) == ("unchanged", "server exists: not closed")
    assert not any(b.closed for b in engine.store.load(server_id(baseline_server)).baselines.values())
    set_parameter(sdk, baseline_server, "aad_auth_only", "OFF")
    [change] = deliver(engine, arm)
    assert change.records[0].before == "ON", "judged against its baseline, not as a new server"


def test_cloudevents_schema_is_handled_like_the_event_grid_schema(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    set_parameter(sdk, baseline_server, "aad_auth_only", "OFF")
    [event] = arm.drain_events()
    cloud_event = {"specversion": "1.0", "id": event["id"], "source": event["topic"], "type": event["eventType"],
                   "time": event["eventTime"], "subject": event["subject"], "data": event["data"]}
    [outcome] = engine.handle_many([cloud_event])
    assert outcome.status == "recorded"
    assert history(engine, baseline_server)[0].changed_by == "Casey Admin <casey@contoso.example>"
    assert len(teams.messages()) == 1


def test_a_retry_posts_only_to_the_channels_that_did_not_get_the_alert(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, baseline_server: str,
) -> None:
    from notifiers.teams import TeamsWebhookNotifier

    with TeamsReceiver() as secops:
        engine.notifiers = [TeamsWebhookNotifier(teams.webhook_url, max_wait=0),
                            TeamsWebhookNotifier(secops.webhook_url, max_wait=0, name="teams-secops")]
        set_public_access(sdk, baseline_server, "Enabled")
        events = arm.drain_events()
        secops.add_fault(503)
        with pytest.raises(RetryableFailure):
            engine.handle_many(events)
        assert (len(teams.messages()), len(secops.messages())) == (1, 0)

        engine.handle_many(events)
        engine.handle_many(events)
        assert (len(teams.messages()), len(secops.messages())) == (1, 1)
        assert history(engine, baseline_server)[0].alert_status == "sent"


@pytest.mark.parametrize(("field", "configured", "message"), [
    ("subscriptions", ["11111111-1111-1111-1111-111111111111"], "is not watched"),
    ("tenant_id", "22222222-2222-2222-2222-222222222222", "is not the configured tenant"),
])
def test_an_event_from_a_subscription_or_tenant_that_is_not_configured_is_refused(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str,
    caplog: pytest.LogCaptureFixture, field: str, configured: Any, message: str,
) -> None:
    setattr(engine, field, set(configured) if field == "subscriptions" else configured)
    create_server(sdk, server_name, public_access="Enabled")
    arm.reset_stats()
    with caplog.at_level(logging.WARNING):
        [outcome] = deliver(engine, arm)
    assert outcome.status == "refused" and message in outcome.detail
    assert "refused event" in caplog.text
    assert arm.stats.reads == 0 and history(engine, server_name) == [] and teams.messages() == []
