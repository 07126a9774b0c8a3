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
    assert names == ["console", "on_arm_event", "recheck", "reconcile", "review", "sweep_alerts"]
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


KEY_VAULT_LITERAL = "@Microsoft.KeyVault(SecretUri=https://kv-abc.vault.azure.net/secrets/teams-webhook-url)"


def test_an_unresolved_key_vault_reference_is_refused_at_start_up_with_one_line_naming_the_setting() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DRIFT_NOTIFIERS": "teams", "DRIFT_TEAMS_WEBHOOK_URL": KEY_VAULT_LITERAL,
           "DRIFT_STORAGE_TABLE_ENDPOINT": "https://st.table.core.windows.net"}
    out = subprocess.run([sys.executable, "-c", "import function_app"], capture_output=True, text=True, check=True,
                         env=env)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "DRIFT_TEAMS_WEBHOOK_URL is an unresolved Key Vault reference" in lines[0]
    assert "kv-abc" not in out.stderr, "the setting's value is never logged"


def test_a_malformed_number_setting_does_not_stop_the_app_from_starting() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DRIFT_NOTIFIERS": "console", "DRIFT_ALERTS_PER_MINUTE": "twenty",
           "DRIFT_STORAGE_TABLE_ENDPOINT": "https://st.table.core.windows.net"}
    out = subprocess.run([sys.executable, "-c", "import function_app; print(len(function_app.app.get_functions()))"],
                         capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "6", "every function is still indexed"
    assert "configuration refused" in out.stderr and "twenty" in out.stderr


@pytest.mark.parametrize("value", [KEY_VAULT_LITERAL, "http://contoso.example/hook", "prod-webhook.example.com/x",
                                   "https://?x=1"])
def test_the_first_invocation_refuses_a_webhook_that_is_not_an_https_url(
    value: str, app_settings: Settings, arm: ArmStandIn, teams: TeamsReceiver, sdk: Any, server_name: str,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    from drift.config import ConfigError

    monkeypatch.setenv("DRIFT_TEAMS_WEBHOOK_URL", value)
    create_server(sdk, server_name, public_access="Enabled")
    [event] = arm.drain_events()
    with pytest.raises(ConfigError, match="DRIFT_TEAMS_WEBHOOK_URL") as refused:
        trigger().get_user_function()(as_event_grid_event(event))
    assert value not in str(refused.value) and value not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.name == "drift.runtime"] == [
        f"configuration refused: {refused.value}"]
    assert teams.messages() == []


@pytest.mark.parametrize(("value", "fine"), [
    ("https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=x", True),
    ("http://127.0.0.1:8123/workflows/teams-webhook", True),  # the local stack's receiver
    ("http://localhost:8123/workflows/teams-webhook", True),
    (KEY_VAULT_LITERAL, False), ("  @microsoft.keyvault(VaultName=kv;SecretName=s)", False),
    ("http://contoso.example/hook", False), ("ftp://contoso.example", False), ("", False),
])
def test_which_webhook_values_the_settings_accept(value: str, fine: bool) -> None:
    from drift.config import ConfigError

    settings = Settings(storage_table_endpoint="https://st.table.core.windows.net", notifiers=["teams"],
                        teams_webhook_url=value or None)
    if fine:
        settings.validate()
    else:
        with pytest.raises(ConfigError, match="DRIFT_TEAMS_WEBHOOK_URL"):
            settings.validate()
