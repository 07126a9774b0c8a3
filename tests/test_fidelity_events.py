"""Changes Azure announces in shapes the detector used to drop, through the real SDK and the stand-in.

Each change is made as a user makes it (the management SDK against the ARM stand-in), the
stand-in emits the event Azure would, and the engine handles it as Event Grid delivers it:
a VNet detach (`detachVNet/action`), a restart that makes a static parameter run
(`restart/action`), diagnostic settings and private endpoints under their other operation names,
and sub-resources (Defender, private endpoint connections) still provisioning when their event
comes. The event-shape-only checks of the same rows are in tests/test_routing.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from azure.mgmt.mysqlflexibleservers import models

from drift import routing
from drift.engine import DriftEngine
from drift.events import parse_event
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.readers import unsettled
from tests.conftest import GROUP, SUBSCRIPTION, fixture_json
from tests.helpers import (
    create_compliant_server,
    detach_vnet,
    diagnostic_setting,
    restart,
    server_id,
    set_parameter,
)

MYSQL = "Microsoft.DBforMySQL/flexibleServers"
SUBNET = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Network/virtualNetworks/vnet/"
          "subnets/mysql")
DNS_ZONE = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Network/privateDnsZones/"
            "db.private.mysql.database.azure.com")


def history(engine: DriftEngine, name: str) -> list[Any]:
    return engine.store.history(server_id=server_id(name))


def deliver(engine: DriftEngine, arm: ArmStandIn) -> list[Any]:
    return engine.handle_many(arm.drain_events())


@pytest.fixture
def vnet_server(sdk: Any, arm: ArmStandIn, engine: DriftEngine, server_name: str) -> str:
    """A compliant server integrated in a VNet, baselined, with no history."""
    create_compliant_server(sdk, server_name, subnet=SUBNET, dns_zone=DNS_ZONE)
    deliver(engine, arm)
    assert history(engine, server_name) == []
    server = sdk.servers.get(GROUP, server_name)
    assert server.network.delegated_subnet_resource_id == SUBNET
    return server_name


# -- 1. VNet detach ------------------------------------------------------------------------------

def test_a_vnet_detach_that_opens_public_access_is_seen_at_once(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, vnet_server: str,
) -> None:
    history_before = history(engine, vnet_server)
    teams.clear()
    detach_vnet(sdk, vnet_server, public_access="Enabled")
    [event] = arm.drain_events()
    assert event["data"]["operationName"] == f"{MYSQL}/detachVNet/action"
    assert event["eventType"] == "Microsoft.Resources.ResourceActionSuccess"
    assert event["subject"].lower() == server_id(vnet_server).lower()

    [outcome] = engine.handle_many([event])
    assert outcome.status == "recorded" and outcome.reads == 1, "one read of the server, nothing else"
    new = [r for r in history(engine, vnet_server) if r not in history_before]
    verdicts = {r.setting: (r.verdict, r.before, r.after) for r in new}
    assert verdicts["public_network_access"] == ("weakened", "Disabled", "Enabled")
    assert verdicts["network_isolation"] == ("weakened", "VNet integrated (mysql)", "not VNet integrated")
    assert all(r.operation == f"{MYSQL}/detachVNet/action" for r in new)
    assert len(teams.messages()) >= 1


def test_the_stand_in_answers_detach_vnet_as_the_official_example(
    sdk: Any, arm: ArmStandIn, vnet_server: str,
) -> None:
    from azure.core.rest import HttpRequest

    example = fixture_json("arm", "mysql-flexible-2024-12-30", "ServerDetachVNet.json")
    request = HttpRequest("POST", server_id(vnet_server) + "/detachVNet",
                          params={"api-version": example["parameters"]["api-version"]},
                          json=example["parameters"]["parameters"])
    response = sdk._send_request(request)
    assert response.status_code in (200, 202), "the spec's answers for a long-running detach"
    expected = example["responses"]["200"]["body"]
    if response.status_code == 202:  # poll where the answer says, as the SDK's poller would
        monitor = response.headers.get("Azure-AsyncOperation") or response.headers["Location"]
        for _ in range(20):
            status = sdk._send_request(HttpRequest("GET", monitor))
            if status.status_code == 200 and status.json().get("status", "Succeeded") == "Succeeded":
                break
    answer = sdk._send_request(HttpRequest("GET", server_id(vnet_server),
                                           params={"api-version": example["parameters"]["api-version"]})).json()
    assert set(answer) - set(expected) == {"identity"}, "the example's server has no key identity; this one has"
    assert set(expected) <= set(answer)
    assert answer["properties"]["network"] == {"publicNetworkAccess": "Enabled"}
    assert set(answer["properties"]["network"]) == set(expected["properties"]["network"]), "the subnet is gone"
    [event] = arm.drain_events()
    assert event["data"]["httpRequest"]["method"] == "POST"


def test_detach_vnet_on_a_server_outside_any_vnet_is_refused_and_emits_nothing(
    sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    from azure.core.exceptions import HttpResponseError

    create_compliant_server(sdk, server_name)
    arm.drain_events()
    with pytest.raises(HttpResponseError, match="ServerNotInVnet"):
        detach_vnet(sdk, server_name, public_access="Enabled")
    assert arm.drain_events() == []
    assert sdk.servers.get(GROUP, server_name).network.public_network_access == "Disabled"


# -- 4. static parameters and restart ------------------------------------------------------------

def test_a_tls_fix_counts_only_once_the_restart_makes_it_run(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, server_name: str,
) -> None:
    create_compliant_server(sdk, server_name)
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2,TLSv1.3")
    restart(sdk, server_name)
    deliver(engine, arm)  # baseline: the server runs TLS 1.2 and 1.3 (a posture gap)
    start = len(history(engine, server_name))

    set_parameter(sdk, server_name, "tls_version", "TLSv1.3")
    config = sdk.configurations.get(GROUP, server_name, "tls_version")
    assert (config.value, config.current_value, config.is_config_pending_restart) == (
        "TLSv1.3", "TLSv1.2,TLSv1.3", "True"), "the stand-in keeps the running value until a restart"
    deliver(engine, arm)
    [pending] = history(engine, server_name)[: len(history(engine, server_name)) - start]
    assert (pending.setting, pending.verdict) == ("tls_version", "changed"), "no strengthening yet"
    assert "not in force yet" in pending.why and "pending restart" in pending.why

    restart(sdk, server_name)
    [event] = arm.drain_events()
    assert event["data"]["operationName"] == f"{MYSQL}/restart/action"
    [outcome] = engine.handle_many([event])
    assert outcome.reads == 1, "a restart re-reads the static tracked parameters only"
    applied = history(engine, server_name)[0]
    assert (applied.setting, applied.verdict, applied.after) == ("tls_version", "strengthened", "TLSv1.3")
    assert applied.operation == f"{MYSQL}/restart/action"


def test_a_tls_weakening_pending_restart_is_alerted_as_pending_and_the_restart_adds_no_second_alert(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str,
) -> None:
    create_compliant_server(sdk, server_name)
    deliver(engine, arm)
    assert history(engine, server_name) == []
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2,TLSv1.3")
    deliver(engine, arm)
    [row] = history(engine, server_name)
    assert (row.verdict, row.severity) == ("weakened", "medium") and "pending restart" in row.why
    assert len(teams.messages()) == 1

    restart(sdk, server_name)
    deliver(engine, arm)
    latest = history(engine, server_name)[0]
    assert (latest.verdict, latest.after) == ("changed", "TLSv1.2,TLSv1.3"), "now running what was alerted"
    assert latest.why == "now in force after a restart: the server runs TLSv1.2,TLSv1.3"
    assert len(teams.messages()) == 1


# -- 3. diagnostic settings under the provider's server-scoped name --------------------------------

def test_a_diagnostic_setting_event_under_the_server_scoped_name_is_handled(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, server_name: str,
) -> None:
    create_compliant_server(sdk, server_name)
    deliver(engine, arm)
    diagnostic_setting(sdk, server_name, "audit", None)
    [event] = arm.drain_events()
    assert event["data"]["operationName"].lower() == "microsoft.insights/diagnosticsettings/delete"
    renamed = copy.deepcopy(event)
    renamed["id"] = "server-scoped-name"
    renamed["data"]["operationName"] = f"{MYSQL}/providers/Microsoft.Insights/diagnosticSettings/delete"
    [outcome] = engine.handle_many([renamed])
    assert outcome.status == "recorded"
    [row] = history(engine, server_name)
    assert (row.setting, row.verdict, row.after) == ("diagnostic_settings", "weakened", "no diagnostic settings")
    assert engine.handle_many([event])[0].status == "unchanged", "the other name of the same change: no new row"


# -- 2. private endpoints as proxy operations ----------------------------------------------------

def test_a_private_endpoint_proxy_event_re_reads_the_connections(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, server_name: str,
) -> None:
    create_compliant_server(sdk, server_name)
    deliver(engine, arm)
    sdk.private_endpoint_connections.begin_create_or_update(
        GROUP, server_name, "pe-app", models.PrivateEndpointConnection()).result()
    [event] = arm.drain_events()
    proxy = copy.deepcopy(event)
    subject = server_id(server_name) + "/privateEndpointConnectionProxies/pe-app"
    proxy["subject"] = proxy["data"]["resourceUri"] = proxy["data"]["authorization"]["scope"] = subject
    proxy["data"]["operationName"] = f"{MYSQL}/privateEndpointConnectionProxies/write"
    plan = routing.plan(parse_event(proxy))
    assert plan is not None and plan.reads == ["private_endpoints"]
    [outcome] = engine.handle_many([proxy])
    assert (outcome.status, outcome.reads) == ("recorded", 1)
    [row] = history(engine, server_name)
    assert (row.setting, row.after) == ("private_endpoints", "pe-app [Approved]")


# -- 5. sub-resources still provisioning ---------------------------------------------------------

def test_a_defender_change_still_updating_is_re_checked_and_judged_when_it_settles(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str,
) -> None:
    engine.recheck_delays = (0.0, 0.0, 0.0)
    create_compliant_server(sdk, server_name)
    deliver(engine, arm)
    arm.defer_subresource_updates = True
    sdk.advanced_threat_protection_settings.begin_update_put(
        GROUP, server_name, "Default", models.AdvancedThreatProtection(state="Disabled"), polling=False).result()
    assert sdk.advanced_threat_protection_settings.get(GROUP, server_name, "Default").provisioning_state == "Updating"

    [outcome] = deliver(engine, arm)
    assert outcome.status == "deferred" and "Defender setting Updating" in outcome.detail
    assert history(engine, server_name) == [], "an old value mid-update is no proof of no change"
    assert [o.status for o in engine.process_rechecks()] == ["deferred"]

    arm.finish_updates()
    [outcome] = engine.process_rechecks()
    assert outcome.status == "recorded"
    [row] = history(engine, server_name)
    assert (row.setting, row.verdict, row.after) == ("defender", "weakened", "Disabled")
    assert len(teams.messages()) == 1


def test_a_private_endpoint_connection_still_creating_is_re_checked(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, server_name: str,
) -> None:
    engine.recheck_delays = (0.0,)
    create_compliant_server(sdk, server_name)
    deliver(engine, arm)
    arm.defer_subresource_updates = True
    sdk.private_endpoint_connections.begin_create_or_update(
        GROUP, server_name, "pe-app", models.PrivateEndpointConnection(), polling=False).result()
    [outcome] = deliver(engine, arm)
    assert outcome.status == "deferred" and "private endpoint connection pe-app Creating" in outcome.detail
    arm.finish_updates()
    [outcome] = engine.process_rechecks()
    assert outcome.status == "recorded"
    [row] = history(engine, server_name)
    assert (row.setting, row.after) == ("private_endpoints", "pe-app [Approved]")


def test_what_counts_as_still_provisioning_in_the_official_examples() -> None:
    folder = "mysql-flexible-2024-12-30"
    defender = fixture_json("arm", folder, "AdvancedThreatProtectionSettingsGet.json")["responses"]["200"]["body"]
    connection = fixture_json("arm", folder, "PrivateEndpointConnectionGet.json")["responses"]["200"]["body"]
    assert unsettled("threat_protection", defender) is None, "Succeeded"
    assert unsettled("private_endpoints", [connection]) is None, "the example's `Ready` is settled"
    updating = copy.deepcopy(defender)
    updating["properties"]["provisioningState"] = "Updating"
    assert unsettled("threat_protection", updating) == "Defender setting Updating"
    for state in ("Creating", "Deleting", "Failed"):
        pending = copy.deepcopy(connection)
        pending["properties"]["provisioningState"] = state
        assert unsettled("private_endpoints", [connection, pending]) == (
            f"private endpoint connection private-endpoint-connection-name {state}")
    assert unsettled("server", {"properties": {"provisioningState": "Updating"}}) is None, "the server has `state`"
    assert unsettled("threat_protection", None) is None
