"""Writes through the real SDK, as a user of Azure would make them."""

from __future__ import annotations

from typing import Any

from azure.core.rest import HttpRequest
from azure.mgmt.mysqlflexibleservers import models

from tests.conftest import GROUP, SUBSCRIPTION


def server_id(name: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.DBforMySQL/flexibleServers/{name}"


def create_server(sdk: Any, name: str, *, public_access: str = "Disabled", tags: dict[str, str] | None = None,
                  secure: bool = False) -> None:
    """A new server with Azure's defaults, or (`secure`) with CMK and geo-redundant backup from the start."""
    identity = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.ManagedIdentity/" \
               "userAssignedIdentities/db-identity"
    extra: dict[str, Any] = {}
    if secure:
        extra = {
            "identity": models.MySQLServerIdentity(type="UserAssigned",
                                                   user_assigned_identities={identity: models.UserAssignedIdentity()}),
            "data_encryption": models.DataEncryption(type="AzureKeyVault", primary_user_assigned_identity_id=identity,
                                                     primary_key_uri=KEY_URI),
            "backup": models.Backup(backup_retention_days=14, geo_redundant_backup="Enabled"),
        }
    sdk.servers.begin_create(GROUP, name, models.Server(
        location="westeurope", sku=models.MySQLServerSku(name="Standard_D2ds_v4", tier="GeneralPurpose"),
        administrator_login="cloudsa", administrator_login_password="unused-in-tests-1!", version="8.0.21",
        network=models.Network(public_network_access=public_access), tags=tags, **extra,
    )).result()


def secure_everything_else(sdk: Any, name: str) -> None:
    """Bring every setting the default policy watches to its desired state."""
    for parameter, value in (("aad_auth_only", "ON"), ("tls_version", "TLSv1.3"), ("require_secure_transport", "ON"),
                             ("audit_log_enabled", "ON"), ("audit_log_events", "CONNECTION,ADMIN,DDL")):
        set_parameter(sdk, name, parameter, value)
    sdk.azure_ad_administrators.begin_create_or_update(GROUP, name, "ActiveDirectory", models.AzureADAdministrator(
        administrator_type="ActiveDirectory", login="dba-group", sid="c6b82b90-a647-49cb-8a62-0d2d3cb7ac7c",
        tenant_id="72f988bf-0000-0000-0000-000000000000")).result()
    sdk.advanced_threat_protection_settings.begin_update_put(GROUP, name, "Default", models.AdvancedThreatProtection(
        state="Enabled")).result()
    diagnostic_setting(sdk, name, "audit", AUDIT_TO_WORKSPACE)


def create_compliant_server(sdk: Any, name: str, **kwargs: Any) -> None:
    create_server(sdk, name, secure=True, **kwargs)
    secure_everything_else(sdk, name)


def set_public_access(sdk: Any, name: str, value: str) -> None:
    sdk.servers.begin_update(GROUP, name, models.ServerForUpdate(
        network=models.Network(public_network_access=value))).result()


def set_parameter(sdk: Any, name: str, parameter: str, value: str) -> None:
    sdk.configurations.begin_update(GROUP, name, parameter, models.Configuration(value=value, source="user-override")
                                    ).result()


def batch_parameters(sdk: Any, name: str, values: dict[str, str]) -> None:
    sdk.configurations.begin_batch_update(GROUP, name, models.ConfigurationListForBatchUpdate(
        value=[models.ConfigurationForBatchUpdate(name=k, value=v) for k, v in values.items()])).result()


def add_rule(sdk: Any, name: str, rule: str, start: str, end: str) -> None:
    sdk.firewall_rules.begin_create_or_update(GROUP, name, rule, models.FirewallRule(
        start_ip_address=start, end_ip_address=end)).result()


def delete_rule(sdk: Any, name: str, rule: str) -> None:
    sdk.firewall_rules.begin_delete(GROUP, name, rule).result()


def diagnostic_setting(sdk: Any, name: str, setting: str, body: dict[str, Any] | None) -> None:
    request = HttpRequest("DELETE" if body is None else "PUT",
                          f"{server_id(name)}/providers/Microsoft.Insights/diagnosticSettings/{setting}",
                          params={"api-version": "2021-05-01-preview"}, json=body)
    sdk._send_request(request).raise_for_status()


KEY_URI = "https://contoso-kv.vault.azure.net/keys/mysql-cmk/4d1c6e9f"
AUDIT_TO_WORKSPACE = {"properties": {
    "workspaceId": "/subscriptions/x/resourceGroups/sec/providers/Microsoft.OperationalInsights/workspaces/soc",
    "logs": [{"categoryGroup": "audit", "enabled": True}]}}
