"""Detectors judge plain data: the official REST examples verbatim, and hand-written edge cases.

Every detector is a pure function of (state, context): the context carries the policy and the
server's other settings, which is how "a firewall rule matters only while public access is on"
and "Entra-only auth without an Entra admin locks everybody out" are decided.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

import pytest

import detectors
from detectors import Context
from drift.model import Severity, Verdict
from drift.policy import Desired, Policy
from tests.conftest import fixture_json

MYSQL = "mysql-flexible-2024-12-30"
MONITOR = "monitor-diagnostic-settings-2021-05-01-preview"
SUB = "ffffffff-ffff-ffff-ffff-ffffffffffff"
SERVER_ID = f"/subscriptions/{SUB}/resourceGroups/testrg/providers/Microsoft.DBforMySQL/flexibleServers/s1"
PUBLIC = Context(others={"public_network_access": "Enabled"}, server_id=SERVER_ID)


def body(folder: str, name: str, status: str = "200") -> Any:
    return fixture_json("arm", folder, name)["responses"][status]["body"]


def state(setting: str, data: Any) -> Any:
    return detectors.by_setting(setting).state(data)


def judge(setting: str, before: Any, after: Any, ctx: Context = PUBLIC) -> tuple[Verdict, Severity]:
    j = detectors.by_setting(setting).judge(before, after, ctx)
    assert j is not None
    return j.verdict, j.severity


def found(setting: str, value: Any, ctx: Context = PUBLIC) -> list[Severity]:
    return [i.severity for i in detectors.by_setting(setting).issues(value, ctx)]


def rules(*ranges: tuple[str, str, str]) -> list[dict[str, str]]:
    return state("firewall_rules", [{"name": n, "properties": {"startIpAddress": s, "endIpAddress": e}}
                                    for n, s, e in ranges])


def with_policy(**desired: Any) -> Context:
    return Context(policy=Policy(desired=Desired(**desired)), others=PUBLIC.others, server_id=SERVER_ID)


# -- the official examples -----------------------------------------------------------------------

def test_the_rule_in_the_official_create_example_opens_the_whole_internet() -> None:
    created = state("firewall_rules", [body(MYSQL, "FirewallRuleCreate.json")])
    assert judge("firewall_rules", [], created) == (Verdict.WEAKENED, Severity.CRITICAL)
    assert found("firewall_rules", created) == [Severity.CRITICAL]


def test_the_official_rule_list_is_read_into_plain_rules() -> None:
    listed = state("firewall_rules", body(MYSQL, "FirewallRulesListByServer.json")["value"])
    assert [r["name"] for r in listed] == sorted(r["name"] for r in listed)
    assert all(set(r) == {"name", "start", "end"} for r in listed)


@pytest.mark.parametrize(("example", "public", "vnet", "encryption", "geo", "days"), [
    ("ServerGet.json", "Enabled", False, "SystemManaged", "Disabled", 7),
    ("ServerGetWithVnet.json", "Disabled", True, "SystemManaged", "Disabled", 7),
    ("ServerCreate.json", None, False, "SystemManaged", "Disabled", 7),
    ("ServerUpdateWithBYOK.json", None, False, "SystemManaged", None, None),
])
def test_server_settings_are_read_from_the_official_server_examples(
    example: str, public: str | None, vnet: bool, encryption: str, geo: str | None, days: int | None,
) -> None:
    server = body(MYSQL, example)
    if public is not None:
        assert state("public_network_access", server) == public
    assert bool(state("network_isolation", server)["delegated_subnet"]) is vnet
    assert state("data_encryption", server)["type"] == encryption
    if geo is not None:
        assert state("backup", server) == {"geo_redundant": geo, "retention_days": days}


def test_the_byok_request_example_reads_as_customer_managed() -> None:
    request = fixture_json("arm", MYSQL, "ServerCreateWithBYOK.json")["parameters"]["parameters"]
    enc = state("data_encryption", request)
    assert enc["type"] == "AzureKeyVault" and enc["primary_key_uri"].startswith("https://")
    assert found("data_encryption", enc) == []


def test_the_official_configuration_example_reads_its_value() -> None:
    config = body(MYSQL, "ConfigurationGet.json")
    assert detectors.parameter_value(config) == "OFF"
    assert detectors.parameter_value(None) is None


def test_diagnostic_settings_of_the_official_examples_ship_audit_logs_through_all_logs() -> None:
    listed = state("diagnostic_settings", body(MONITOR, "listDiagnosticSettings.json")["value"])
    one = state("diagnostic_settings", [body(MONITOR, "getDiagnosticSetting.json")])
    for read in (listed, one):
        assert [s["audit"] for s in read] == [True], "categoryGroup allLogs includes the audit category"
        assert [d.split(":")[0] for d in read[0]["destinations"]] == ["event hub", "partner", "storage"], (
            "an empty workspaceId is no destination")
        assert found("diagnostic_settings", read) == []
        assert judge("diagnostic_settings", read, []) == (Verdict.WEAKENED, Severity.HIGH)


def test_the_official_admin_and_defender_examples() -> None:
    admins = state("entra_admin", body(MYSQL, "AzureADAdministratorsListByServer.json")["value"])
    assert admins and admins[0]["login"]
    assert found("entra_admin", admins) == []
    enabled = state("defender", body(MYSQL, "AdvancedThreatProtectionSettingsGet.json"))
    disabled = state("defender", body(MYSQL, "AdvancedThreatProtectionSettingsPatchDisabled.json"))
    assert (enabled, disabled) == ("Enabled", "Disabled")
    assert judge("defender", enabled, disabled) == (Verdict.WEAKENED, Severity.MEDIUM)


def test_the_official_private_endpoint_examples_are_foreign_unless_trusted() -> None:
    listed = state("private_endpoints", body(MYSQL, "PrivateEndpointConnectionList.json")["value"])
    approved = [c for c in listed if c["status"].lower() == "approved"]
    assert approved, "the example has approved connections"
    assert found("private_endpoints", listed)
    trusted = Context(policy=Policy(trusted_subscriptions=tuple(c["subscription"] for c in listed)),
                      server_id=SERVER_ID)
    assert found("private_endpoints", listed, trusted) == []


# -- firewall ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("before", "after", "verdict", "severity"), [
    ([], [("all", "0.0.0.0", "255.255.255.255")], Verdict.WEAKENED, Severity.CRITICAL),
    ([], [("azure", "0.0.0.0", "0.0.0.0")], Verdict.WEAKENED, Severity.HIGH),
    ([], [("a", "10.0.0.0", "10.255.255.255")], Verdict.WEAKENED, Severity.HIGH),
    ([], [("a", "192.0.2.0", "192.0.2.255")], Verdict.WEAKENED, Severity.LOW),
    ([], [("a", "192.0.2.0", "192.0.3.255")], Verdict.WEAKENED, Severity.MEDIUM),
    ([], [("a", "203.0.113.7", "203.0.113.7")], Verdict.WEAKENED, Severity.LOW),
    ([("a", "192.0.2.0", "192.0.2.255")], [], Verdict.STRENGTHENED, Severity.INFO),
    ([("a", "192.0.2.0", "192.0.2.255")], [("a", "192.0.2.0", "192.0.2.15")], Verdict.STRENGTHENED, Severity.INFO),
    ([("a", "192.0.2.0", "192.0.2.255")], [("renamed", "192.0.2.0", "192.0.2.255")], Verdict.CHANGED, Severity.INFO),
    ([("a", "192.0.2.0", "192.0.2.255")], [("a", "192.0.2.0", "192.0.2.127"), ("b", "192.0.2.128", "192.0.2.255")],
     Verdict.CHANGED, Severity.INFO),
    ([("wide", "0.0.0.0", "255.255.255.255")], [("wide", "0.0.0.0", "255.255.255.255"), ("x", "1.2.3.4", "1.2.3.4")],
     Verdict.CHANGED, Severity.INFO),
    ([("half", "0.0.0.0", "127.255.255.255")], [("all", "0.0.0.0", "255.255.255.255")],
     Verdict.WEAKENED, Severity.CRITICAL),
    ([("azure", "0.0.0.0", "0.0.0.0")], [], Verdict.STRENGTHENED, Severity.INFO),
    ([], [("edge", "255.255.255.255", "255.255.255.255")], Verdict.WEAKENED, Severity.LOW),
    ([], [("zero", "0.0.0.0", "0.0.0.1")], Verdict.WEAKENED, Severity.LOW),
    ([], [("backwards", "10.0.0.9", "10.0.0.1")], Verdict.CHANGED, Severity.INFO),
], ids=["internet", "azure-services", "slash-8", "slash-24", "slash-23", "one-ip", "removed", "narrowed",
        "renamed", "split", "inside-existing", "half-to-all", "azure-off", "top-edge", "bottom-edge-not-azure",
        "backwards-range"])
def test_firewall_changes_are_judged_by_the_addresses_they_let_in(
    before: list[tuple[str, str, str]], after: list[tuple[str, str, str]], verdict: Verdict, severity: Severity,
) -> None:
    assert judge("firewall_rules", rules(*before), rules(*after)) == (verdict, severity)


def test_a_weakening_names_the_rules_that_opened_it_and_the_undo_targets_them() -> None:
    j = detectors.by_setting("firewall_rules").judge([], rules(("AllowAll", "0.0.0.0", "255.255.255.255")), PUBLIC)
    assert j is not None and "whole internet" in j.why and "AllowAll (0.0.0.0-255.255.255.255)" in j.why
    assert j.targets == ("AllowAll",)


def test_an_invalid_rule_is_a_finding_not_a_crash() -> None:
    assert found("firewall_rules", rules(("bad", "not-an-ip", "10.0.0.1"))) == [Severity.MEDIUM]


@pytest.mark.parametrize(("others", "why"), [
    ({"public_network_access": "Disabled"}, "public network access is Disabled"),
    ({"network_isolation": {"delegated_subnet": "/subscriptions/x/subnets/db", "private_dns_zone": None}},
     "in a VNet"),
])
def test_a_rule_added_while_the_server_has_no_public_endpoint_is_low(others: dict[str, Any], why: str) -> None:
    ctx = Context(others=others)
    j = detectors.by_setting("firewall_rules").judge([], rules(("all", "0.0.0.0", "255.255.255.255")), ctx)
    assert j is not None and (j.verdict, j.severity) == (Verdict.WEAKENED, Severity.LOW)
    assert why in j.why
    assert found("firewall_rules", rules(("all", "0.0.0.0", "255.255.255.255")), ctx) == [Severity.LOW]


def test_approved_ranges_never_weaken() -> None:
    ctx = Context(policy=Policy(approved_ranges=(ipaddress.IPv4Network("198.51.100.0/24"),)), others=PUBLIC.others)
    assert judge("firewall_rules", [], rules(("office", "198.51.100.0", "198.51.100.255")), ctx)[0] == Verdict.CHANGED
    assert judge("firewall_rules", [], rules(("office+", "198.51.100.0", "198.51.101.0")), ctx) == (
        Verdict.WEAKENED, Severity.LOW), "only the address outside the approved range counts"


# -- public access and network -------------------------------------------------------------------

def test_public_access_turned_on_weakens_and_turned_off_strengthens() -> None:
    assert judge("public_network_access", "Disabled", "Enabled") == (Verdict.WEAKENED, Severity.HIGH)
    assert judge("public_network_access", "Enabled", "Disabled")[0] == Verdict.STRENGTHENED


def test_public_access_turned_on_while_broad_rules_exist_is_critical_and_names_them() -> None:
    ctx = Context(others={"firewall_rules": rules(("AllowAll", "0.0.0.0", "255.255.255.255"),
                                                  ("office", "198.51.100.20", "198.51.100.20"))})
    j = detectors.by_setting("public_network_access").judge("Disabled", "Enabled", ctx)
    assert j is not None and (j.verdict, j.severity) == (Verdict.WEAKENED, Severity.CRITICAL)
    assert "AllowAll" in j.why and "office" not in j.why


def test_public_access_wanted_by_policy_is_no_finding() -> None:
    assert found("public_network_access", "Enabled", with_policy(public_network_access="Enabled")) == []


def test_leaving_the_vnet_weakens() -> None:
    vnet = {"delegated_subnet": "/subscriptions/x/subnets/db", "private_dns_zone": None}
    none = {"delegated_subnet": None, "private_dns_zone": None}
    assert judge("network_isolation", vnet, none) == (Verdict.WEAKENED, Severity.MEDIUM)
    assert judge("network_isolation", none, vnet)[0] == Verdict.STRENGTHENED


# -- identity ------------------------------------------------------------------------------------

ADMIN = [{"login": "dba-group", "sid": "c6b82b90-a647-49cb-8a62-0d2d3cb7ac7c", "tenant_id": "t"}]


@pytest.mark.parametrize(("setting", "before", "after", "others", "verdict", "severity"), [
    ("aad_auth_only", "ON", "OFF", {}, Verdict.WEAKENED, Severity.HIGH),
    ("aad_auth_only", "OFF", "ON", {"entra_admin": ADMIN}, Verdict.STRENGTHENED, Severity.INFO),
    ("aad_auth_only", "OFF", "ON", {"entra_admin": []}, Verdict.WEAKENED, Severity.MEDIUM),
    ("aad_auth_only", "ON", None, {}, Verdict.WEAKENED, Severity.HIGH),
    ("entra_admin", ADMIN, [], {"aad_auth_only": "ON"}, Verdict.WEAKENED, Severity.HIGH),
    ("entra_admin", ADMIN, [], {"aad_auth_only": "OFF"}, Verdict.WEAKENED, Severity.MEDIUM),
    ("entra_admin", [], ADMIN, {}, Verdict.STRENGTHENED, Severity.INFO),
    ("entra_admin", ADMIN, [{**ADMIN[0], "sid": "other"}], {}, Verdict.CHANGED, Severity.LOW),
], ids=["entra-only-off", "entra-only-on", "entra-only-on-without-admin", "entra-only-missing",
        "admin-removed-entra-only", "admin-removed", "admin-added", "admin-replaced"])
def test_identity_is_judged_with_both_settings_in_view(setting: str, before: Any, after: Any,
                                                       others: dict[str, Any], verdict: Verdict,
                                                       severity: Severity) -> None:
    assert judge(setting, before, after, Context(others=others)) == (verdict, severity)


# -- transport -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("setting", "before", "after", "verdict", "severity"), [
    ("tls_version", "TLSV1.3", "TLSV1.2,TLSV1.3", Verdict.WEAKENED, Severity.MEDIUM),
    ("tls_version", "TLSV1.2,TLSV1.3", "TLSV1.1,TLSV1.2,TLSV1.3", Verdict.WEAKENED, Severity.HIGH),
    ("tls_version", "TLSV1.2", "TLSV1,TLSV1.1,TLSV1.2", Verdict.WEAKENED, Severity.HIGH),
    ("tls_version", "TLSV1.2,TLSV1.3", "TLSV1.3", Verdict.STRENGTHENED, Severity.INFO),
    ("tls_version", "TLSV1.2,TLSV1.3", "TLSV1.3,TLSV1.2", Verdict.CHANGED, Severity.INFO),
    ("tls_version", "TLSV1.3", "TLSV1.4", Verdict.WEAKENED, Severity.MEDIUM),
    ("tls_version", "TLSV1.3", None, Verdict.WEAKENED, Severity.MEDIUM),
    ("require_secure_transport", "ON", "OFF", Verdict.WEAKENED, Severity.HIGH),
    ("require_secure_transport", "OFF", "ON", Verdict.STRENGTHENED, Severity.INFO),
    ("require_secure_transport", "ON", "MAYBE", Verdict.WEAKENED, Severity.MEDIUM),
])
def test_transport_parameters_are_judged_on_their_values(setting: str, before: str | None, after: str | None,
                                                         verdict: Verdict, severity: Severity) -> None:
    assert judge(setting, before, after) == (verdict, severity)


def test_tls_12_is_no_finding_where_the_policy_allows_it() -> None:
    ctx = with_policy(tls_versions=("TLSv1.2", "TLSv1.3"))
    assert found("tls_version", "TLSV1.2,TLSV1.3", ctx) == []
    assert judge("tls_version", "TLSV1.2,TLSV1.3", "TLSV1.1,TLSV1.2,TLSV1.3", ctx) == (Verdict.WEAKENED, Severity.HIGH)


def test_parameter_values_are_compared_whatever_their_case() -> None:
    config = copy.deepcopy(body(MYSQL, "ConfigurationGet.json"))
    config["properties"]["value"] = " tlsv1.2,TLSv1.3 "
    assert state("tls_version", config) == "TLSV1.2,TLSV1.3"
    assert judge("tls_version", "TLSV1.2,TLSV1.3", state("tls_version", config))[0] == Verdict.CHANGED


def test_an_unknown_tls_value_is_reported_as_unknown() -> None:
    j = detectors.by_setting("tls_version").judge("TLSV1.3", "SSLV3", PUBLIC)
    assert j is not None and "unknown value 'SSLV3'" in j.why


# -- logging -------------------------------------------------------------------------------------

WORKSPACE = "/subscriptions/x/resourceGroups/sec/providers/Microsoft.OperationalInsights/workspaces/soc"
STORAGE = "/subscriptions/x/resourceGroups/sec/providers/Microsoft.Storage/storageAccounts/archive"


def setting(name: str, logs: list[dict[str, Any]], **destinations: str) -> dict[str, Any]:
    return {"name": name, "properties": {"logs": logs, **destinations}}


AUDIT_GROUP = [{"categoryGroup": "audit", "enabled": True}]


@pytest.mark.parametrize(("before", "after", "verdict", "severity"), [
    ([setting("a", AUDIT_GROUP, workspaceId=WORKSPACE)], [], Verdict.WEAKENED, Severity.HIGH),
    ([setting("a", AUDIT_GROUP, workspaceId=WORKSPACE)],
     [setting("a", [{"categoryGroup": "audit", "enabled": False}], workspaceId=WORKSPACE)],
     Verdict.WEAKENED, Severity.HIGH),
    ([setting("a", AUDIT_GROUP, workspaceId=WORKSPACE)], [setting("a", AUDIT_GROUP)], Verdict.WEAKENED, Severity.HIGH),
    ([setting("a", AUDIT_GROUP, workspaceId=WORKSPACE, storageAccountId=STORAGE)],
     [setting("a", AUDIT_GROUP, storageAccountId=STORAGE)], Verdict.WEAKENED, Severity.MEDIUM),
    ([setting("a", AUDIT_GROUP, workspaceId=WORKSPACE), setting("b", AUDIT_GROUP, storageAccountId=STORAGE)],
     [setting("b", AUDIT_GROUP, storageAccountId=STORAGE)], Verdict.WEAKENED, Severity.MEDIUM),
    ([setting("a", [{"category": "MySqlAuditLogs", "enabled": True}], workspaceId=WORKSPACE)],
     [setting("a", [{"category": "MySqlSlowLogs", "enabled": True}], workspaceId=WORKSPACE)],
     Verdict.WEAKENED, Severity.HIGH),
    ([setting("a", [{"category": "mysqlauditlogs", "enabled": True}], workspaceId=WORKSPACE)],
     [setting("a", [{"categoryGroup": "allLogs", "enabled": True}], workspaceId=WORKSPACE)],
     Verdict.CHANGED, Severity.INFO),
    ([], [setting("a", AUDIT_GROUP, workspaceId=WORKSPACE)], Verdict.STRENGTHENED, Severity.INFO),
    ([setting("a", [{"category": "MySqlSlowLogs", "enabled": True}], workspaceId=WORKSPACE)], [],
     Verdict.CHANGED, Severity.INFO),
], ids=["deleted", "disabled-entry", "destination-removed", "one-of-two-destinations", "one-of-two-settings",
        "category-swapped", "category-to-group", "added", "slow-logs-only-deleted"])
def test_diagnostic_settings_are_judged_by_where_audit_logs_go(
    before: list[dict[str, Any]], after: list[dict[str, Any]], verdict: Verdict, severity: Severity,
) -> None:
    assert judge("diagnostic_settings", state("diagnostic_settings", before),
                 state("diagnostic_settings", after)) == (verdict, severity)


OTHER_SUB_SOC = "/subscriptions/y/resourceGroups/sec/providers/Microsoft.OperationalInsights/workspaces/soc"


def test_audit_logs_redirected_to_a_same_named_workspace_elsewhere_are_a_lost_destination() -> None:
    j = detectors.by_setting("diagnostic_settings").judge(
        state("diagnostic_settings", [setting("a", AUDIT_GROUP, workspaceId=WORKSPACE)]),
        state("diagnostic_settings", [setting("a", AUDIT_GROUP, workspaceId=OTHER_SUB_SOC)]), PUBLIC)
    assert j is not None and (j.verdict, j.severity) == (Verdict.WEAKENED, Severity.MEDIUM)
    assert WORKSPACE in j.why and OTHER_SUB_SOC in j.why
    d = detectors.by_setting("diagnostic_settings")
    assert d.describe(state("diagnostic_settings", [setting("a", AUDIT_GROUP, workspaceId=OTHER_SUB_SOC)])) == \
        "a (audit to workspace soc (y/sec))"


def test_destinations_are_compared_whatever_the_case_of_their_ids() -> None:
    assert judge("diagnostic_settings",
                 state("diagnostic_settings", [setting("a", AUDIT_GROUP, workspaceId=WORKSPACE)]),
                 state("diagnostic_settings", [setting("a", AUDIT_GROUP, workspaceId=WORKSPACE.upper())])) == (
        Verdict.CHANGED, Severity.INFO)


def test_a_renamed_diagnostic_setting_changes_nothing() -> None:
    old = state("diagnostic_settings", [setting("audit-old", AUDIT_GROUP, workspaceId=WORKSPACE)])
    both = state("diagnostic_settings", [setting("audit-old", AUDIT_GROUP, workspaceId=WORKSPACE),
                                         setting("audit-new", AUDIT_GROUP, workspaceId=WORKSPACE)])
    new = state("diagnostic_settings", [setting("audit-new", AUDIT_GROUP, workspaceId=WORKSPACE)])
    assert judge("diagnostic_settings", old, both) == (Verdict.CHANGED, Severity.INFO)
    assert judge("diagnostic_settings", both, new) == (Verdict.CHANGED, Severity.INFO)


def test_audit_logs_sent_where_the_policy_does_not_know_weaken() -> None:
    ctx = Context(policy=Policy(audit_destinations=(WORKSPACE.upper(),)), server_id=SERVER_ID)
    known = state("diagnostic_settings", [setting("a", AUDIT_GROUP, workspaceId=WORKSPACE)])
    redirected = state("diagnostic_settings", [setting("a", AUDIT_GROUP, workspaceId=OTHER_SUB_SOC)])
    copied = state("diagnostic_settings", [setting("a", AUDIT_GROUP, workspaceId=WORKSPACE),
                                           setting("b", AUDIT_GROUP, storageAccountId=STORAGE)])
    assert judge("diagnostic_settings", known, redirected, ctx) == (Verdict.WEAKENED, Severity.HIGH)
    assert judge("diagnostic_settings", known, copied, ctx) == (Verdict.WEAKENED, Severity.HIGH)
    assert found("diagnostic_settings", known, ctx) == []
    assert found("diagnostic_settings", redirected, ctx) == [Severity.HIGH]
    assert judge("diagnostic_settings", known, copied, PUBLIC) == (Verdict.STRENGTHENED, Severity.INFO)


SHIPPING = state("diagnostic_settings", [setting("a", AUDIT_GROUP, workspaceId=WORKSPACE)])


@pytest.mark.parametrize(("setting_name", "before", "after", "others", "verdict", "severity", "why"), [
    ("audit_log_enabled", "ON", "OFF", {}, Verdict.WEAKENED, Severity.HIGH, "not recorded"),
    ("audit_log_enabled", "ON", "OFF", {"diagnostic_settings": SHIPPING}, Verdict.WEAKENED, Severity.HIGH,
     "stays empty"),
    ("audit_log_events", "CONNECTION,DDL", "DDL", {}, Verdict.WEAKENED, Severity.MEDIUM, "logins are not audited"),
    ("audit_log_events", "connection_v2", "CONNECTION_V2,ADMIN", {}, Verdict.CHANGED, Severity.INFO, ""),
    ("audit_log_events", "DDL", "CONNECTION_V2", {}, Verdict.STRENGTHENED, Severity.INFO, ""),
    ("diagnostic_settings", SHIPPING, [], {"audit_log_enabled": "ON"}, Verdict.WEAKENED, Severity.HIGH,
     "records audit events that now go nowhere"),
], ids=["recording-off", "shipped-but-not-recorded", "connections-dropped", "connections-kept", "connections-added",
        "recorded-but-not-shipped"])
def test_audit_recording_and_shipping_are_judged_together(setting_name: str, before: Any, after: Any,
                                                          others: dict[str, Any], verdict: Verdict,
                                                          severity: Severity, why: str) -> None:
    j = detectors.by_setting(setting_name).judge(
        detectors.by_setting(setting_name).state({"properties": {"value": before}}) if isinstance(before, str)
        else before,
        detectors.by_setting(setting_name).state({"properties": {"value": after}}) if isinstance(after, str)
        else after,
        Context(others=others))
    assert j is not None and (j.verdict, j.severity) == (verdict, severity)
    assert why in j.why


# -- encryption, backup, defender, private endpoints ---------------------------------------------

CMK = {"type": "AzureKeyVault", "primary_key_uri": "https://kv.vault.azure.net/keys/k/1", "geo_backup_key_uri": None}
SMK = {"type": "SystemManaged", "primary_key_uri": None, "geo_backup_key_uri": None}


@pytest.mark.parametrize(("setting_name", "before", "after", "verdict", "severity"), [
    ("data_encryption", CMK, SMK, Verdict.WEAKENED, Severity.MEDIUM),
    ("data_encryption", SMK, CMK, Verdict.STRENGTHENED, Severity.INFO),
    ("data_encryption", CMK, {**CMK, "primary_key_uri": "https://evil.vault.azure.net/keys/k/2"}, Verdict.CHANGED,
     Severity.LOW),
    ("data_encryption", CMK, {**CMK, "primary_key_uri": None}, Verdict.WEAKENED, Severity.HIGH),
    ("backup", {"geo_redundant": "Enabled", "retention_days": 35}, {"geo_redundant": "Enabled", "retention_days": 14},
     Verdict.WEAKENED, Severity.LOW),
    ("backup", {"geo_redundant": "Enabled", "retention_days": 7}, {"geo_redundant": "Enabled", "retention_days": 1},
     Verdict.WEAKENED, Severity.MEDIUM),
    ("backup", {"geo_redundant": "Enabled", "retention_days": 7}, {"geo_redundant": "Disabled", "retention_days": 7},
     Verdict.WEAKENED, Severity.MEDIUM),
    ("backup", {"geo_redundant": "Disabled", "retention_days": 7}, {"geo_redundant": "Enabled", "retention_days": 30},
     Verdict.STRENGTHENED, Severity.INFO),
    ("defender", "Enabled", "Disabled", Verdict.WEAKENED, Severity.MEDIUM),
    ("defender", None, "Enabled", Verdict.STRENGTHENED, Severity.INFO),
], ids=["cmk-to-service-key", "service-key-to-cmk", "key-changed", "key-uri-lost", "retention-shorter",
        "retention-below-minimum", "geo-off", "geo-on", "defender-off", "defender-on"])
def test_encryption_backup_and_defender(setting_name: str, before: Any, after: Any, verdict: Verdict,
                                        severity: Severity) -> None:
    assert judge(setting_name, before, after) == (verdict, severity)


def connection(name: str, subscription: str, status: str = "Approved") -> dict[str, Any]:
    endpoint = f"/subscriptions/{subscription}/resourceGroups/net/providers/Microsoft.Network/privateEndpoints/{name}"
    return {"name": name, "properties": {"privateEndpoint": {"id": endpoint},
                                         "privateLinkServiceConnectionState": {"status": status}}}


@pytest.mark.parametrize(("before", "after", "public", "verdict", "severity"), [
    ([], [connection("pe1", "bad0bad0-0000-0000-0000-000000000000")], "Disabled", Verdict.WEAKENED, Severity.HIGH),
    ([], [connection("pe1", SUB)], "Disabled", Verdict.CHANGED, Severity.INFO),
    ([], [connection("pe1", "bad0bad0-0000-0000-0000-000000000000", "Pending")], "Disabled", Verdict.CHANGED,
     Severity.INFO),
    ([connection("pe1", SUB)], [], "Disabled", Verdict.CHANGED, Severity.MEDIUM),
    ([connection("pe1", SUB)], [], "Enabled", Verdict.CHANGED, Severity.LOW),
], ids=["foreign-approved", "own-subscription", "foreign-pending", "removed-while-private", "removed-while-public"])
def test_private_endpoint_connections(before: list[Any], after: list[Any], public: str, verdict: Verdict,
                                      severity: Severity) -> None:
    ctx = Context(others={"public_network_access": public}, server_id=SERVER_ID)
    assert judge("private_endpoints", state("private_endpoints", before), state("private_endpoints", after),
                 ctx) == (verdict, severity)


# -- the registry --------------------------------------------------------------------------------

def test_every_detector_carries_its_metadata_and_copes_with_an_absent_setting() -> None:
    settings = [d.setting for d in detectors.all_detectors()]
    assert len(settings) == len(set(settings))
    assert {d.setting for d in detectors.watching("server")} == {
        "public_network_access", "network_isolation", "data_encryption", "backup", "server_tags", "high_availability",
        "mysql_version", "administrator_login"}
    assert detectors.tracked_parameters() == ["aad_auth_only", "audit_log_enabled", "audit_log_events",
                                              "audit_log_exclude_users", "audit_log_include_users",
                                              "require_secure_transport", "tls_version"]
    for detector in detectors.all_detectors():
        if detector.control == "-":
            continue
        assert detector.title and detector.remediation and detector.command.startswith("az ")
        assert detector.control in {"NS-1", "NS-2", "IM-1", "DP-3", "DP-5", "LT-1", "LT-4", "BR-1", ""}
        assert detector.control or detector.setting in {"high_availability", "mysql_version"}
        assert detector.cis == "" or re.fullmatch(r"\d+(\.\d+)+", detector.cis)
        assert detector.prowler == "" or re.fullmatch(r"(mysql_flexible_server|defender)_[a-z0-9_]+", detector.prowler)
        assert detector.doc_url.startswith("https://learn.microsoft.com/")
        empty = detector.state(None)
        detector.issues(empty, Context())
        j = detector.judge(empty, empty, Context())
        assert j is not None and j.verdict == Verdict.CHANGED


# -- static parameters: judged by what the server runs, not only by what is stored ----------------

def tls_config(value: str, current: str | None) -> dict[str, Any]:
    """The official configuration example as a `tls_version` read: stored `value`, running `currentValue`."""
    config = copy.deepcopy(body(MYSQL, "ConfigurationGet.json"))
    config["name"] = "tls_version"
    config["properties"].update(value=value, isDynamicConfig="False",
                                isConfigPendingRestart="True" if current not in (None, value) else "False")
    if current is not None:
        config["properties"]["currentValue"] = current
    return config


def test_a_tls_fix_waiting_for_a_restart_is_no_strengthening_while_the_server_runs_the_weak_value() -> None:
    tls = detectors.by_setting("tls_version")
    weak = state("tls_version", tls_config("TLSv1.2,TLSv1.3", "TLSv1.2,TLSv1.3"))
    fixed_not_applied = state("tls_version", tls_config("TLSv1.3", "TLSv1.2,TLSv1.3"))
    assert weak == "TLSV1.2,TLSV1.3", "stored and running agree: the plain value"
    assert fixed_not_applied == {"value": "TLSV1.3", "running": "TLSV1.2,TLSV1.3"}
    judgement = tls.judge(weak, fixed_not_applied, PUBLIC)
    assert judgement is not None
    assert (judgement.verdict, judgement.severity) == (Verdict.CHANGED, Severity.INFO)
    assert "not in force yet" in judgement.why and "TLSv1.2,TLSv1.3" in judgement.why
    assert [i.key for i in tls.issues(fixed_not_applied, PUBLIC)] == ["allows:TLSv1.2"], "the running value counts"
    assert tls.describe(fixed_not_applied) == "TLSv1.3 (running TLSv1.2,TLSv1.3 until restart)"

    applied = state("tls_version", tls_config("TLSv1.3", "TLSv1.3"))
    assert judge("tls_version", fixed_not_applied, applied) == (Verdict.STRENGTHENED, Severity.INFO), (
        "the restart is the strengthening")


def test_a_tls_weakening_waiting_for_a_restart_is_still_a_weakening() -> None:
    pending = state("tls_version", tls_config("TLSv1,TLSv1.1,TLSv1.2", "TLSv1.3"))
    assert judge("tls_version", "TLSV1.3", pending) == (Verdict.WEAKENED, Severity.HIGH)
    assert found("tls_version", pending) == [Severity.HIGH, Severity.HIGH, Severity.MEDIUM]
    first = detectors.by_setting("tls_version").first_seen(pending, PUBLIC)
    assert first is not None and first.severity == Severity.HIGH, "a new server is judged by both values too"


def test_a_configuration_without_current_value_is_judged_by_its_value() -> None:
    assert state("tls_version", tls_config("TLSv1.3", None)) == "TLSV1.3"
    assert detectors.by_setting("tls_version").static
    assert detectors.tracked_parameters(static=True) == ["tls_version"]
    assert not detectors.by_setting("require_secure_transport").static


def test_a_static_detector_cannot_bring_its_own_judge() -> None:
    with pytest.raises(ValueError, match="static parameter"):
        detectors.detector("static_with_judge", reads="configuration/x", title="x", control="x", severity_rules="x",
                           remediation="x", command="x", doc_url="x", state=detectors.parameter_value,
                           describe=str, judge=lambda b, a, c: None, static=True)(lambda s, c: [])


def test_cross_references_line_up_with_prowler_and_cis() -> None:
    refs = {d.setting: (d.cis, d.prowler) for d in detectors.all_detectors()}
    assert refs["tls_version"] == ("5.3.2", "mysql_flexible_server_minimum_tls_version_12")
    assert refs["require_secure_transport"] == ("5.3.1", "mysql_flexible_server_ssl_connection_enabled")
    assert refs["audit_log_events"] == ("5.3.4", "mysql_flexible_server_audit_log_connection_activated")
    assert refs["high_availability"][1] == "mysql_flexible_server_high_availability_enabled"


# -- high availability, version, geo backup key, missing public access --------------------------

@pytest.mark.parametrize(("example", "mode"), [
    ("ServerGet.json", "Disabled"), ("ServerCreate.json", "ZoneRedundant"),
    ("ServerUpdateWithBYOK.json", "ZoneRedundant"),
])
def test_high_availability_is_read_from_the_official_examples(example: str, mode: str) -> None:
    ha = state("high_availability", body(MYSQL, example))
    assert ha["mode"] == mode
    assert found("high_availability", ha) == ([Severity.MEDIUM] if mode == "Disabled" else [])


HA = {"ZoneRedundant": {"mode": "ZoneRedundant", "standby_zone": "3"},
      "SameZone": {"mode": "SameZone", "standby_zone": None}, "Disabled": {"mode": "Disabled", "standby_zone": None}}


@pytest.mark.parametrize(("before", "after", "verdict", "severity"), [
    ("ZoneRedundant", "SameZone", Verdict.WEAKENED, Severity.LOW),
    ("ZoneRedundant", "Disabled", Verdict.WEAKENED, Severity.MEDIUM),
    ("SameZone", "Disabled", Verdict.WEAKENED, Severity.MEDIUM),
    ("Disabled", "ZoneRedundant", Verdict.STRENGTHENED, Severity.INFO),
    ("SameZone", "ZoneRedundant", Verdict.STRENGTHENED, Severity.INFO),
])
def test_high_availability_lowered_weakens(before: str, after: str, verdict: Verdict, severity: Severity) -> None:
    assert judge("high_availability", HA[before], HA[after]) == (verdict, severity)


def test_same_zone_is_a_gap_only_where_the_policy_wants_zone_redundancy() -> None:
    assert found("high_availability", HA["SameZone"]) == []
    assert found("high_availability", HA["SameZone"], with_policy(high_availability="ZoneRedundant")) == [Severity.LOW]
    assert found("high_availability", HA["Disabled"], with_policy(high_availability="Disabled")) == []


def test_mysql_57_of_the_official_examples_is_a_gap_and_an_upgrade_strengthens() -> None:
    old = state("mysql_version", body(MYSQL, "ServerGet.json"))
    assert old == "5.7"
    issues = detectors.by_setting("mysql_version").issues(old, PUBLIC)
    assert [i.severity for i in issues] == [Severity.MEDIUM] and "TLS 1.0 and 1.1" in issues[0].why
    assert found("mysql_version", "8.0.21") == []
    assert found("mysql_version", "5.7", with_policy(min_mysql_version="5.7")) == []
    assert judge("mysql_version", "5.7", "8.0.21") == (Verdict.STRENGTHENED, Severity.INFO)
    assert judge("mysql_version", "5.7", "8.0.21", with_policy(min_mysql_version="5.7")) == (
        Verdict.STRENGTHENED, Severity.INFO)
    assert judge("mysql_version", "8.0.21", "8.0.37") == (Verdict.CHANGED, Severity.INFO)


GEO = {"geo_redundant": "Enabled", "retention_days": 7}


def test_the_official_byok_example_carries_the_geo_backup_key_and_is_no_gap() -> None:
    request = fixture_json("arm", MYSQL, "ServerCreateWithBYOK.json")["parameters"]["parameters"]
    enc = state("data_encryption", request)
    assert enc["geo_backup_key_uri"] and enc["geo_backup_identity"]
    assert found("data_encryption", enc, Context(others={"backup": GEO})) == []


@pytest.mark.parametrize("missing", ["geo_backup_key_uri", "geo_backup_identity"])
def test_cmk_with_geo_backup_but_no_geo_key_is_a_gap(missing: str) -> None:
    request = fixture_json("arm", MYSQL, "ServerCreateWithBYOK.json")["parameters"]["parameters"]
    enc = {**state("data_encryption", request), missing: None}
    assert found("data_encryption", enc, Context(others={"backup": GEO})) == [Severity.MEDIUM]
    assert found("data_encryption", enc, Context(others={"backup": {**GEO, "geo_redundant": "Disabled"}})) == []
    complete = state("data_encryption", request)
    assert judge("data_encryption", complete, enc, Context(others={"backup": GEO})) == (Verdict.WEAKENED,
                                                                                        Severity.MEDIUM)


def test_a_missing_public_network_access_is_enabled_unless_vnet_integrated() -> None:
    public = copy.deepcopy(body(MYSQL, "ServerGet.json"))
    del public["properties"]["network"]["publicNetworkAccess"]
    assert state("public_network_access", public) == "Enabled"
    vnet = copy.deepcopy(body(MYSQL, "ServerGetWithVnet.json"))
    del vnet["properties"]["network"]["publicNetworkAccess"]
    assert state("public_network_access", vnet) == "Disabled"
    del public["properties"]["network"]
    assert state("public_network_access", public) == "Enabled"


# -- audit exclusions ----------------------------------------------------------------------------

def users(value: str) -> list[str]:
    return state("audit_log_exclude_users", {"properties": {"value": value}})


AUDITING = Context(others={"audit_log_enabled": "ON", "administrator_login": "cloudsa",
                           "entra_admin": [{"login": "dba-group", "sid": "s", "tenant_id": "t"}]},
                   server_id=SERVER_ID)


@pytest.mark.parametrize(("before", "after", "others", "verdict", "severity"), [
    ("", "app_reporting", {}, Verdict.WEAKENED, Severity.MEDIUM),
    ("", "azure_superuser", {}, Verdict.CHANGED, Severity.INFO),
    ("", "cloudsa", {}, Verdict.WEAKENED, Severity.HIGH),
    ("app_reporting", "app_reporting,dba-group@%", {}, Verdict.WEAKENED, Severity.HIGH),
    ("app_reporting,cloudsa", "app_reporting", {}, Verdict.STRENGTHENED, Severity.INFO),
    ("", "cloudsa", {"audit_log_enabled": "OFF"}, Verdict.CHANGED, Severity.INFO),
], ids=["app-user-excluded", "azure-own-login", "admin-excluded", "entra-admin-excluded", "admin-back", "audit-off"])
def test_excluding_users_from_the_audit_log_weakens(before: str, after: str, others: dict[str, Any],
                                                    verdict: Verdict, severity: Severity) -> None:
    ctx = Context(others={**AUDITING.others, **others}, server_id=SERVER_ID)
    assert judge("audit_log_exclude_users", users(before), users(after), ctx) == (verdict, severity)


@pytest.mark.parametrize(("before", "after", "verdict", "severity"), [
    ("", "app_orders", Verdict.WEAKENED, Severity.HIGH),
    ("", "app_orders,cloudsa,dba-group", Verdict.WEAKENED, Severity.MEDIUM),
    ("app_orders,cloudsa,dba-group", "cloudsa,dba-group", Verdict.WEAKENED, Severity.MEDIUM),
    ("cloudsa,dba-group", "cloudsa,dba-group,app_orders", Verdict.STRENGTHENED, Severity.INFO),
    ("app_orders", "", Verdict.STRENGTHENED, Severity.INFO),
])
def test_an_include_list_audits_only_whom_it_names(before: str, after: str, verdict: Verdict,
                                                   severity: Severity) -> None:
    j = detectors.by_setting("audit_log_include_users").judge(users(before), users(after), AUDITING)
    assert j is not None and (j.verdict, j.severity) == (verdict, severity)
    off = Context(others={**AUDITING.others, "audit_log_enabled": "OFF"}, server_id=SERVER_ID)
    j = detectors.by_setting("audit_log_include_users").judge(users(before), users(after), off)
    assert j is not None and j.verdict != Verdict.WEAKENED


def test_the_official_configuration_list_excludes_only_azures_own_login() -> None:
    listed = {c["name"]: c for c in body(MYSQL, "ConfigurationsListByServer.json")["value"]}
    for name in ("audit_log_exclude_users", "audit_log_include_users"):
        assert found(name, state(name, listed.get(name)), AUDITING) == []
