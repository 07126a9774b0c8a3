"""Alert flow: one card per operation, a digest past the rate limit, and a sweep after an outage."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from drift.config import Settings
from drift.engine import DriftEngine, RetryableFailure
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.runtime import build_engine
from tests.conftest import GROUP
from tests.helpers import create_compliant_server, server_id, set_parameter, set_public_access


def settled(settings: Settings, sdk: Any, arm: ArmStandIn, name: str, **overrides: Any) -> DriftEngine:
    for key, value in overrides.items():
        setattr(settings, key, value)
    engine = build_engine(settings)
    create_compliant_server(sdk, name)
    engine.handle_many(arm.drain_events())
    return engine


def card_kinds(teams: TeamsReceiver) -> list[str]:
    return [m["attachments"][0]["content"]["body"][0]["text"] for m in teams.messages()]


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

    cards = card_kinds(teams)
    [card] = cards
    assert "3 weakening change(s) in one operation" in card
    rows = engine.store.history(server_id=server_id(server_name))
    assert sorted(r.alert_status for r in rows) == ["sent"] * 3


def test_past_the_rate_limit_alerts_wait_for_one_digest_card(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = settled(settings, sdk, arm, server_name, alerts_per_minute=2)
    for parameter in ("aad_auth_only", "require_secure_transport", "audit_log_enabled"):
        set_parameter(sdk, server_name, parameter, "OFF")
    set_public_access(sdk, server_name, "Enabled")
    engine.handle_many(arm.drain_events())
    assert len(teams.messages()) == 2
    assert [r.alert_status for r in engine.store.history(server_id=server_id(server_name))].count("pending") == 2

    assert engine.sweep()["digested"] == 2
    kinds = card_kinds(teams)
    assert len(kinds) == 3 and "digest of 2 further weakening change(s)" in kinds[-1]
    assert {r.alert_status for r in engine.store.history(server_id=server_id(server_name))} == {"sent"}
    assert engine.sweep()["sent"] == 0, "nothing is sent twice"


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
