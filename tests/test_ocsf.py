"""History rows as OCSF 1.8.0 Compliance Findings, checked against the official class schema, offline.

The schema (`tests/specs/ocsf/`, provenance in `tests/specs/SOURCES.md`) is the JSON Schema of the class with
the `cloud` and `datetime` profiles: `additionalProperties: false` at every level, so an attribute the class
does not have fails as surely as a wrong type or an out-of-enum id.
"""

from __future__ import annotations

import copy
import json
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import detectors
from drift import ocsf
from drift.armid import mysql_server_ref
from drift.cli import main
from drift.engine import DriftEngine, remediation
from drift.findings import Finding, FindingStore
from drift.local.arm import ArmStandIn
from drift.local.credential import LocalCredential
from drift.local.tls import LocalCA
from drift.local.writes import defender_plan
from drift.model import HistoryRecord, alert_key
from tests.conftest import CARELESS, SUBSCRIPTION
from tests.fixturefiles import OWN_SPECS
from tests.helpers import (
    add_rule,
    create_compliant_server,
    create_server,
    delete_rule,
    diagnostic_setting,
    server_id,
    set_parameter,
    set_public_access,
)
from tests.test_notifiers import HOSTILE, record

SCHEMA = OWN_SPECS / "ocsf" / "compliance_finding-1.8.0.schema.json"
ACTIVITY = {"weakened": "Create", "strengthened": "Close", "changed": "Update"}


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(validator: Draft202012Validator, event: dict[str, Any]) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:200]}"
                  for e in validator.iter_errors(event))


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


# -- every row the engine writes -----------------------------------------------------------------

def test_every_row_the_engine_writes_on_the_local_stack_is_a_valid_compliance_finding(
    sdk: Any, arm: ArmStandIn, ca: LocalCA, engine: DriftEngine, server_name: str, validator: Draft202012Validator,
) -> None:
    rows: list[HistoryRecord] = []

    def deliver() -> None:
        rows.extend(r for outcome in engine.handle_many(arm.drain_events()) for r in outcome.records)

    create_server(sdk, server_name, public_access="Enabled")  # a new server's posture: every gap
    deliver()
    watched = f"{server_name}-b"
    create_compliant_server(sdk, watched)
    add_rule(sdk, watched, "office", "198.51.100.20", "198.51.100.20")
    deliver()
    for change in (lambda: add_rule(sdk, watched, "AllowAll", "0.0.0.0", "255.255.255.255"),
                   lambda: set_parameter(sdk, watched, "tls_version", "TLSv1.2,TLSv1.3"),
                   lambda: set_parameter(sdk, watched, "require_secure_transport", "OFF"),
                   lambda: set_parameter(sdk, watched, "aad_auth_only", "OFF"),
                   lambda: diagnostic_setting(sdk, watched, "audit", None),
                   lambda: set_parameter(sdk, watched, "aad_auth_only", "ON"),
                   lambda: delete_rule(sdk, watched, "office")):  # AllowAll still admits it: changed
        change()
        deliver()
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    own = MySQLManagementClient(LocalCredential(CARELESS), str(uuid.uuid4()), base_url=arm.url,
                                connection_verify=str(ca.ca_bundle))
    defender_plan(own, "Standard")
    deliver()
    defender_plan(own, "Free")
    deliver()

    assert {r.setting for r in rows} >= {
        "public_network_access", "aad_auth_only", "entra_admin", "tls_version", "audit_log_enabled",
        "diagnostic_settings", "data_encryption", "backup", "defender", "high_availability", "firewall_rules",
        "require_secure_transport", "defender_plan"}
    assert {r.verdict for r in rows} == {"weakened", "strengthened", "changed"}
    for row in rows:
        event = ocsf.finding_event(row)
        assert problems(validator, event) == [], (row.setting, row.verdict)
        assert json.loads(json.dumps(event)) == event
        assert event["severity_id"] == ocsf.severity_id(row.severity) > 0
        assert event["activity_name"] == ACTIVITY[row.verdict]
    plan = next(r for r in rows if r.setting == "defender_plan" and r.verdict == "weakened")
    event = ocsf.finding_event(plan)
    assert event["resources"][0]["type"] == "Microsoft.Security/pricings"
    assert event["cloud"]["account"]["uid"] == own._config.subscription_id
    assert event["compliance"]["control"] == "LT-1"
    firewall = next(r for r in rows if r.setting == "firewall_rules" and r.verdict == "weakened")
    event = ocsf.finding_event(firewall)
    assert event["evidences"][0]["actor"]["user"]["name"] == "Casey Admin <casey@contoso.example>"
    assert event["evidences"][0]["src_endpoint"]["ip"] == "203.0.113.7"
    assert event["resources"][0] == {"uid": server_id(watched), "name": watched,
                                     "type": "Microsoft.DBforMySQL/flexibleServers", "group": {"name": "rg-tests"}}


@pytest.mark.parametrize("detector", detectors.all_detectors(), ids=lambda d: d.setting)
def test_every_detector_s_row_is_valid_and_carries_its_control_and_remediation(
    detector: Any, validator: Draft202012Validator,
) -> None:
    if detector.scope == "subscription":
        resource = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Security/pricings/OpenSourceRelationalDatabases"
        undo = detector.command.replace("{subscription}", SUBSCRIPTION)
    else:
        resource = server_id("db1")
        ref = mysql_server_ref(resource)
        assert ref is not None
        undo = remediation(detector.command, ref, ("AllowAll",))
    row = record(server_id=resource, setting=detector.setting, control=detector.control, remediation=undo,
                 severity="medium")
    event = ocsf.finding_event(row)
    assert problems(validator, event) == []
    assert event["finding_info"]["title"] == f"{detector.title} weakened on db1"
    assert undo in event["remediation"]["desc"] and detector.remediation in event["remediation"]["desc"]
    assert event["remediation"]["references"] == [detector.doc_url]
    if detector.control in ("", "-"):
        assert "control" not in event["compliance"]
    else:
        assert event["compliance"]["control"] == detector.control
        assert event["compliance"]["standards"][0] == "Microsoft cloud security benchmark v1"
        assert f"MCSB {detector.control}" in event["compliance"]["requirements"]
    if detector.cis:
        assert f"CIS {detector.cis}" in event["compliance"]["requirements"]


# -- what each attribute carries -----------------------------------------------------------------

def test_a_weakening_maps_to_the_documented_attributes(validator: Draft202012Validator) -> None:
    row = record(alert_key="a1b2c3d4e5f60718", before="office (198.51.100.20-198.51.100.20)",
                 after="AllowAll (0.0.0.0-255.255.255.255)")
    event = ocsf.finding_event(row)
    assert problems(validator, event) == []
    assert (event["class_uid"], event["class_name"], event["category_uid"], event["type_uid"], event["type_name"]) == (
        2003, "Compliance Finding", 2, 200301, "Compliance Finding: Create")
    assert (event["activity_id"], event["status_id"], event["status"]) == (1, 1, "New")
    assert (event["severity_id"], event["severity"]) == (5, "Critical")
    assert (event["time"], event["time_dt"]) == (1795168801000, "2026-11-20T10:00:01.000Z")
    meta = event["metadata"]
    assert (meta["version"], meta["profiles"], meta["product"]["name"]) == ("1.8.0", ["cloud", "datetime"],
                                                                             "mysql-drift")
    assert (meta["uid"], meta["correlation_uid"], meta["original_event_uid"], meta["event_code"]) == (
        ocsf.row_uid(row), "c1", "e1", "firewall_rules")
    assert event["cloud"] == {"provider": "Azure", "account": {"uid": "s", "type_id": 13, "type": "Azure Subscription"}}
    info = event["finding_info"]
    assert info["uid"] == alert_key(f"{row.server_id}|firewall_rules|e1"), "the finding id drift.findings gives it"
    assert info["uid_alt"] == "a1b2c3d4e5f60718" and info["desc"] == row.why
    assert (info["first_seen_time_dt"], info["last_seen_time_dt"]) == ("2026-11-20T10:00:00.000Z",
                                                                       "2026-11-20T10:00:01.000Z")
    [evidence] = event["evidences"]
    assert evidence["actor"] == {"user": {"name": "Casey Admin"}} and evidence["src_endpoint"] == {"ip": "203.0.113.7"}
    assert evidence["api"] == {"operation": "Microsoft.DBforMySQL/flexibleServers/firewallRules/write",
                               "service": {"name": "Azure Resource Manager"}, "request": {"uid": "c1"}}
    assert (evidence["data"]["before"], evidence["data"]["after"]) == (row.before, row.after)
    compliance = event["compliance"]
    assert (compliance["control"], compliance["status_id"], compliance["status"]) == ("NS-2", 3, "Fail")
    assert compliance["control_parameters"] == [{"name": "baseline", "value": row.before},
                                                {"name": "observed", "value": row.after}]
    assert event["remediation"]["desc"].endswith("Undo: az mysql flexible-server firewall-rule delete")
    assert event["unmapped"]["undo_command"] == "az mysql flexible-server firewall-rule delete"


@pytest.mark.parametrize(("severity", "expected"), [("info", (1, "Informational")), ("low", (2, "Low")),
                                                    ("medium", (3, "Medium")), ("high", (4, "High")),
                                                    ("critical", (5, "Critical")), ("bogus", (0, "Unknown"))])
def test_severity_maps_one_to_five(severity: str, expected: tuple[int, str], validator: Draft202012Validator) -> None:
    event = ocsf.finding_event(record(severity=severity))
    assert (ocsf.severity_id(severity), event["severity"]) == expected
    assert event["severity_id"] == expected[0] and problems(validator, event) == []


def test_the_row_id_is_stable_and_tells_rows_apart() -> None:
    assert ocsf.finding_event(record())["metadata"]["uid"] == ocsf.finding_event(record())["metadata"]["uid"]
    others = {ocsf.row_uid(record(event_id="e2")), ocsf.row_uid(record(setting="tls_version")), ocsf.row_uid(record())}
    assert len(others) == 3


@pytest.mark.parametrize(("overrides", "activity", "status", "compliance"), [
    ({"verdict": "strengthened", "severity": "info"}, (3, "Close"), (4, "Resolved"), (1, "Pass")),
    ({"verdict": "changed", "severity": "info"}, (2, "Update"), (99, "Other"), (1, "Pass")),
    ({"exemption": "change CHG-1042 until 2026-12-01"}, (1, "Create"), (3, "Suppressed"), (3, "Fail")),
    ({"acknowledged": "Sam Reviewer at 2026-11-20T11:00:00+00:00: expected"}, (1, "Create"), (2, "In Progress"),
     (3, "Fail")),
], ids=["restored", "neutral", "exempted", "acknowledged"])
def test_a_row_without_its_finding_takes_activity_and_status_from_verdict_and_review(
    overrides: dict[str, Any], activity: tuple[int, str], status: tuple[int, str], compliance: tuple[int, str],
    validator: Draft202012Validator,
) -> None:
    event = ocsf.finding_event(record(**overrides))
    assert problems(validator, event) == []
    assert (event["activity_id"], event["activity_name"]) == activity
    assert (event["status_id"], event["status"]) == status
    assert (event["compliance"]["status_id"], event["compliance"]["status"]) == compliance
    assert event["type_uid"] == 200300 + activity[0]
    weakened = "verdict" not in overrides
    assert ("remediation" in event, "undo_command" in event["unmapped"]) == (weakened, weakened), "nothing to undo"


def a_finding(status: str) -> Finding:
    return Finding(id="f00dfeedf00dfeed", server_id=record().server_id, server="db1", setting="firewall_rules",
                   status=status, severity="critical", why="w", opened_at="2026-11-20T09:00:00+00:00",
                   updated_at="2026-11-20T10:00:01+00:00", before=None, after="x", changed_by="Casey Admin",
                   client_ip=None, event_id="e1", correlation_id=None,
                   alert_keys=["0123456789abcdef", "a1b2c3d4e5f60718"], control="NS-2")


@pytest.mark.parametrize(("status", "expected"), [("open", (1, "New")), ("acknowledged", (2, "In Progress")),
                                                  ("accepted", (3, "Suppressed")), ("resolved", (4, "Resolved"))])
def test_a_finding_s_lifecycle_sets_the_status_and_its_id_the_uid(status: str, expected: tuple[int, str],
                                                                   validator: Draft202012Validator) -> None:
    finding = a_finding(status)
    assert finding.open == (status in ("open", "acknowledged"))
    event = ocsf.finding_event(record(alert_key="a1b2c3d4e5f60718"), finding=finding)
    assert problems(validator, event) == []
    assert (event["status_id"], event["status"]) == expected
    assert event["finding_info"]["uid"] == "f00dfeedf00dfeed"
    assert event["finding_info"]["uid_alt"] == "0123456789abcdef", "the alert that opened it"
    assert event["finding_info"]["first_seen_time_dt"] == "2026-11-20T09:00:00.000Z"
    assert (event["activity_id"], event["activity_name"]) == (2, "Update"), "a later weakening of an open finding"
    first = ocsf.finding_event(record(alert_key="0123456789abcdef"), finding=finding)
    assert first["activity_id"] == 1


def test_the_rows_of_one_finding_on_the_local_stack_share_its_uid_from_create_to_close(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, server_name: str, validator: Draft202012Validator,
) -> None:
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "require_secure_transport", "OFF")
    [opened] = [r for o in engine.handle_many(arm.drain_events()) for r in o.records]
    set_parameter(sdk, server_name, "require_secure_transport", "ON")
    [closed] = [r for o in engine.handle_many(arm.drain_events()) for r in o.records]
    finding = FindingStore(engine.store).finding(opened.finding_id or "")
    assert finding is not None and finding.status == "resolved" and closed.finding_id == finding.id

    create, close = ocsf.finding_event(opened), ocsf.finding_event(closed)
    assert create["finding_info"]["uid"] == close["finding_info"]["uid"] == finding.id
    assert (create["activity_name"], create["status"], close["activity_name"], close["status"]) == (
        "Create", "New", "Close", "Resolved")
    assert create["metadata"]["uid"] != close["metadata"]["uid"]
    now = ocsf.finding_event(opened, finding=finding)
    assert (now["activity_name"], now["status"]) == ("Create", "Resolved"), "the finding's lifecycle as it is now"
    assert now["finding_info"]["uid_alt"] == finding.alert_keys[0]
    assert all(problems(validator, e) == [] for e in (create, close, now))


# -- hostile input -------------------------------------------------------------------------------

def test_hostile_strings_survive_as_text_without_invisible_characters(validator: Draft202012Validator) -> None:
    hostile = " | ".join(HOSTILE) + " \x00\x1b[31m \u200b\u2066\ufeff\u061c"
    row = record(server=hostile, changed_by=f"Casey {hostile}", why=hostile, after=hostile + "x" * 70_000,
                 before=hostile, operation=hostile, correlation_id=hostile, remediation=hostile, control=hostile,
                 alert_key=hostile, exemption=hostile)
    event = ocsf.finding_event(row)
    assert problems(validator, event) == []
    text = json.dumps(event)
    assert json.loads(text) == event, "JSON round trip"
    for value in strings(event):
        assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value), repr(value[:80])
    assert "[Approve access](https://evil.example/phish)" in event["message"], "kept as text: JSON is not markup"
    assert "<script>" in event["finding_info"]["desc"] and "evil override" in event["finding_info"]["desc"]
    assert event["evidences"][0]["data"]["after"].endswith("more characters]"), "cut with a marker"
    assert len(text) < 100_000


# -- the schema can fail -------------------------------------------------------------------------

@pytest.mark.parametrize(("break_it", "where"), [
    (lambda e: e.update(class_uid=2004), "class_uid"),
    (lambda e: e.update(severity_id=7), "severity_id"),
    (lambda e: e.pop("finding_info"), "(top)"),
    (lambda e: e["metadata"].pop("version"), "metadata"),
    (lambda e: e.update(actor={"user": {"name": "x"}}), "(top)"),  # only with the host profile
    (lambda e: e["compliance"].update(status_id=4), "compliance/status_id"),
    (lambda e: e["evidences"][0]["src_endpoint"].update(ip="not an address"), "evidences/0/src_endpoint/ip"),
], ids=["detection-class-uid", "severity-out-of-enum", "no-finding-info", "no-schema-version", "actor-without-profile",
        "compliance-status-out-of-enum", "ip-not-an-ip"])
def test_the_schema_refuses_a_broken_event(break_it: Any, where: str, validator: Draft202012Validator) -> None:
    event = copy.deepcopy(ocsf.finding_event(record()))
    assert problems(validator, event) == []
    break_it(event)
    found = problems(validator, event)
    assert found and any(p.startswith(where + ":") for p in found), found


# -- the CLI -------------------------------------------------------------------------------------

def test_history_format_ocsf_prints_one_valid_event_per_row(
    endpoints_file: Path, sdk: Any, arm: ArmStandIn, server_name: str, capsys: pytest.CaptureFixture[str],
    validator: Draft202012Validator,
) -> None:
    ep = ["--endpoints-file", str(endpoints_file)]
    events_file = endpoints_file.parent / "e.json"
    for write in (lambda: create_compliant_server(sdk, server_name),
                  lambda: set_public_access(sdk, server_name, "Enabled"),
                  lambda: set_parameter(sdk, server_name, "aad_auth_only", "OFF")):
        write()
        events_file.write_text(json.dumps(arm.drain_events()))
        main(["replay", str(events_file), *ep])
    capsys.readouterr()
    assert main(["history", "--format", "json", "--server", server_name, *ep]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert main(["history", "--format", "ocsf", "--server", server_name, *ep]) == 0
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line) for line in lines]
    assert len(events) == len(rows) == 2
    assert [e["metadata"]["uid"] for e in events] == [ocsf.row_uid(HistoryRecord.from_dict(r)) for r in rows]
    assert [e["compliance"].get("control") for e in events] == ["IM-1", "NS-2"]
    assert all(problems(validator, e) == [] for e in events)
    main(["history", "--format", "ocsf", "--since", "2999-01-01", *ep])
    assert capsys.readouterr().out == "", "no rows, no lines"
