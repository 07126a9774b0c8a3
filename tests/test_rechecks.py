"""A long-running write: its event comes while the server still says `Updating` and shows the old value."""

from __future__ import annotations

import time
from typing import Any

import pytest

from drift.config import Settings
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.runtime import build_engine
from tests.helpers import create_compliant_server, server_id, set_parameter, set_public_access


def test_an_update_still_in_flight_is_read_again_later_and_ends_with_the_right_verdict_and_one_alert(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = build_engine(settings)
    engine.recheck_delays = (0.0, 0.0, 0.0)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    arm.defer_server_updates = True
    set_public_access(sdk, server_name, "Enabled")

    [outcome] = engine.handle_many(arm.drain_events())
    assert (outcome.status, outcome.server_state) == ("deferred", "Updating")
    assert engine.store.history(server_id=server_id(server_name)) == [], "the old value is no proof of no change"
    assert [o.status for o in engine.process_rechecks()] == ["deferred"], "still updating: queued once more"

    arm.finish_updates()
    [outcome] = engine.process_rechecks()
    assert outcome.status == "recorded"
    [row] = engine.store.history(server_id=server_id(server_name))
    assert (row.setting, row.verdict, row.after, row.changed_by) == (
        "public_network_access", "weakened", "Enabled", "Casey Admin <casey@contoso.example>")
    assert len(teams.messages()) == 1
    assert engine.process_rechecks() == []


def test_re_checks_are_bounded(settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
                               caplog: pytest.LogCaptureFixture) -> None:
    engine = build_engine(settings)
    engine.recheck_delays = (0.0, 0.0)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    arm.defer_server_updates = True
    set_public_access(sdk, server_name, "Enabled")
    engine.handle_many(arm.drain_events())
    statuses = []
    for _ in range(4):
        statuses += [o.status for o in engine.process_rechecks()]
        time.sleep(0.05)
    assert statuses == ["deferred", "unchanged"], "two re-checks, then judged on what it shows"
    assert "still Updating after 2 re-checks" in caplog.text


def test_a_static_parameter_waiting_for_a_restart_is_recorded_as_such(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2")  # static: applies at the next restart
    engine.handle_many(arm.drain_events())
    [row] = engine.store.history(server_id=server_id(server_name))
    assert row.setting == "tls_version" and "pending restart" in row.why


def test_queued_re_checks_are_base64_as_the_functions_queue_trigger_reads_them(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    import base64
    import json

    from azure.storage.queue import QueueClient

    from drift.events import parse_event

    engine = build_engine(settings)
    engine.recheck_delays = (0.0,)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    arm.defer_server_updates = True
    set_public_access(sdk, server_name, "Enabled")
    [event] = arm.drain_events()
    engine.handle_many([event])

    raw = QueueClient.from_connection_string(str(settings.storage_connection_string), settings.recheck_queue)
    [message] = list(raw.peek_messages(max_messages=5))
    payload = json.loads(base64.b64decode(message.content))
    assert payload["attempt"] == 1
    # The event as parsed, rebuilt from its bounded fields: a 40K-character claim cannot overflow the queue's 64 KiB.
    assert parse_event(payload["event"]) == parse_event(event)
