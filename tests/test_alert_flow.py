"""Alert flow: one card per operation, a digest past the rate limit, and a sweep after an outage."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drift.config import Settings
from drift.engine import DriftEngine, RetryableFailure
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.runtime import build_engine
from notifiers.teams import heading_text, listed_records
from tests.conftest import GROUP
from tests.helpers import add_rule, create_compliant_server, server_id, set_parameter


def settled(settings: Settings, sdk: Any, arm: ArmStandIn, name: str, **overrides: Any) -> DriftEngine:
    for key, value in overrides.items():
        setattr(settings, key, value)
    engine = build_engine(settings)
    create_compliant_server(sdk, name)
    engine.handle_many(arm.drain_events())
    return engine


def one_minute() -> Any:
    """A clock that stays inside one minute, so the per-minute rate limit cannot roll over mid-test."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return lambda: start


def card_kinds(teams: TeamsReceiver) -> list[str]:
    return [heading_text(m["attachments"][0]["content"]) for m in teams.messages()]


def test_changes_of_one_operation_become_one_card(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = settled(settings, sdk, arm, server_name, group_window=0.5)
    operation = {"x-ms-correlation-request-id": str(uuid.uuid4())}  # one script, one correlation id
    sdk.configurations.begin_update(GROUP, server_name, "aad_auth_only", {"properties": {"value": "OFF"}},
                                    headers=operation).result()
    sdk.configurations.begin_update(GROUP, server_name, "require_secure_transport", {"properties": {"value": "OFF"}},
                                    headers=operation).result()
    sdk.servers.begin_update(GROUP, server_name, {"properties": {"network": {"publicNetworkAccess": "Enabled"}}},
                             headers=operation).result()
    events = arm.drain_events()
    assert len({e["data"]["correlationId"] for e in events}) == 1
    hosts = [build_engine(settings) for _ in events]  # delivered at once, to separate instances
    threads = [threading.Thread(target=h.handle_many, args=([e],)) for h, e in zip(hosts, events, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert card_kinds(teams) == [], "no handler waits out the window: the group is sent after it"
    time.sleep(1.2)  # the grouping window, and the queue message's delay, have passed
    outcomes = engine.process_rechecks()
    assert sum(o.alerts_sent for o in outcomes) == 1, "the first message sends the group, the others find it taken"

    [card] = card_kinds(teams)
    assert "3 weakening change(s) in one operation" in card
    rows = engine.store.history(server_id=server_id(server_name))
    assert sorted(r.alert_status for r in rows) == ["sent"] * 3


def test_past_the_rate_limit_alerts_wait_for_one_digest_card_but_high_ones_never_do(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = settled(settings, sdk, arm, server_name, alerts_per_minute=2)
    engine.outbox.clock = one_minute()
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2")  # medium
    set_parameter(sdk, server_name, "audit_log_events", "DDL")  # medium
    add_rule(sdk, server_name, "office", "198.51.100.1", "198.51.100.9")  # low: public access is off
    set_parameter(sdk, server_name, "require_secure_transport", "OFF")  # high
    engine.handle_many(arm.drain_events())
    sent = card_kinds(teams)
    assert len(sent) == 3 and "REQUIRE" in sent[-1].upper(), "two under the limit, and the high one regardless"
    history = engine.store.history(server_id=server_id(server_name))
    assert [r.setting for r in history if r.alert_status == "pending"] == ["firewall_rules"]

    assert engine.sweep()["digested"] == 1
    kinds = card_kinds(teams)
    assert len(kinds) == 4 and "digest of 1 further weakening change(s)" in kinds[-1].lower()
    assert {r.alert_status for r in engine.store.history(server_id=server_id(server_name))} == {"sent"}
    assert engine.sweep()["sent"] == 0, "nothing is sent twice"


def test_a_digest_lists_the_worst_first_and_counts_each_setting_by_severity(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = settled(settings, sdk, arm, server_name, alerts_per_minute=1)
    engine.outbox.clock = one_minute()
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2")  # medium: takes the minute's one slot
    add_rule(sdk, server_name, "office", "198.51.100.1", "198.51.100.9")  # low, held first
    set_parameter(sdk, server_name, "audit_log_events", "DDL")  # medium, held after it
    engine.handle_many(arm.drain_events())
    assert len(teams.messages()) == 1
    engine.sweep()
    digest = teams.messages()[-1]["attachments"][0]["content"]
    by_setting = [b["text"] for b in digest["body"] if b["type"] == "TextBlock" and b["text"].startswith("• ")]
    assert by_setting == ["• audit_log_events: 1 medium on 1 server", "• firewall_rules: 1 low on 1 server"]
    listed = [b["items"][0]["text"].split(" ")[0] for b in listed_records(digest)]
    assert listed == ["MEDIUM", "LOW"]


def test_after_an_outage_the_sweep_sends_exactly_one_card_per_alert(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = settled(settings, sdk, arm, server_name)
    teams.add_fault(503, times=100)
    for parameter in ("aad_auth_only", "require_secure_transport"):
        set_parameter(sdk, server_name, parameter, "OFF")
        with pytest.raises(RetryableFailure):  # Event Grid would retry; here the sweep will do it
            engine.handle_many(arm.drain_events())
    assert teams.messages() == []
    teams.clear()  # the webhook is back

    result = engine.sweep()
    assert (result["pending"], result["sent"]) == (2, 2)
    assert len(teams.messages()) == 2
    assert engine.sweep()["pending"] == 0
    assert len(teams.messages()) == 2
