"""Routing: which ARM reads an event calls for, from its subject, kind and operation.

The rows follow the table "What arrives for MySQL flexible servers" in the shared notes; the
events are the official Event Grid samples with only the subject and operation swapped in.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import pytest

from drift import routing
from drift.armid import InvalidResourceId, ResourceId, mysql_server_ref
from drift.events import MalformedEvent, parse_event
from tests.conftest import FIXTURES, fixture_json

SERVER = ("/subscriptions/00000000-1111-2222-3333-444444444444/resourcegroups/TestGroup/providers/"
          "Microsoft.DBforMySQL/flexibleServers/mysqltestserver")
MYSQL = "Microsoft.DBforMySQL/flexibleServers"
KINDS = {"Write": "resource_write", "Delete": "resource_delete", "Action": "resource_action"}


def sample(kind: str, outcome: str = "success", schema: str = "event-grid-schema") -> dict[str, Any]:
    return fixture_json("eventgrid", schema, f"{KINDS[kind]}_{outcome}.json")


def event_for(kind: str, subject: str, operation: str, outcome: str = "success",
              schema: str = "event-grid-schema") -> dict[str, Any]:
    """An official sample with the subject and operation of a MySQL change."""
    raw = copy.deepcopy(sample(kind, outcome, schema))
    raw["subject"] = subject
    raw["data"]["resourceUri"] = subject
    raw["data"]["operationName"] = operation
    raw["data"]["authorization"]["scope"] = subject
    return raw


ROUTING_TABLE = [
    ("server PUT/PATCH", "Write", "", f"{MYSQL}/write", ["server"]),
    ("firewall rule create", "Write", "/firewallRules/rule1", f"{MYSQL}/firewallRules/write", ["firewall_rules"]),
    ("firewall rule delete", "Delete", "/firewallRules/rule1", f"{MYSQL}/firewallRules/delete", ["firewall_rules"]),
    ("tracked parameter", "Write", "/configurations/tls_version", f"{MYSQL}/configurations/write",
     ["configuration/tls_version"]),
    ("tracked parameter, other casing", "Write", "/CONFIGURATIONS/Require_Secure_Transport",
     f"{MYSQL}/configurations/write", ["configuration/require_secure_transport"]),
    ("batch parameter update", "Action", "", f"{MYSQL}/updateConfigurations/action",
     ["configuration/aad_auth_only", "configuration/audit_log_enabled", "configuration/audit_log_events",
      "configuration/audit_log_exclude_users", "configuration/audit_log_include_users",
      "configuration/require_secure_transport", "configuration/tls_version"]),
    ("Entra admin write", "Write", "/administrators/ActiveDirectory", f"{MYSQL}/administrators/write",
     ["administrators"]),
    ("Entra admin delete", "Delete", "/administrators/ActiveDirectory", f"{MYSQL}/administrators/delete",
     ["administrators"]),
    ("private endpoint connection", "Write", "/privateEndpointConnections/pec1",
     f"{MYSQL}/privateEndpointConnections/write", ["private_endpoints"]),
    ("private endpoint connection delete", "Delete", "/privateEndpointConnections/pec1",
     f"{MYSQL}/privateEndpointConnections/delete", ["private_endpoints"]),
    ("Defender", "Write", "/advancedThreatProtectionSettings/Default",
     f"{MYSQL}/advancedThreatProtectionSettings/write", ["threat_protection"]),
    ("diagnostic setting write", "Write", "/providers/Microsoft.Insights/diagnosticSettings/audit",
     "Microsoft.Insights/diagnosticSettings/write", ["diagnostic_settings"]),
    ("diagnostic setting delete, lower-case provider", "Delete",
     "/providers/microsoft.insights/diagnosticsettings/audit", "microsoft.insights/diagnosticSettings/delete",
     ["diagnostic_settings"]),
    ("server delete", "Delete", "", f"{MYSQL}/delete", [routing.SERVER_DELETED]),
    ("VNet detach (POST detachVNet)", "Action", "", f"{MYSQL}/detachVNet/action", ["server"]),
    ("restart: static parameters take their stored value", "Action", "", f"{MYSQL}/restart/action",
     ["configuration/tls_version"]),
    ("private endpoint connection proxy write", "Write", "/privateEndpointConnectionProxies/pe-proxy-1",
     f"{MYSQL}/privateEndpointConnectionProxies/write", ["private_endpoints"]),
    ("private endpoint connection proxy delete", "Delete", "/privateEndpointConnectionProxies/pe-proxy-1",
     f"{MYSQL}/privateEndpointConnectionProxies/delete", ["private_endpoints"]),
    ("diagnostic setting write, provider's server-scoped name", "Write",
     "/providers/Microsoft.Insights/diagnosticSettings/audit",
     f"{MYSQL}/providers/Microsoft.Insights/diagnosticSettings/write", ["diagnostic_settings"]),
    ("diagnostic setting delete, provider's server-scoped name", "Delete",
     "/providers/Microsoft.Insights/diagnosticSettings/audit",
     f"{MYSQL}/providers/Microsoft.Insights/diagnosticSettings/delete", ["diagnostic_settings"]),
]


@pytest.mark.parametrize("schema", ["event-grid-schema", "cloud-events-schema"])
@pytest.mark.parametrize(("row", "kind", "suffix", "operation", "reads"), ROUTING_TABLE,
                         ids=[r[0] for r in ROUTING_TABLE])
def test_every_row_of_the_routing_table(row: str, kind: str, suffix: str, operation: str, reads: list[str],
                                        schema: str) -> None:
    plan = routing.plan(parse_event(event_for(kind, SERVER + suffix, operation, schema=schema)))
    assert plan is not None, row
    assert plan.reads == reads
    assert plan.server.server_id.lower() == SERVER.lower()
    assert plan.server.name == "mysqltestserver"


@pytest.mark.parametrize(("kind", "suffix", "operation", "why"), [
    ("Write", "/configurations/wait_timeout", f"{MYSQL}/configurations/write", "touches no watched setting"),
    ("Action", "", f"{MYSQL}/stop/action", "touches no watched setting"),
    ("Action", "", f"{MYSQL}/privateEndpointConnectionProxies/validate/action", "touches no watched setting"),
    ("Write", "/databases/orders", f"{MYSQL}/databases/write", "touches no watched setting"),
    ("Write", "/databases/orders/providers/Microsoft.Insights/diagnosticSettings/x",
     "Microsoft.Insights/diagnosticSettings/write", "touches no watched setting"),
])
def test_events_that_touch_no_watched_setting_are_ignored_with_a_debug_line(
    kind: str, suffix: str, operation: str, why: str, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="drift.routing"):
        assert routing.plan(parse_event(event_for(kind, SERVER + suffix, operation))) is None
    assert why in caplog.text


@pytest.mark.parametrize("outcome", ["failure", "cancel"])
@pytest.mark.parametrize("kind", ["Write", "Delete", "Action"])
def test_failed_and_cancelled_operations_are_ignored(kind: str, outcome: str, caplog: pytest.LogCaptureFixture
                                                     ) -> None:
    operation = {"Write": f"{MYSQL}/firewallRules/write", "Delete": f"{MYSQL}/firewallRules/delete",
                 "Action": f"{MYSQL}/updateConfigurations/action"}[kind]
    suffix = "" if kind == "Action" else "/firewallRules/rule1"
    with caplog.at_level(logging.DEBUG, logger="drift.routing"):
        # The samples say status "Succeeded" even on failures: the event type decides.
        assert routing.plan(parse_event(event_for(kind, SERVER + suffix, operation, outcome))) is None
    assert "changes nothing" in caplog.text


SAMPLES = sorted(p.relative_to(FIXTURES / "eventgrid") for p in (FIXTURES / "eventgrid").rglob("*.json"))


@pytest.mark.parametrize("path", SAMPLES, ids=[str(p) for p in SAMPLES])
def test_the_official_samples_parse_and_are_ignored_as_not_mysql(path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    raw = fixture_json("eventgrid", *path.parts)
    event = parse_event(raw)
    assert event.kind.startswith("Resource")
    assert event.caller.object_id == "{ID}"
    assert event.schema == ("cloudevents" if "cloud" in str(path) else "eventgrid")
    with caplog.at_level(logging.DEBUG, logger="drift.routing"):
        assert routing.plan(event) is None
    assert "ignored event" in caplog.text


def test_the_caller_comes_from_the_claims_and_the_ip_from_the_http_request() -> None:
    event = parse_event(sample("Action"))
    assert event.caller.app_id == "{ID}" and event.caller.upn is None
    assert event.caller.display == "app {ID}"
    assert event.client_ip == "{IP-address}"
    user = parse_event(sample("Write"))
    assert user.caller.display == "{full-name} <{user-name}>"
    assert user.client_ip == "{IP-address}", "a create has no httpRequest: the ipaddr claim stands in"
    assert user.time.year == 2018 and user.time.microsecond == 611735


@pytest.mark.parametrize(("raw", "message"), [
    ([], "not a JSON object"),
    ({"eventType": "Microsoft.Resources.ResourceWriteSuccess"}, "no id"),
    ({"id": "1", "eventType": "Microsoft.Storage.BlobCreated", "data": {}}, "not an Azure subscription event"),
    ({"id": "1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "eventTime": "2024-01-01T00:00:00Z"},
     "data is missing"),
    ({"id": "1", "eventType": "Microsoft.Resources.ResourceWriteSuccess", "eventTime": "2024-01-01T00:00:00Z",
      "data": {}}, "no subject"),
])
def test_malformed_events_say_what_is_wrong(raw: Any, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        parse_event(raw)


@pytest.mark.parametrize(("value", "server", "child", "extension"), [
    (SERVER, SERVER, None, None),
    (SERVER + "/firewallRules/AllowAll", SERVER, "firewallrules", None),
    (SERVER.upper() + "/CONFIGURATIONS/tls_version", SERVER.upper(), "configurations", None),
    (SERVER + "/providers/Microsoft.Insights/diagnosticSettings/audit", SERVER, None,
     "microsoft.insights/diagnosticsettings"),
    (SERVER + "/", SERVER, None, None),
])
def test_arm_ids_are_parsed_structurally_at_any_depth(value: str, server: str, child: str | None,
                                                      extension: str | None) -> None:
    ref = mysql_server_ref(value)
    assert ref is not None
    assert ref.server_id.lower() == server.lower()
    assert ref.child_type == child and ref.extension_type == extension


@pytest.mark.parametrize("value", [
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforMySQL/servers/single",
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg",
    "/subscriptions/s/resourceGroups/rg",
    "/subscriptions/s/providers/Microsoft.Resources/deployments/d1",
])
def test_ids_of_other_resources_are_not_mysql_flexible_servers(value: str) -> None:
    assert mysql_server_ref(value) is None


@pytest.mark.parametrize("value", ["", "subscriptions/s", "/tenants/t", "/subscriptions/s/resourceGroups",
                                   "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforMySQL/flexibleServers",
                                   "/subscriptions/s//resourceGroups/rg"])
def test_strings_that_are_not_arm_ids_are_refused(value: str) -> None:
    with pytest.raises(InvalidResourceId):
        ResourceId.parse(value)


def test_an_id_prints_back_as_it_was_written() -> None:
    value = SERVER + "/providers/Microsoft.Insights/diagnosticSettings/audit"
    assert str(ResourceId.parse(value)) == value.replace("resourcegroups", "resourceGroups")


def test_handled_operations_cover_every_route() -> None:
    ops = routing.handled_operations()
    assert f"{MYSQL}/firewallRules/write" in ops and "Microsoft.Insights/diagnosticSettings/delete" in ops
    assert len(ops) == sum(len(r.operations) for r in routing.ROUTES) + len(routing.SUBSCRIPTION_OPERATIONS)
    assert "Microsoft.Security/pricings/write" in ops


@pytest.mark.parametrize("operation", [
    f"{MYSQL}/detachVNet/action", f"{MYSQL}/restart/action",
    f"{MYSQL}/privateEndpointConnectionProxies/write", f"{MYSQL}/privateEndpointConnectionProxies/delete",
    "Microsoft.Insights/diagnosticSettings/write", "Microsoft.Insights/diagnosticSettings/delete",
    f"{MYSQL}/providers/Microsoft.Insights/diagnosticSettings/write",
    f"{MYSQL}/providers/Microsoft.Insights/diagnosticSettings/delete",
])
def test_the_event_grid_filter_lets_every_shape_of_these_changes_through(operation: str) -> None:
    """`StringIn` on `data.operationName` compares case-insensitively: a name missing here is an event lost."""
    assert operation.lower() in {op.lower() for op in routing.handled_operations()}
