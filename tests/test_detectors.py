"""Detectors judge plain data: the official REST examples verbatim, and hand-written edge cases."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import detectors
from drift.model import Severity, Verdict
from tests.conftest import fixture_json

MYSQL = "mysql-flexible-2024-12-30"
MONITOR = "monitor-diagnostic-settings-2021-05-01-preview"


def body(folder: str, name: str, status: str = "200") -> Any:
    return fixture_json("arm", folder, name)["responses"][status]["body"]


def state(setting: str, data: Any) -> Any:
    return detectors.by_setting(setting).state(data)


def judge(setting: str, before: Any, after: Any) -> tuple[Verdict, Severity]:
    j = detectors.by_setting(setting).judge(before, after)
    return j.verdict, j.severity


def rules(*ranges: tuple[str, str, str]) -> list[dict[str, str]]:
    return state("firewall_rules", [{"name": n, "properties": {"startIpAddress": s, "endIpAddress": e}}
                                    for n, s, e in ranges])


# -- the official examples -----------------------------------------------------------------------

def test_the_rule_in_the_official_create_example_opens_the_whole_internet() -> None:
    created = state("firewall_rules", [body(MYSQL, "FirewallRuleCreate.json")])
    assert judge("firewall_rules", [], created) == (Verdict.WEAKENED, Severity.CRITICAL)
    finding = detectors.by_setting("firewall_rules").first_seen(created)
    assert finding is not None and finding.severity == Severity.CRITICAL


def test_the_official_rule_list_is_read_into_plain_rules() -> None:
    listed = state("firewall_rules", body(MYSQL, "FirewallRulesListByServer.json")["value"])
    assert [r["name"] for r in listed] == sorted(r["name"] for r in listed)
    assert all(set(r) == {"name", "start", "end"} for r in listed)


@pytest.mark.parametrize(("example", "expected"), [
    ("ServerGet.json", "Enabled"), ("ServerGetWithVnet.json", "Disabled"), ("ServerCreate.json", None),
])
def test_public_network_access_is_read_from_the_official_server_examples(example: str, expected: str | None) -> None:
    server = body(MYSQL, example) if example != "ServerCreate.json" else body(MYSQL, example, "200")
    value = state("public_network_access", server)
    if expected is not None:
        assert value == expected
    issues = detectors.by_setting("public_network_access").issues(value)
    assert bool(issues) == (value == "Enabled")


def test_public_access_turned_on_weakens_and_turned_off_strengthens() -> None:
    assert judge("public_network_access", "Disabled", "Enabled") == (Verdict.WEAKENED, Severity.HIGH)
    assert judge("public_network_access", "Enabled", "Disabled")[0] == Verdict.STRENGTHENED


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
        assert detectors.by_setting("diagnostic_settings").issues(read) == []
        assert judge("diagnostic_settings", read, []) == (Verdict.WEAKENED, Severity.HIGH)


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
    ([], [("backwards", "10.0.0.9", "10.0.0.1")], Verdict.CHANGED, Severity.INFO),
], ids=["internet", "azure-services", "slash-8", "slash-24", "slash-23", "one-ip", "removed", "narrowed",
        "renamed", "split", "inside-existing", "half-to-all", "azure-off", "top-edge", "backwards-range"])
def test_firewall_changes_are_judged_by_the_addresses_they_let_in(
    before: list[tuple[str, str, str]], after: list[tuple[str, str, str]], verdict: Verdict, severity: Severity,
) -> None:
    assert judge("firewall_rules", rules(*before), rules(*after)) == (verdict, severity)


def test_a_weakening_names_the_rules_that_opened_it() -> None:
    j = detectors.by_setting("firewall_rules").judge([], rules(("AllowAll", "0.0.0.0", "255.255.255.255")))
    assert "whole internet" in j.why and "AllowAll (0.0.0.0-255.255.255.255)" in j.why


def test_an_invalid_rule_is_a_finding_not_a_crash() -> None:
    found = detectors.by_setting("firewall_rules").issues(rules(("bad", "not-an-ip", "10.0.0.1")))
    assert [i.severity for i in found] == [Severity.MEDIUM]


# -- TLS -----------------------------------------------------------------------------------------

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
    ("aad_auth_only", "ON", "OFF", Verdict.WEAKENED, Severity.HIGH),
    ("aad_auth_only", "OFF", "ON", Verdict.STRENGTHENED, Severity.INFO),
    ("aad_auth_only", "ON", None, Verdict.WEAKENED, Severity.HIGH),
])
def test_parameters_are_judged_on_their_values(setting: str, before: str | None, after: str | None,
                                               verdict: Verdict, severity: Severity) -> None:
    assert judge(setting, before, after) == (verdict, severity)


def test_parameter_values_are_compared_whatever_their_case() -> None:
    config = copy.deepcopy(body(MYSQL, "ConfigurationGet.json"))
    config["properties"]["value"] = " tlsv1.2,TLSv1.3 "
    assert state("tls_version", config) == "TLSV1.2,TLSV1.3"
    assert judge("tls_version", "TLSV1.2,TLSV1.3", state("tls_version", config))[0] == Verdict.CHANGED


def test_an_unknown_tls_value_is_reported_as_unknown() -> None:
    j = detectors.by_setting("tls_version").judge("TLSV1.3", "SSLV3")
    assert "unknown value 'SSLV3'" in j.why


# -- diagnostic settings -------------------------------------------------------------------------

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


# -- the registry --------------------------------------------------------------------------------

def test_every_detector_is_pure_and_registered_once_under_the_read_it_watches() -> None:
    settings = [d.setting for d in detectors.all_detectors()]
    assert len(settings) == len(set(settings))
    assert {d.setting for d in detectors.watching("server")} == {"public_network_access"}
    assert detectors.tracked_parameters() == ["aad_auth_only", "require_secure_transport", "tls_version"]
    for detector in detectors.all_detectors():
        assert detector.remediation and detector.title
        empty = detector.state(None)
        detector.issues(empty)  # every detector copes with an absent setting
        assert detector.judge(empty, empty).verdict == Verdict.CHANGED
