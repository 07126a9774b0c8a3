"""The Function app's Event Grid trigger, invoked as the Functions host would, in both schemas."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from drift import runtime
from drift.config import Settings
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from tests.function_index import functions
from tests.helpers import create_compliant_server, create_server, server_id, set_parameter


@pytest.fixture
def app_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """App settings as the Function app reads them, pointing at the local stack."""
    for key, value in {
        "DRIFT_ARM_ENDPOINT": settings.arm_endpoint, "DRIFT_ARM_CA_BUNDLE": str(settings.arm_ca_bundle),
        "DRIFT_ARM_CREDENTIAL": "local", "DRIFT_STORAGE_CONNECTION_STRING": str(settings.storage_connection_string),
        "DRIFT_TABLE_NAME": settings.table_name, "DRIFT_NOTIFIERS": "teams", "DRIFT_ALERT_MAX_WAIT": "0.2",
        "DRIFT_TEAMS_WEBHOOK_URL": str(settings.teams_webhook_url),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(runtime, "_engine", None)
    yield settings
    monkeypatch.setattr(runtime, "_engine", None)


def trigger(name: str = "on_arm_event") -> Any:
    [fn] = [f for f in functions() if f.get_function_name() == name]
    return fn


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")[:26] + "+00:00")


def as_event_grid_event(raw: dict[str, Any]) -> func.EventGridEvent:
    return func.EventGridEvent(id=raw["id"], data=raw["data"], topic=raw["topic"], subject=raw["subject"],
                               event_type=raw["eventType"], event_time=when(raw["eventTime"]),
                               data_version=raw["dataVersion"])


def as_cloud_event(raw: dict[str, Any]) -> func.CloudEvent:
    return func.CloudEvent(id=raw["id"], source=raw["topic"], type=raw["eventType"], specversion="1.0",
                           time=when(raw["eventTime"]), subject=raw["subject"], datacontenttype=None,
                           dataschema=None, data=raw["data"])


def test_the_app_has_its_triggers() -> None:
    names = sorted(f.get_function_name() for f in functions())
    assert names == ["on_arm_event", "recheck", "reconcile", "review", "sweep_alerts"]
    [queue] = trigger("recheck").get_bindings_dict()["bindings"]
    assert (queue["type"], queue["queueName"], queue["connection"]) == (
        "queueTrigger", "%DRIFT_RECHECK_QUEUE%", "AzureWebJobsStorage")


def test_the_app_has_an_event_grid_trigger_and_a_sweep_timer() -> None:
    bindings = trigger().get_bindings_dict()["bindings"]
    assert [(b["type"], b["direction"].name) for b in bindings] == [("eventGridTrigger", "IN")]
    [timer] = trigger("sweep_alerts").get_bindings_dict()["bindings"]
    assert (timer["type"], timer["schedule"]) == ("timerTrigger", "0 */1 * * * *")


@pytest.mark.parametrize("convert", [as_event_grid_event, as_cloud_event], ids=["eventgrid", "cloudevents"])
def test_the_trigger_hands_either_schema_to_the_core(
    convert: Any, app_settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    user_function = trigger().get_user_function()
    for write in (lambda: create_compliant_server(sdk, server_name),
                  lambda: set_parameter(sdk, server_name, "aad_auth_only", "OFF")):
        write()
        for raw in arm.drain_events():
            user_function(convert(raw))

    rows = runtime.engine().store.history(server_id=server_id(server_name))
    assert [(r.setting, r.before, r.after, r.alert_status) for r in rows] == [("aad_auth_only", "ON", "OFF", "sent")]
    assert len(teams.messages()) == 1


def test_a_failed_alert_fails_the_invocation_so_event_grid_retries(
    app_settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    create_server(sdk, server_name, public_access="Enabled")
    [event] = arm.drain_events()
    teams.add_fault(502)
    with pytest.raises(Exception, match="alert delivery failed"):
        trigger().get_user_function()(as_event_grid_event(event))
    trigger().get_user_function()(as_event_grid_event(event))
    assert len(teams.messages()) == 1


def test_importing_the_app_does_not_import_the_sdks() -> None:
    import subprocess
    import sys

    code = ("import sys, function_app; heavy = [m for m in ('azure.mgmt.mysqlflexibleservers', 'azure.data.tables',"
            " 'azure.identity') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
