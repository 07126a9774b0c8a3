"""Changes made the way a user of Azure makes them: through the management SDK.

Shared by the demo, the benchmark and the tests, so that all of them exercise the stand-in with
the same real client calls.
"""

from __future__ import annotations

from typing import Any

from azure.core.rest import HttpRequest
from azure.mgmt.mysqlflexibleservers import models

DIAGNOSTIC_SETTINGS_API = "2021-05-01-preview"
SECURITY_PRICINGS_API = "2024-01-01"
KEY_URI = "https://contoso-kv.vault.azure.net/keys/mysql-cmk/4d1c6e9f"
GEO_KEY_URI = "https://contoso-kv-paired.vault.azure.net/keys/mysql-cmk-geo/7a2b9c31"


def server_id(subscription: str, group: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.DBforMySQL/flexibleServers/{name}"


def create_server(sdk: Any, group: str, name: str, *, public_access: str = "Disabled",
                  tags: dict[str, str] | None = None, secure: bool = False, subnet: str | None = None,
                  dns_zone: str | None = None) -> None:
    """A new server with Azure's defaults, or (`secure`) with CMK and geo-redundant backup from the start;
    in a VNet (`subnet`, `dns_zone`) when given."""
    extra: dict[str, Any] = {}
    if secure:
        identity = (f"/subscriptions/{sdk._config.subscription_id}/resourceGroups/{group}/providers/"
                    "Microsoft.ManagedIdentity/userAssignedIdentities/db-identity")
        extra = {
            "identity": models.MySQLServerIdentity(type="UserAssigned",
                                                   user_assigned_identities={identity: models.UserAssignedIdentity()}),
            "data_encryption": models.DataEncryption(type="AzureKeyVault", primary_user_assigned_identity_id=identity,
                                                     primary_key_uri=KEY_URI, geo_backup_key_uri=GEO_KEY_URI,
                                                     geo_backup_user_assigned_identity_id=identity),
            "backup": models.Backup(backup_retention_days=14, geo_redundant_backup="Enabled"),
            "high_availability": models.HighAvailability(mode="ZoneRedundant", standby_availability_zone="2"),
        }
    sdk.servers.begin_create(group, name, models.Server(
        location="westeurope", sku=models.MySQLServerSku(name="Standard_D2ds_v4", tier="GeneralPurpose"),
        administrator_login="cloudsa", administrator_login_password="not-a-real-password-1!", version="8.0.21",
        network=models.Network(public_network_access=public_access, delegated_subnet_resource_id=subnet,
                               private_dns_zone_resource_id=dns_zone), tags=tags, **extra,
    )).result()


def set_public_access(sdk: Any, group: str, name: str, value: str) -> None:
    sdk.servers.begin_update(group, name, models.ServerForUpdate(
        network=models.Network(public_network_access=value))).result()


def set_parameter(sdk: Any, group: str, name: str, parameter: str, value: str) -> None:
    sdk.configurations.begin_update(group, name, parameter,
                                    models.Configuration(value=value, source="user-override")).result()


def restart(sdk: Any, group: str, name: str) -> None:
    """What makes a static parameter (`tls_version`) take its stored value."""
    sdk.servers.begin_restart(group, name, models.ServerRestartParameter()).result()


def detach_vnet(sdk: Any, group: str, name: str, public_access: str = "Disabled") -> None:
    sdk.servers.begin_detach_v_net(group, name, models.ServerDetachVNetParameter(
        public_network_access=public_access)).result()


def batch_parameters(sdk: Any, group: str, name: str, values: dict[str, str]) -> None:
    sdk.configurations.begin_batch_update(group, name, models.ConfigurationListForBatchUpdate(
        value=[models.ConfigurationForBatchUpdate(name=k, value=v) for k, v in values.items()])).result()


def add_rule(sdk: Any, group: str, name: str, rule: str, start: str, end: str) -> None:
    sdk.firewall_rules.begin_create_or_update(group, name, rule, models.FirewallRule(
        start_ip_address=start, end_ip_address=end)).result()


def delete_rule(sdk: Any, group: str, name: str, rule: str) -> None:
    sdk.firewall_rules.begin_delete(group, name, rule).result()


def diagnostic_setting(sdk: Any, group: str, name: str, setting: str, body: dict[str, Any] | None) -> None:
    """Diagnostic settings have no call in the MySQL SDK: one request through the same pipeline."""
    server = server_id(sdk._config.subscription_id, group, name)
    url = f"{server}/providers/Microsoft.Insights/diagnosticSettings/{setting}"
    request = HttpRequest("DELETE" if body is None else "PUT", url, params={"api-version": DIAGNOSTIC_SETTINGS_API},
                          json=body)
    sdk._send_request(request).raise_for_status()


def audit_to_workspace(workspace_id: str) -> dict[str, Any]:
    return {"properties": {"workspaceId": workspace_id, "logs": [{"categoryGroup": "audit", "enabled": True}]}}


def secure_everything_else(sdk: Any, group: str, name: str, workspace_id: str) -> None:
    """Bring every setting the default policy watches, beyond the server's own, to its desired state."""
    for parameter, value in (("aad_auth_only", "ON"), ("tls_version", "TLSv1.3"), ("require_secure_transport", "ON"),
                             ("audit_log_enabled", "ON"), ("audit_log_events", "CONNECTION,ADMIN,DDL")):
        set_parameter(sdk, group, name, parameter, value)
    sdk.azure_ad_administrators.begin_create_or_update(group, name, "ActiveDirectory", models.AzureADAdministrator(
        administrator_type="ActiveDirectory", login="dba-group", sid="c6b82b90-a647-49cb-8a62-0d2d3cb7ac7c",
        tenant_id="72f988bf-0000-0000-0000-000000000000")).result()
    sdk.advanced_threat_protection_settings.begin_update_put(group, name, "Default", models.AdvancedThreatProtection(
        state="Enabled")).result()
    diagnostic_setting(sdk, group, name, "audit", audit_to_workspace(workspace_id))
    restart(sdk, group, name)  # tls_version is static: it runs only after a restart
    defender_plan(sdk, "Standard")


def defender_plan(sdk: Any, tier: str) -> None:
    """The subscription's Defender plan for open-source relational databases (no call in the MySQL SDK)."""
    url = f"/subscriptions/{sdk._config.subscription_id}/providers/Microsoft.Security/pricings/" \
          "OpenSourceRelationalDatabases"
    request = HttpRequest("PUT", url, params={"api-version": SECURITY_PRICINGS_API}, json={"properties": {
        "pricingTier": tier}})
    sdk._send_request(request).raise_for_status()


def create_compliant_server(sdk: Any, group: str, name: str, workspace_id: str, **kwargs: Any) -> None:
    create_server(sdk, group, name, secure=True, **kwargs)
    secure_everything_else(sdk, group, name, workspace_id)
