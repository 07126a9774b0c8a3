"""Where audit logs go, through the stand-in and the SDK: destinations by full id, names of settings ignored."""

from __future__ import annotations

from typing import Any

from drift.engine import DriftEngine
from drift.local import writes
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from tests.helpers import AUDIT_TO_WORKSPACE, WORKSPACE, create_compliant_server, diagnostic_setting, server_id


def baselined(sdk: Any, arm: ArmStandIn, engine: DriftEngine, name: str) -> None:
    create_compliant_server(sdk, name)
    engine.handle_many(arm.drain_events())
    assert engine.store.history(server_id=server_id(name)) == []


def test_a_renamed_diagnostic_setting_is_recorded_without_an_alert(
        sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str) -> None:
    baselined(sdk, arm, engine, server_name)
    diagnostic_setting(sdk, server_name, "audit-to-soc", AUDIT_TO_WORKSPACE)  # the new name first
    diagnostic_setting(sdk, server_name, "audit", None)  # then the old one goes
    engine.handle_many(arm.drain_events())
    rows = engine.store.history(server_id=server_id(server_name))
    # both events re-read the settings as they are now: one change recorded, by the first
    assert [(r.setting, r.verdict, r.severity) for r in rows] == [("diagnostic_settings", "changed", "info")]
    assert rows[0].after == "audit-to-soc (audit to workspace soc (x/sec))"
    assert teams.messages() == []


def test_audit_logs_redirected_to_a_same_named_workspace_in_another_subscription_are_alerted(
        sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str) -> None:
    baselined(sdk, arm, engine, server_name)
    elsewhere = WORKSPACE.replace("/subscriptions/x/", "/subscriptions/y/")
    diagnostic_setting(sdk, server_name, "audit", writes.audit_to_workspace(elsewhere))
    engine.handle_many(arm.drain_events())
    [row] = engine.store.history(server_id=server_id(server_name))
    assert (row.verdict, row.severity, row.alert_status) == ("weakened", "medium", "sent")
    assert WORKSPACE in row.why and elsewhere in row.why
    assert (row.before, row.after) == ("audit (audit to workspace soc (x/sec))",
                                       "audit (audit to workspace soc (y/sec))")
    assert len(teams.messages()) == 1
