"""Audit exclusions through the stand-in and the real SDK: who the audit log leaves out."""

from __future__ import annotations

from typing import Any

from drift.engine import DriftEngine
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from tests.helpers import create_compliant_server, server_id, set_parameter


def test_excluding_the_administrator_login_while_auditing_is_high_and_an_app_user_medium(
        sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str) -> None:
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    assert engine.store.history(server_id=server_id(server_name)) == [], "Azure's own azure_superuser is no finding"

    set_parameter(sdk, server_name, "audit_log_exclude_users", "azure_superuser,app_reporting")
    [outcome] = engine.handle_many(arm.drain_events())
    [record] = outcome.records
    assert (record.setting, record.verdict, record.severity) == ("audit_log_exclude_users", "weakened", "medium")
    assert "app_reporting" in record.why and outcome.reads == 1

    set_parameter(sdk, server_name, "audit_log_exclude_users", "azure_superuser,app_reporting,cloudsa")
    [outcome] = engine.handle_many(arm.drain_events())
    [record] = outcome.records
    assert (record.verdict, record.severity) == ("weakened", "high")
    assert "the administrator login cloudsa" in record.why
    assert record.remediation and "audit_log_exclude_users" in record.remediation
    assert len(teams.messages()) == 2

    set_parameter(sdk, server_name, "audit_log_enabled", "OFF")
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "audit_log_include_users", "app_orders")
    [outcome] = engine.handle_many(arm.drain_events())
    assert [(r.verdict, r.severity) for r in outcome.records] == [("changed", "info")], \
        "with audit off, the audit_log_enabled finding says it all"
