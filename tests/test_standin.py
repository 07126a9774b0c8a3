"""The local Azure stand-ins, driven the way the project drives Azure: the real MySQL management SDK
over HTTPS (and plain requests where the SDK has no call), checked against the official examples."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.mysqlflexibleservers import MySQLManagementClient
from azure.mgmt.mysqlflexibleservers import models as m

from drift.local.arm import ArmStandIn
from drift.local.credential import (
    CLAIM_OBJECT_ID,
    LocalCredential,
    decode_unverified,
    service_principal_claims,
)
from drift.local.receivers import GraphReceiver, TeamsReceiver
from drift.local.tls import LocalCA
from tests.conftest import FIXTURES, fixture_json

MYSQL_EXAMPLES = FIXTURES / "arm" / "mysql-flexible-2024-12-30"
DIAG_EXAMPLES = FIXTURES / "arm" / "monitor-diagnostic-settings-2021-05-01-preview"
EVENT_EXAMPLES = FIXTURES / "eventgrid" / "event-grid-schema"

SUB = "11111111-2222-3333-4444-555555555555"
API = "api-version=2024-12-30"
DIAG_API = "api-version=2021-05-01-preview"
SCOPE = "https://management.azure.com/.default"
EVENT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
LRO_BUDGET = 2.0  # seconds: a poll waits Retry-After, else polling_interval (0 here, 30 s by default)


def example(path: Path) -> Any:
    return fixture_json(*path.relative_to(FIXTURES).parts)  # skips the test when the official files are absent


def example_body(name: str, status: str = "200") -> dict[str, Any]:
    return example(MYSQL_EXAMPLES / name)["responses"][status]["body"]


# ---------------------------------------------------------------------------------------------
# fixtures: the suite's shared CA and stand-in (conftest.py), under the names used here


@pytest.fixture
def local_ca(ca: LocalCA) -> LocalCA:
    return ca


@pytest.fixture
def standin(arm: ArmStandIn) -> ArmStandIn:
    return arm


@pytest.fixture
def client(standin: ArmStandIn, local_ca: LocalCA) -> MySQLManagementClient:
    return MySQLManagementClient(
        LocalCredential(), SUB, base_url=standin.url, connection_verify=str(local_ca.ca_bundle),
        polling_interval=0,
    )


@pytest.fixture
def http(standin: ArmStandIn, local_ca: LocalCA) -> Iterator[requests.Session]:
    """A raw ARM client: the Bearer token of the default (careless admin) credential."""
    session = trusting_session(local_ca)
    session.headers["Authorization"] = "Bearer " + LocalCredential().get_token(SCOPE).token
    yield session
    session.close()


def trusting_session(ca: LocalCA) -> requests.Session:
    """A Session that trusts the local CA. ``trust_env`` off: requests lets ``REQUESTS_CA_BUNDLE``
    override ``Session.verify`` (psf/requests#3829), and this machine sets it."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca.ca_bundle)
    return session


@pytest.fixture
def rg() -> str:
    return f"rg-{uuid.uuid4().hex[:8]}"


def server_id(rg: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.DBforMySQL/flexibleServers/{name}"


def create_server(client: MySQLManagementClient, rg: str, name: str, **kwargs: Any) -> m.Server:
    params = m.Server(
        location="westeurope",
        administrator_login="cloudsa",
        administrator_login_password="S3cret-never-echoed!",
        **kwargs,
    )
    return client.servers.begin_create(rg, name, params).result()


def timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def only_event(standin: ArmStandIn) -> dict[str, Any]:
    events = standin.drain_events()
    assert len(events) == 1, [e["data"]["operationName"] for e in events]
    return events[0]


def assert_event(event: dict[str, Any], *, subject: str, operation: str, event_type: str) -> None:
    fixture = example(EVENT_EXAMPLES / "resource_write_success.json")
    assert set(event) == set(fixture)
    assert set(fixture["data"]) | {"httpRequest"} == set(event["data"])
    assert event["subject"] == subject
    assert event["eventType"] == f"Microsoft.Resources.{event_type}"
    data = event["data"]
    assert data["operationName"] == operation
    assert data["authorization"]["action"] == operation
    assert data["authorization"]["scope"] == subject
    assert data["resourceUri"] == subject
    assert data["status"] == "Succeeded"
    assert data["subscriptionId"] == SUB
    assert event["topic"] == f"/subscriptions/{SUB}"
    assert EVENT_TIME.match(event["eventTime"]), event["eventTime"]
    assert (event["dataVersion"], event["metadataVersion"]) == ("2", "1")
    uuid.UUID(event["id"])


# ---------------------------------------------------------------------------------------------
# TLS and credential


def test_local_ca_writes_bundle_and_credential_carries_claims(local_ca: LocalCA) -> None:
    assert local_ca.ca_bundle.name == "ca.pem"
    assert local_ca.ca_bundle.read_text().startswith("-----BEGIN CERTIFICATE-----")

    credential = LocalCredential()
    token = credential.get_token(SCOPE)
    assert token.expires_on > time.time()
    header_b64, _, signature = token.token.split(".")
    assert signature == ""
    assert decode_unverified(header_b64 + "." + header_b64) == {"typ": "JWT", "alg": "none"}
    claims = decode_unverified(token.token)
    assert claims["name"] == "Casey Admin"
    assert claims["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] == "casey@contoso.example"
    assert claims["ipaddr"] == "203.0.113.7"
    assert claims["aud"] == "https://management.azure.com/"
    assert decode_unverified("Bearer " + token.token) == claims
    assert credential.get_token_info(SCOPE).token.count(".") == 2

    sp = service_principal_claims("app-123", "oid-456")
    assert sp["appid"] == "app-123" and sp[CLAIM_OBJECT_ID] == "oid-456"
    assert not {"upn", "name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"} & set(sp)
    for garbage in ("", "garbage", "a.b.c", "a.!!!.c", "e30.WzFd."):
        assert decode_unverified(garbage) == {}


# ---------------------------------------------------------------------------------------------
# servers


def test_server_create_matches_example_and_never_echoes_password(
    standin: ArmStandIn, client: MySQLManagementClient, http: requests.Session, rg: str
) -> None:
    server, elapsed = timed(lambda: create_server(client, rg, "orders-db"))
    assert elapsed < LRO_BUDGET
    # a long-running create: the 201 names a Location, and one poll of it finishes the operation
    assert (standin.stats.reads, standin.stats.writes, standin.stats.polls) == (0, 1, 1)
    assert (server.state, server.version, server.network.public_network_access) == (
        "Ready",
        "8.0.21",
        "Disabled",
    )
    assert server.data_encryption.type == "SystemManaged"
    assert server.fully_qualified_domain_name == "orders-db.mysql.database.azure.com"

    event = only_event(standin)
    assert_event(
        event,
        subject=server_id(rg, "orders-db"),
        operation="Microsoft.DBforMySQL/flexibleServers/write",
        event_type="ResourceWriteSuccess",
    )
    data = event["data"]
    assert data["resourceProvider"] == "Microsoft.DBforMySQL"
    assert data["claims"]["name"] == "Casey Admin"
    assert data["authorization"]["evidence"]["principalType"] == "User"
    assert data["httpRequest"]["method"] == "PUT"
    assert data["httpRequest"]["clientIpAddress"] == "203.0.113.7"
    assert data["httpRequest"]["url"] == f"https://management.azure.com{server_id(rg, 'orders-db')}?{API}"

    response = http.get(f"{standin.url}{server_id(rg, 'orders-db')}?{API}")
    assert response.status_code == 200
    body = response.json()
    expected = example_body("ServerGet.json")
    assert set(body) == set(expected)
    assert set(expected["properties"]) <= set(body["properties"])
    assert (body["id"], body["name"], body["type"]) == (
        server_id(rg, "orders-db"),
        "orders-db",
        "Microsoft.DBforMySQL/flexibleServers",
    )
    assert "password" not in response.text.lower()

    replace = {
        "location": "westeurope",
        "properties": {"administratorLoginPassword": "x", "version": "8.0.21"},
    }
    again = http.put(f"{standin.url}{server_id(rg, 'orders-db')}?{API}", json=replace)
    assert again.status_code == 202 and again.content == b""  # a replace is accepted; the result is polled
    result = http.get(again.headers["Location"])
    assert result.status_code == 200
    assert "administratorLoginPassword" not in result.json()["properties"]
    created = http.put(f"{standin.url}{server_id(rg, 'other-db')}?{API}", json=replace)
    assert created.status_code == 201 and "Location" in created.headers
    assert "administratorLoginPassword" not in created.json()["properties"]


def test_server_patch_deep_merges(standin: ArmStandIn, client: MySQLManagementClient, rg: str) -> None:
    create_server(client, rg, "db1", tags={"team": "shop"}, backup=m.Backup(backup_retention_days=14))
    standin.drain_events()
    update = m.ServerForUpdate(network=m.Network(public_network_access="Enabled"), tags={"owner": "casey"})
    server, elapsed = timed(lambda: client.servers.begin_update(rg, "db1", update).result())
    assert elapsed < LRO_BUDGET
    assert server.network.public_network_access == "Enabled"
    assert server.backup.backup_retention_days == 14
    assert server.tags == {"team": "shop", "owner": "casey"}
    assert_event(
        only_event(standin),
        subject=server_id(rg, "db1"),
        operation="Microsoft.DBforMySQL/flexibleServers/write",
        event_type="ResourceWriteSuccess",
    )


def test_server_delete_removes_children_and_emits(
    standin: ArmStandIn, client: MySQLManagementClient, http: requests.Session, rg: str
) -> None:
    create_server(client, rg, "gone")
    client.firewall_rules.begin_create_or_update(
        rg, "gone", "office", m.FirewallRule(start_ip_address="198.51.100.1", end_ip_address="198.51.100.1")
    ).result()
    standin.drain_events()
    _, elapsed = timed(lambda: client.servers.begin_delete(rg, "gone").result())
    assert elapsed < LRO_BUDGET
    assert_event(
        only_event(standin),
        subject=server_id(rg, "gone"),
        operation="Microsoft.DBforMySQL/flexibleServers/delete",
        event_type="ResourceDeleteSuccess",
    )
    with pytest.raises(ResourceNotFoundError):
        client.servers.get(rg, "gone")
    with pytest.raises(ResourceNotFoundError):
        list(client.firewall_rules.list_by_server(rg, "gone"))
    assert http.delete(f"{standin.url}{server_id(rg, 'gone')}?{API}").status_code == 204

    create_server(client, rg, "gone")
    assert list(client.firewall_rules.list_by_server(rg, "gone")) == []


def test_children_of_a_missing_server_are_404(
    standin: ArmStandIn, client: MySQLManagementClient, http: requests.Session, rg: str
) -> None:
    with pytest.raises(ResourceNotFoundError):
        client.configurations.get(rg, "nope", "tls_version")
    with pytest.raises(ResourceNotFoundError):
        client.servers.get(rg, "nope")
    for suffix in (
        "/firewallRules/r1",
        "/configurations",
        "/providers/Microsoft.Insights/diagnosticSettings",
    ):
        response = http.get(f"{standin.url}{server_id(rg, 'nope')}{suffix}?{API}")
        assert response.status_code == 404
        error = response.json() if "Insights" in suffix else response.json()["error"]  # Monitor's own shape
        assert error["code"] in ("ResourceNotFound", "ParentResourceNotFound")
    create_server(client, rg, "here")
    with pytest.raises(ResourceNotFoundError):
        client.firewall_rules.get(rg, "here", "missing-rule")


def test_auth_and_api_version_are_required(standin: ArmStandIn, local_ca: LocalCA, rg: str) -> None:
    url = f"{standin.url}{server_id(rg, 'x')}"
    anonymous = requests.put(f"{url}?{API}", json={"location": "westeurope"}, verify=str(local_ca.ca_bundle))
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "AuthenticationFailed"
    token = LocalCredential().get_token(SCOPE).token
    no_version = requests.get(
        url, headers={"Authorization": f"Bearer {token}"}, verify=str(local_ca.ca_bundle)
    )
    assert no_version.status_code == 400
    assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    assert standin.drain_events() == []
    assert (standin.stats.reads, standin.stats.writes) == (1, 1)


def test_ids_are_case_insensitive_and_keep_their_casing(
    standin: ArmStandIn, client: MySQLManagementClient, http: requests.Session
) -> None:
    create_server(client, "Shop-RG", "orders-db")  # server names are lower case (the spec's pattern)
    path = server_id("Shop-RG", "Orders-DB").lower()
    body = http.get(f"{standin.url}{server_id('SHOP-rg', 'ORDERS-DB')}?{API}").json()
    assert body["id"] == server_id("Shop-RG", "orders-db")
    assert body["name"] == "orders-db"
    standin.drain_events()
    http.put(
        f"{standin.url}{path}/firewallrules/AllowAll?{API}",
        json={"properties": {"startIpAddress": "0.0.0.0", "endIpAddress": "255.255.255.255"}},
    ).raise_for_status()
    event = only_event(standin)
    # Azure's subject is the request URI as the caller spelled it: compare ids case-insensitively.
    assert event["subject"] == f"{path}/firewallrules/AllowAll"
    assert client.firewall_rules.get("shop-rg", "orders-db", "allowall").id == (
        server_id("Shop-RG", "orders-db") + "/firewallRules/AllowAll"
    )


# ---------------------------------------------------------------------------------------------
# firewall rules, configurations


def test_firewall_rule_create_and_delete_events(
    standin: ArmStandIn, client: MySQLManagementClient, http: requests.Session, rg: str
) -> None:
    create_server(client, rg, "db")
    standin.drain_events()
    rule = m.FirewallRule(start_ip_address="0.0.0.0", end_ip_address="255.255.255.255")
    created, elapsed = timed(
        lambda: client.firewall_rules.begin_create_or_update(rg, "db", "AllowAll", rule).result()
    )
    assert elapsed < LRO_BUDGET
    assert (created.start_ip_address, created.end_ip_address) == ("0.0.0.0", "255.255.255.255")
    rule_id = server_id(rg, "db") + "/firewallRules/AllowAll"
    assert_event(
        only_event(standin),
        subject=rule_id,
        operation="Microsoft.DBforMySQL/flexibleServers/firewallRules/write",
        event_type="ResourceWriteSuccess",
    )
    body = http.get(f"{standin.url}{rule_id}?{API}").json()
    assert body == {**example_body("FirewallRuleGet.json"), "id": rule_id, "name": "AllowAll"}

    _, elapsed = timed(lambda: client.firewall_rules.begin_delete(rg, "db", "AllowAll").result())
    assert elapsed < LRO_BUDGET
    assert_event(
        only_event(standin),
        subject=rule_id,
        operation="Microsoft.DBforMySQL/flexibleServers/firewallRules/delete",
        event_type="ResourceDeleteSuccess",
    )
    with pytest.raises(ResourceNotFoundError):
        client.firewall_rules.get(rg, "db", "AllowAll")
    bad = http.put(f"{standin.url}{rule_id}?{API}", json={"properties": {"startIpAddress": "::1"}})
    assert bad.status_code == 400
    assert standin.drain_events() == []


def test_new_server_has_azure_default_configurations(
    standin: ArmStandIn, client: MySQLManagementClient, http: requests.Session, rg: str
) -> None:
    create_server(client, rg, "db")
    configs = {c.name: c for c in client.configurations.list_by_server(rg, "db")}
    expected = {
        "require_secure_transport": ("ON", "True"),
        "tls_version": ("TLSv1.2,TLSv1.3", "False"),
        "aad_auth_only": ("OFF", "True"),
        "audit_log_enabled": ("OFF", "True"),
        "audit_log_events": ("CONNECTION", "True"),
        "event_scheduler": ("OFF", "True"),
    }
    for name, (value, dynamic) in expected.items():
        assert (configs[name].value, configs[name].is_dynamic_config, configs[name].source) == (
            value,
            dynamic,
            "system-default",
        )
    assert {
        "max_connections",
        "wait_timeout",
        "slow_query_log",
        "time_zone",
        "innodb_lock_wait_timeout",
    } <= set(configs)
    assert configs["tls_version"].allowed_values == "TLSv1.2,TLSv1.3"

    fixture = example_body("ConfigurationGet.json")
    body = http.get(f"{standin.url}{server_id(rg, 'db')}/configurations/event_scheduler?{API}").json()
    assert set(body) == set(fixture)
    assert set(fixture["properties"]) <= set(body["properties"])
    assert {k: body["properties"][k] for k in fixture["properties"]} == fixture["properties"]
    assert body["type"] == fixture["type"]


def test_static_parameter_waits_for_restart(
    standin: ArmStandIn, client: MySQLManagementClient, rg: str
) -> None:
    create_server(client, rg, "db")
    standin.drain_events()
    param = m.Configuration(value="TLSv1.3", source="user-override")
    config, elapsed = timed(
        lambda: client.configurations.begin_create_or_update(rg, "db", "tls_version", param).result()
    )
    assert elapsed < LRO_BUDGET
    assert (config.value, config.source, config.is_config_pending_restart) == (
        "TLSv1.3",
        "user-override",
        "True",
    )
    assert config.current_value == "TLSv1.2,TLSv1.3"
    assert_event(
        only_event(standin),
        subject=server_id(rg, "db") + "/configurations/tls_version",
        operation="Microsoft.DBforMySQL/flexibleServers/configurations/write",
        event_type="ResourceWriteSuccess",
    )

    dynamic = client.configurations.begin_update(
        rg, "db", "require_secure_transport", m.Configuration(value="OFF")
    )
    assert dynamic.result().is_config_pending_restart == "False"
    standin.drain_events()

    _, elapsed = timed(lambda: client.servers.begin_restart(rg, "db", m.ServerRestartParameter()).result())
    assert elapsed < LRO_BUDGET
    assert client.configurations.get(rg, "db", "tls_version").is_config_pending_restart == "False"
    assert_event(
        only_event(standin),
        subject=server_id(rg, "db"),
        operation="Microsoft.DBforMySQL/flexibleServers/restart/action",
        event_type="ResourceActionSuccess",
    )


def test_batch_update_applies_values_and_emits_one_action(
    standin: ArmStandIn, client: MySQLManagementClient, rg: str
) -> None:
    create_server(client, rg, "db")
    standin.drain_events()
    batch = m.ConfigurationListForBatchUpdate(
        value=[
            m.ConfigurationForBatchUpdate(name="audit_log_enabled", value="ON"),
            m.ConfigurationForBatchUpdate(name="audit_log_events", value="CONNECTION,DDL"),
        ]
    )
    # final-state-via azure-async-operation: the result is the status monitor, not the list (as in Azure)
    _, elapsed = timed(lambda: client.configurations.begin_batch_update(rg, "db", batch).result())
    assert elapsed < LRO_BUDGET
    assert {c.name: c.value for c in client.configurations.list_by_server(rg, "db")
            if c.name in ("audit_log_enabled", "audit_log_events")} == {"audit_log_enabled": "ON",
                                                                  "audit_log_events": "CONNECTION,DDL"}
    assert client.configurations.get(rg, "db", "audit_log_enabled").source == "user-override"
    assert_event(
        only_event(standin),
        subject=server_id(rg, "db"),
        operation="Microsoft.DBforMySQL/flexibleServers/updateConfigurations/action",
        event_type="ResourceActionSuccess",
    )


def test_bad_configuration_writes_change_nothing(
    standin: ArmStandIn, client: MySQLManagementClient, rg: str
) -> None:
    create_server(client, rg, "db")
    standin.drain_events()
    with pytest.raises(ResourceNotFoundError):
        client.configurations.begin_create_or_update(
            rg, "db", "no_such_param", m.Configuration(value="1")
        ).result()
    with pytest.raises(HttpResponseError) as info:
        client.configurations.begin_update(rg, "db", "tls_version", m.Configuration(value="TLSv1.1")).result()
    assert info.value.status_code == 400
    batch = m.ConfigurationListForBatchUpdate(
        value=[
            m.ConfigurationForBatchUpdate(name="audit_log_enabled", value="ON"),
            m.ConfigurationForBatchUpdate(name="require_secure_transport", value="MAYBE"),
        ]
    )
    with pytest.raises(HttpResponseError):
        client.configurations.begin_batch_update(rg, "db", batch).result()
    assert client.configurations.get(rg, "db", "audit_log_enabled").value == "OFF"
    assert client.configurations.get(rg, "db", "tls_version").value == "TLSv1.2,TLSv1.3"
    assert standin.drain_events() == []


# ---------------------------------------------------------------------------------------------
# administrators, private endpoint connections, Defender, diagnostic settings


def test_entra_admin_private_endpoint_and_defender(
    standin: ArmStandIn, client: MySQLManagementClient, http: requests.Session, rg: str
) -> None:
    create_server(client, rg, "db")
    standin.drain_events()
    sid = server_id(rg, "db")

    admin = m.AzureADAdministrator(
        administrator_type="ActiveDirectory",
        login="dba@contoso.example",
        sid=str(uuid.uuid4()),
        tenant_id=str(uuid.uuid4()),
        identity_resource_id="/subscriptions/x/providers/umi",
    )
    _, elapsed = timed(
        lambda: client.azure_ad_administrators.begin_create_or_update(
            rg, "db", "ActiveDirectory", admin
        ).result()
    )
    assert elapsed < LRO_BUDGET
    assert_event(
        only_event(standin),
        subject=sid + "/administrators/ActiveDirectory",
        operation="Microsoft.DBforMySQL/flexibleServers/administrators/write",
        event_type="ResourceWriteSuccess",
    )
    body = http.get(f"{standin.url}{sid}/administrators/ActiveDirectory?{API}").json()
    assert set(body) == set(example_body("AzureADAdministratorGet.json"))
    assert set(body["properties"]) == set(example_body("AzureADAdministratorGet.json")["properties"])
    _, elapsed = timed(
        lambda: client.azure_ad_administrators.begin_delete(rg, "db", "ActiveDirectory").result()
    )
    assert elapsed < LRO_BUDGET
    assert only_event(standin)["data"]["operationName"].endswith("/administrators/delete")

    state = m.PrivateLinkServiceConnectionState(status="Rejected", description="not ours")
    connection = m.PrivateEndpointConnection(private_link_service_connection_state=state)
    pec, elapsed = timed(
        lambda: client.private_endpoint_connections.begin_create_or_update(
            rg, "db", "pe-1", connection
        ).result()
    )
    assert elapsed < LRO_BUDGET
    assert pec.type == "Microsoft.DBforMySQL/flexibleServers/privateEndpointConnections"
    assert pec.private_link_service_connection_state.status == "Rejected"
    assert_event(
        only_event(standin),
        subject=sid + "/privateEndpointConnections/pe-1",
        operation="Microsoft.DBforMySQL/flexibleServers/privateEndpointConnections/write",
        event_type="ResourceWriteSuccess",
    )
    assert [c.name for c in client.servers.get(rg, "db").private_endpoint_connections] == ["pe-1"]
    body = http.get(f"{standin.url}{sid}/privateEndpointConnections/pe-1?{API}").json()
    assert set(body) == set(example_body("PrivateEndpointConnectionGet.json"))
    _, elapsed = timed(lambda: client.private_endpoint_connections.begin_delete(rg, "db", "pe-1").result())
    assert elapsed < LRO_BUDGET
    assert only_event(standin)["eventType"] == "Microsoft.Resources.ResourceDeleteSuccess"

    assert client.advanced_threat_protection_settings.get(rg, "db", "Default").state == "Disabled"
    enable = m.AdvancedThreatProtectionForUpdate(state="Enabled")
    atp, elapsed = timed(
        lambda: client.advanced_threat_protection_settings.begin_update(rg, "db", "Default", enable).result()
    )
    assert elapsed < LRO_BUDGET and atp.state == "Enabled"
    put = m.AdvancedThreatProtection(state="Disabled")
    atp, elapsed = timed(
        lambda: client.advanced_threat_protection_settings.begin_update_put(rg, "db", "Default", put).result()
    )
    assert elapsed < LRO_BUDGET and atp.state == "Disabled"
    events = standin.drain_events()
    assert [e["data"]["operationName"] for e in events] == [
        "Microsoft.DBforMySQL/flexibleServers/advancedThreatProtectionSettings/write"
    ] * 2
    assert {e["subject"] for e in events} == {sid + "/advancedThreatProtectionSettings/Default"}
    body = http.get(f"{standin.url}{sid}/advancedThreatProtectionSettings/Default?{API}").json()
    assert set(body) == set(example_body("AdvancedThreatProtectionSettingsGet.json"))
    assert [s.name for s in client.advanced_threat_protection_settings.list(rg, "db")] == ["Default"]


def test_diagnostic_settings_round_trip_and_events(
    standin: ArmStandIn, client: MySQLManagementClient, http: requests.Session, rg: str
) -> None:
    create_server(client, rg, "db")
    standin.drain_events()
    sid = server_id(rg, "db")
    setting_path = f"{sid}/providers/Microsoft.Insights/diagnosticSettings/audit"
    workspace = "/subscriptions/x/resourceGroups/sec/providers/Microsoft.OperationalInsights/workspaces/ws"
    body = {
        "properties": {
            "workspaceId": workspace,
            "logs": [
                {"category": "MySqlAuditLogs", "enabled": True},
                {"categoryGroup": "allLogs", "enabled": False},
            ],
            "metrics": [{"category": "AllMetrics", "enabled": True}],
        }
    }
    put = http.put(f"{standin.url}{setting_path}?{DIAG_API}", json=body)
    assert put.status_code == 200
    fixture = example(DIAG_EXAMPLES / "createOrUpdateDiagnosticSetting.json")["responses"]["200"]["body"]
    assert set(put.json()) == set(fixture)
    assert put.json()["id"] == f"{sid}/providers/microsoft.insights/diagnosticSettings/audit"
    assert put.json()["type"] == "Microsoft.Insights/diagnosticSettings"
    event = only_event(standin)
    assert_event(
        event,
        subject=setting_path,
        operation="Microsoft.Insights/diagnosticSettings/write",
        event_type="ResourceWriteSuccess",
    )
    assert event["data"]["resourceProvider"] == "Microsoft.Insights"

    listed = http.get(f"{standin.url}{sid}/providers/Microsoft.Insights/diagnosticSettings?{DIAG_API}").json()
    assert [s["properties"]["logs"][0]["category"] for s in listed["value"]] == ["MySqlAuditLogs"]
    assert (
        http.get(f"{standin.url}{setting_path}?{DIAG_API}").json()["properties"]["workspaceId"] == workspace
    )

    assert http.delete(f"{standin.url}{setting_path}?{DIAG_API}").status_code == 200
    assert_event(
        only_event(standin),
        subject=setting_path,
        operation="Microsoft.Insights/diagnosticSettings/delete",
        event_type="ResourceDeleteSuccess",
    )
    assert http.get(f"{standin.url}{setting_path}?{DIAG_API}").status_code == 404
    assert http.delete(f"{standin.url}{setting_path}?{DIAG_API}").status_code == 204


# ---------------------------------------------------------------------------------------------
# events: identity, headers, switches, blocking


def test_event_identity_of_a_service_principal_and_request_headers(
    standin: ArmStandIn, local_ca: LocalCA, rg: str
) -> None:
    oid = str(uuid.uuid4())
    credential = LocalCredential(service_principal_claims("app-deployer", oid))
    client = MySQLManagementClient(
        credential, SUB, base_url=standin.url, connection_verify=str(local_ca.ca_bundle),
        polling_interval=0,
    )
    create_server(client, rg, "db")
    standin.drain_events()
    headers = {
        "Authorization": "Bearer " + credential.get_token(SCOPE).token,
        "x-ms-correlation-request-id": "corr-1",
        "x-ms-client-request-id": "client-1",
    }
    response = requests.post(
        f"{standin.url}{server_id(rg, 'db')}/stop?{API}", headers=headers, verify=str(local_ca.ca_bundle)
    )
    assert response.status_code == 202  # long-running: accepted, with where to poll
    assert set(response.headers) >= {"Azure-AsyncOperation", "Location"}
    assert response.headers["x-ms-correlation-request-id"] == "corr-1"
    data = only_event(standin)["data"]
    assert data["correlationId"] == "corr-1"
    assert data["httpRequest"]["clientRequestId"] == "client-1"
    assert data["httpRequest"]["clientIpAddress"] == "127.0.0.1"
    assert data["authorization"]["evidence"]["principalType"] == "ServicePrincipal"
    assert data["authorization"]["evidence"]["principalId"] == oid.replace("-", "")
    assert data["claims"]["appid"] == "app-deployer"
    assert all(isinstance(v, str) for v in data["claims"].values())
    assert client.servers.get(rg, "db").state == "Stopped"
    assert credential.last_scopes == (SCOPE,)


def test_emit_events_off_still_writes(standin: ArmStandIn, client: MySQLManagementClient, rg: str) -> None:
    create_server(client, rg, "db")
    standin.drain_events()
    standin.emit_events = False
    rule = m.FirewallRule(start_ip_address="10.0.0.1", end_ip_address="10.0.0.9")
    client.firewall_rules.begin_create_or_update(rg, "db", "r", rule).result()
    assert client.firewall_rules.get(rg, "db", "r").end_ip_address == "10.0.0.9"
    assert standin.drain_events() == []
    assert standin.next_event(timeout=0.05) is None


def test_next_event_blocks_until_a_write(standin: ArmStandIn, client: MySQLManagementClient, rg: str) -> None:
    create_server(client, rg, "db")
    standin.drain_events()
    rule = m.FirewallRule(start_ip_address="10.0.0.1", end_ip_address="10.0.0.1")
    writer = threading.Timer(
        0.1, lambda: client.firewall_rules.begin_create_or_update(rg, "db", "late", rule).result()
    )
    writer.start()
    event = standin.next_event(timeout=5)
    writer.join()
    assert event is not None and event["subject"].endswith("/firewallRules/late")
    assert standin.pending_events() == 0


def test_concurrent_writes_each_emit_one_event(
    standin: ArmStandIn, client: MySQLManagementClient, local_ca: LocalCA, rg: str
) -> None:
    create_server(client, rg, "db")
    standin.drain_events()
    token = LocalCredential().get_token(SCOPE).token
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        with trusting_session(local_ca) as session:
            session.headers["Authorization"] = f"Bearer {token}"
            for i in range(5):
                try:
                    session.put(
                        f"{standin.url}{server_id(rg, 'db')}/firewallRules/w{worker}-{i}?{API}",
                        json={"properties": {"startIpAddress": "10.1.0.1", "endIpAddress": "10.1.0.2"}},
                    ).raise_for_status()
                except BaseException as exc:  # reported below
                    errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = standin.drain_events()
    assert len(events) == 40 and len({e["id"] for e in events}) == 40
    assert len(list(client.firewall_rules.list_by_server(rg, "db"))) == 40


# ---------------------------------------------------------------------------------------------
# faults, latency, paging, stats, admin surface


def test_429_with_retry_after_is_retried_by_the_sdk(
    standin: ArmStandIn, client: MySQLManagementClient, rg: str
) -> None:
    create_server(client, rg, "db")
    standin.reset_stats()
    standin.add_fault(status=429, retry_after=0.2, method="GET", path_contains="/flexibleServers/db")
    server, elapsed = timed(lambda: client.servers.get(rg, "db"))
    assert server.name == "db"
    assert elapsed >= 0.2
    key = f"GET {server_id(rg, 'db').lower()}"
    assert standin.stats.requests_by_path[key] == 2
    assert standin.stats.reads == 2


def test_persistent_503_surfaces_after_the_sdk_gives_up(
    standin: ArmStandIn, client: MySQLManagementClient, rg: str
) -> None:
    create_server(client, rg, "db")
    standin.reset_stats()
    standin.add_fault(status=503, times=10, retry_after=0.01, method="GET")
    with pytest.raises(HttpResponseError) as info:
        client.configurations.get(rg, "db", "tls_version")
    assert info.value.status_code == 503
    assert info.value.error.code == "ServiceUnavailable"
    assert standin.stats.reads == 4  # azure-core: the first try plus retry_status=3
    standin.clear_faults()
    assert client.configurations.get(rg, "db", "tls_version").value == "TLSv1.2,TLSv1.3"


def test_list_follows_next_link_over_250_servers(
    standin: ArmStandIn, client: MySQLManagementClient, http: requests.Session
) -> None:
    for i in range(250):
        standin.seed_server(SUB, "rg-a" if i < 130 else "rg-b", f"srv-{i:03d}")
    assert standin.drain_events() == []
    first = http.get(
        f"{standin.url}/subscriptions/{SUB}/providers/Microsoft.DBforMySQL/flexibleServers?{API}"
    )
    assert len(first.json()["value"]) == 100
    assert first.json()["nextLink"].startswith(standin.url + "/subscriptions/")
    standin.reset_stats()

    names = [s.name for s in client.servers.list()]
    assert len(names) == 250 and len(set(names)) == 250
    assert standin.stats.reads == 3
    assert [s.name for s in client.servers.list_by_resource_group("RG-B")] == [
        f"srv-{i:03d}" for i in range(130, 250)
    ]
    assert standin.stats.reads == 5


def test_admin_http_surface(
    standin: ArmStandIn, client: MySQLManagementClient, local_ca: LocalCA, rg: str
) -> None:
    admin = trusting_session(local_ca)
    base = f"{standin.url}/_standin"
    create_server(client, rg, "db")
    assert [e["eventType"] for e in admin.get(f"{base}/events").json()] == [
        "Microsoft.Resources.ResourceWriteSuccess"
    ]
    assert admin.post(f"{base}/stats/reset").status_code == 200

    assert admin.post(f"{base}/latency", json={"seconds": 0.15}).status_code == 200
    _, elapsed = timed(lambda: client.servers.get(rg, "db"))
    assert elapsed >= 0.15
    admin.post(f"{base}/latency", json={"seconds": 0})

    admin.post(f"{base}/faults", json={"status": 500, "times": 1, "method": "GET"}).raise_for_status()
    assert client.servers.get(rg, "db").name == "db"  # the SDK retries a 500

    admin.post(f"{base}/emit", json={"enabled": False}).raise_for_status()
    client.servers.begin_update(rg, "db", m.ServerForUpdate(tags={"a": "1"})).result()
    admin.post(f"{base}/emit", json={"enabled": True}).raise_for_status()
    assert admin.get(f"{base}/events").json() == []

    rule = m.FirewallRule(start_ip_address="10.0.0.1", end_ip_address="10.0.0.1")
    writer = threading.Timer(
        0.1, lambda: client.firewall_rules.begin_create_or_update(rg, "db", "r", rule).result()
    )
    writer.start()
    events = admin.get(f"{base}/events", params={"wait": 5}).json()
    writer.join()
    assert [e["data"]["operationName"] for e in events] == [
        "Microsoft.DBforMySQL/flexibleServers/firewallRules/write"
    ]

    stats = admin.get(f"{base}/stats").json()
    # admin calls are not counted; each long-running write was polled once
    assert (stats["reads"], stats["writes"], stats["polls"]) == (3, 2, 2)
    assert stats["requests_by_path"][f"GET {server_id(rg, 'db').lower()}"] == 3
    admin.post(f"{base}/stats/reset").raise_for_status()
    assert admin.get(f"{base}/stats").json() == {"reads": 0, "writes": 0, "requests_by_path": {}, "throttled": 0,
                                                "polls": 0}
    admin.close()


def test_stop_cuts_keep_alive_connections_and_wakes_waiters(local_ca: LocalCA) -> None:
    standin = ArmStandIn(local_ca.server_context()).start()
    session = trusting_session(local_ca)
    assert session.get(f"{standin.url}/_standin/health").json()["ok"] is True
    waiter = threading.Thread(target=standin.next_event)
    waiter.start()
    standin.stop()
    waiter.join(timeout=2)
    assert not waiter.is_alive()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{standin.url}/_standin/health", timeout=2)
    session.close()


# ---------------------------------------------------------------------------------------------
# receivers


def test_teams_receiver_records_and_fails_on_demand() -> None:
    card = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive"}]}
    with TeamsReceiver() as teams:
        assert teams.webhook_url == teams.url + "/workflows/teams-webhook"
        response = requests.post(teams.webhook_url, json=card)
        assert (response.status_code, response.content) == (202, b"")

        teams.add_fault(429, retry_after=2)
        throttled = requests.post(teams.webhook_url, json=card)
        assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "2")
        requests.post(f"{teams.url}/_faults", json={"status": 502, "times": 2}).raise_for_status()
        assert [requests.post(teams.webhook_url, json=card).status_code for _ in range(3)] == [502, 502, 202]

        assert requests.post(teams.webhook_url, data=b"not json").status_code == 400
        assert teams.messages() == [card, card]
        assert requests.get(f"{teams.url}/messages").json() == [card, card]
        teams.clear()
        assert teams.messages() == []


def test_graph_receiver_mail_channel_messages_and_service_principals() -> None:
    with GraphReceiver() as graph:
        mail = {"message": {"subject": "drift", "body": {"contentType": "HTML", "content": "x"}}}
        sent = requests.post(f"{graph.url}/v1.0/users/alerts%40contoso.example/sendMail", json=mail)
        assert sent.status_code == 202
        assert requests.post(f"{graph.url}/v1.0/users/u1/sendMail", json={"nope": 1}).status_code == 400

        post = {"body": {"contentType": "html", "content": "<b>drift</b>"}}
        created = requests.post(f"{graph.url}/v1.0/teams/t1/channels/c1/messages", json=post)
        assert created.status_code == 201 and created.json()["id"]

        app_id = str(uuid.uuid4())
        graph.register_service_principal(app_id, "deploy-pipeline")
        found = requests.get(f"{graph.url}/v1.0/servicePrincipals(appId='{app_id}')")
        assert found.status_code == 200
        assert (found.json()["appId"], found.json()["displayName"]) == (app_id, "deploy-pipeline")
        missing = requests.get(f"{graph.url}/v1.0/servicePrincipals(appId='{uuid.uuid4()}')")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "Request_ResourceNotFound"

        graph.add_fault(503, retry_after=1)
        assert requests.post(f"{graph.url}/v1.0/users/u1/sendMail", json=mail).status_code == 503

        expected = [
            {"user": "alerts@contoso.example", "body": mail},
            {"team": "t1", "channel": "c1", "body": post},
        ]
        assert graph.messages() == expected
        assert requests.get(f"{graph.url}/messages").json() == expected


def test_graph_receiver_over_tls_can_require_a_token(local_ca: LocalCA) -> None:
    mail = {"message": {"subject": "drift"}}
    with (
        GraphReceiver(ssl_context=local_ca.server_context(), require_auth=True) as graph,
        trusting_session(local_ca) as session,
    ):
        assert graph.url.startswith("https://127.0.0.1:")
        assert session.post(f"{graph.url}/v1.0/users/u1/sendMail", json=mail).status_code == 401
        token = LocalCredential().get_token("https://graph.microsoft.com/.default").token
        authed = session.post(
            f"{graph.url}/v1.0/users/u1/sendMail", json=mail, headers={"Authorization": f"Bearer {token}"}
        )
        assert authed.status_code == 202
        assert graph.messages() == [{"user": "u1", "body": mail}]
