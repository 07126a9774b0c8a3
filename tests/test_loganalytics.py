"""Every history row to the Log Analytics table MySqlDrift_CL, through the real azure-monitor-ingestion
client over HTTPS to the local Logs Ingestion receiver (gzip, bearer token and all)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from drift.cli import main
from drift.config import ConfigError, Settings
from drift.engine import DriftEngine
from drift.index import EXPORT, INDEX
from drift.keys import encode_key
from drift.local.arm import ArmStandIn
from drift.local.credential import LocalCredential
from drift.local.receivers import LogsIngestionReceiver, TeamsReceiver
from drift.local.tls import LocalCA
from drift.local.writes import defender_plan
from drift.loganalytics import LogsUploader, row
from drift.model import HistoryRecord
from drift.ocsf import row_uid
from drift.review import accept
from drift.runtime import build_engine
from tests.conftest import CARELESS, GROUP, fixture_json
from tests.helpers import create_server, server_id, set_public_access
from tests.test_lean import cold

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = json.loads((ROOT / "infra" / "loganalytics-columns.json").read_text())


@pytest.fixture
def exporting(logs_settings: Settings) -> DriftEngine:
    return build_engine(logs_settings)


def later(engine: DriftEngine, seconds: float) -> None:
    """The export's clock, `seconds` from now (what a sweep a while later sees)."""
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    engine.exports.clock = lambda: at


def record_ids(rows: list[dict[str, Any]]) -> set[str]:
    return {r["RecordId"] for r in rows}


def pending_markers(engine: DriftEngine) -> list[Any]:
    return engine.store.index.exports()


def test_a_row_has_exactly_the_columns_of_the_table_with_their_types() -> None:
    record = HistoryRecord(
        server_id="/subscriptions/S1/resourceGroups/RG-A/providers/Microsoft.DBforMySQL/flexibleServers/db1",
        server="db1", setting="tls_version", before="TLSv1.2", after="TLSv1.0", verdict="weakened",
        severity="high", why="old TLS", event_id="e1", event_time="2026-01-01T00:00:00+00:00",
        detected_at="2026-01-01T00:00:02+00:00", operation="Microsoft.DBforMySQL/flexibleServers/write",
        changed_by="Casey", client_ip=None, correlation_id=None, alert_status="sent", alert_key="abc")
    values = row(record)
    assert list(values) == [c["name"] for c in COLUMNS], "the columns of infra/loganalytics-columns.json, in order"
    for column in COLUMNS:
        value = values[column["name"]]
        if column["type"] == "datetime":
            assert datetime.fromisoformat(value).tzinfo is not None, column["name"]
        elif column["type"] == "int":
            assert type(value) is int, column["name"]
        else:
            assert isinstance(value, str), f"{column['name']} is a string, never null"
    assert (values["SubscriptionId"], values["ResourceGroup"], values["SeverityId"]) == ("s1", "RG-A", 4)
    assert values["RecordId"] == row_uid(record) != row(dataclasses.replace(record, event_id="e2"))["RecordId"]
    assert [row(dataclasses.replace(record, severity=s))["SeverityId"]
            for s in ("info", "low", "medium", "high", "critical")] == [1, 2, 3, 4, 5]
    assert values["FindingId"] == ""
    record.finding_id = "0123456789abcdef"  # type: ignore[attr-defined]  # HistoryRecord.finding_id (findings)
    assert row(record)["FindingId"] == "0123456789abcdef"


def test_the_rows_of_an_event_batch_arrive_in_one_gzip_call_with_their_values(
        exporting: DriftEngine, sdk: Any, arm: ArmStandIn, logs: LogsIngestionReceiver, teams: TeamsReceiver,
        server_name: str) -> None:
    create_server(sdk, server_name)  # the posture check: one row per gap
    set_public_access(sdk, server_name, "Enabled")
    events = arm.drain_events()
    assert len(events) >= 2
    outcomes = exporting.handle_many(events)
    records = [r for o in outcomes for r in o.records]
    assert len(records) >= 3

    [call] = logs.calls()
    assert call["status"] == 204 and call["rows"] == len(records), "every row of the batch in one call"
    assert call["bytes"] < call["decoded_bytes"], "sent gzip-compressed"
    rows = logs.rows()
    assert [sorted(r) for r in rows] == [sorted(c["name"] for c in COLUMNS)] * len(records)
    assert len(record_ids(rows)) == len(rows), "one RecordId per history row"
    by_event = {(r["EventId"], r["Setting"]): r for r in rows}
    for record in records:
        got = by_event[(record.event_id, record.setting)]
        assert (got["Server"], got["Verdict"], got["Severity"], got["Before"], got["After"], got["Why"]) == (
            server_name, record.verdict, record.severity, record.before or "", record.after or "", record.why)
        assert got["ServerId"] == server_id(server_name).lower() and got["ResourceGroup"] == GROUP
        assert got["AlertId"] == (record.alert_key or "") and got["TimeGenerated"] == record.detected_at
        assert got["ChangedBy"] == record.changed_by and "Casey Admin" in got["ChangedBy"]
        assert got["AlertStatus"] == record.alert_status
    assert {r["AlertStatus"] for r in rows if r["AlertId"]} == {"sent"}, "exported after the alert went out"
    assert pending_markers(exporting) == [], "nothing left for the sweep"
    trips = exporting.store.round_trips
    assert exporting.sweep()["export_markers"] == 0
    assert exporting.store.round_trips - trips == 2, "the sweep: one query for alerts, one for exports"
    assert len(logs.calls()) == 1


def test_a_row_committed_but_not_uploaded_is_sent_by_the_sweep_and_deduplicates_by_record_id(
        exporting: DriftEngine, sdk: Any, arm: ArmStandIn, logs: LogsIngestionReceiver, server_name: str) -> None:
    create_server(sdk, server_name)
    [event] = arm.drain_events()
    outcome = exporting.handle(event)  # a process killed between its commit and its upload: no batch ran
    assert outcome.status == "recorded" and logs.calls() == []
    assert exporting.sweep()["export_pending"] == 0, "a fresh marker belongs to the invocation at work"
    assert logs.calls() == []

    later(exporting, 61)
    assert exporting.sweep()["exported"] == 1
    first = logs.rows()
    assert len(first) == len(outcome.records) and len(logs.calls()) == 1
    assert {r["EventId"] for r in first} == {event["id"]}

    # The upload went through but the process died before removing the marker: the rows come again, same ids.
    set_public_access(sdk, server_name, "Enabled")
    [change] = arm.drain_events()
    [weakened] = exporting.handle(change).records
    [pending] = pending_markers(exporting)
    history = exporting.store.export_rows(pending["pk"], pending["row_key"])
    exporting.exports.uploader.upload([row(r) for _, r in history])
    later(exporting, 61)
    exporting.sweep()
    rows = logs.rows()
    assert len(rows) == len(first) + 2 and len(record_ids(rows)) == len(first) + 1, "de-duplicable by RecordId"
    assert [r["AlertId"] for r in rows[-2:]] == [weakened.alert_key] * 2
    assert pending_markers(exporting) == []
    assert exporting.sweep()["export_markers"] == 0 and len(logs.calls()) == 3


def test_an_outage_does_not_fail_the_event_and_the_sweep_sends_the_rows(
        exporting: DriftEngine, sdk: Any, arm: ArmStandIn, logs: LogsIngestionReceiver, server_name: str) -> None:
    create_server(sdk, server_name)
    events = arm.drain_events()
    logs.add_fault(500, times=7)  # more failures than the bounded attempts of a refused upload
    [outcome] = exporting.handle_many(events)  # does not raise: the history is committed
    assert outcome.status == "recorded" and logs.rows() == []
    for _ in range(6):
        swept = exporting.sweep()
        assert swept["export_retrying"] == 1 and swept["export_parked"] == 0, "a 500 is never parked"
    assert exporting.sweep()["exported"] == 1
    assert len(logs.rows()) == len(outcome.records) and len(logs.calls()) == 8


def test_a_429_is_sent_again_after_its_retry_after(
        exporting: DriftEngine, sdk: Any, arm: ArmStandIn, logs: LogsIngestionReceiver, server_name: str) -> None:
    create_server(sdk, server_name)
    logs.add_fault(429, retry_after=30)
    [outcome] = exporting.handle_many(arm.drain_events())
    assert logs.rows() == [] and len(logs.calls()) == 1, "the client's own retries are off: one call"
    assert exporting.sweep()["export_pending"] == 0 and len(logs.calls()) == 1, "not before its Retry-After"
    later(exporting, 31)
    assert exporting.sweep()["exported"] == 1
    assert len(logs.rows()) == len(outcome.records)


def test_a_refused_upload_is_not_retried_for_ever(
        exporting: DriftEngine, sdk: Any, arm: ArmStandIn, logs: LogsIngestionReceiver, server_name: str,
        caplog: pytest.LogCaptureFixture, endpoints_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    create_server(sdk, server_name)
    logs.add_fault(400, times=100)
    exporting.handle_many(arm.drain_events())
    assert exporting.sweep()["export_pending"] == 0, "a refused upload waits before it is tried again"
    for hour in range(1, exporting.exports.max_attempts + 3):
        later(exporting, 3600 * hour)
        with caplog.at_level(logging.WARNING, logger="drift.exports"):
            caplog.clear()
            swept = exporting.sweep()
        said = [r.getMessage() for r in caplog.records if r.name == "drift.exports"]
        assert len(said) == 1, f"one line per sweep, with the count: {said}"
    assert len(logs.calls()) == exporting.exports.max_attempts, "bounded attempts, then parked"
    assert swept["export_parked"] == 1 and "1 export(s) parked" in said[0] and "400" in said[0]
    [marker] = pending_markers(exporting)
    assert marker["parked"] is True and marker["last_status"] == 400

    logs.clear()  # the rule is fixed; the on-call gives the parked exports back
    assert main(["export", "retry", "--endpoints-file", str(endpoints_file)]) == 0
    assert capsys.readouterr().out.startswith("1 parked export(s) given back to the sweep")
    [marker] = pending_markers(exporting)
    assert not marker["parked"] and marker["attempts"] == 0
    assert exporting.sweep()["exported"] == 1 and logs.rows() != []


def test_a_call_over_one_mebibyte_is_split(ca: LocalCA, logs: LogsIngestionReceiver) -> None:
    """The client sizes a chunk by its rows' JSON without the array's separators: a chunk at the limit
    is a little over it on the wire, and Azure answers 413."""
    uploader = LogsUploader(logs.endpoint, logs.rule_id, LocalCredential(), connection_verify=str(ca.ca_bundle))
    count, limit = 100, 1024 * 1024
    size = (limit - 50) // count
    empty = len(json.dumps({"RecordId": "0000", "Why": ""}))
    rows = [{"RecordId": f"{i:04d}", "Why": "x" * (size - empty)} for i in range(count)]
    assert sum(len(json.dumps(r)) for r in rows) <= limit < len(json.dumps(rows))
    result = uploader.upload(rows)
    assert result.refused == [] and [c["status"] for c in logs.calls()] == [413, 204, 204]
    assert [r["RecordId"] for r in logs.rows()] == [r["RecordId"] for r in rows]


def test_export_is_off_when_the_endpoint_is_unset(
        engine: DriftEngine, sdk: Any, arm: ArmStandIn, logs: LogsIngestionReceiver, server_name: str) -> None:
    create_server(sdk, server_name)
    [outcome] = engine.handle_many(arm.drain_events())
    assert outcome.status == "recorded" and not engine.exports.enabled
    table = engine.store._table
    assert list(table.query_entities("RowKey ge @lo and RowKey lt @hi",
                                     parameters={"lo": "export|", "hi": "export}"})) == [], "no marker anywhere"
    assert list(table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                                     parameters={"pk": INDEX, "lo": EXPORT, "hi": "export}"})) == []
    assert "export_markers" not in engine.sweep() and logs.calls() == []


def test_subscription_level_rows_are_exported_too(
        logs_settings: Settings, arm: ArmStandIn, ca: LocalCA, logs: LogsIngestionReceiver) -> None:
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    subscription = str(uuid.uuid4())
    own = MySQLManagementClient(LocalCredential(CARELESS), subscription, base_url=arm.url,
                                connection_verify=str(ca.ca_bundle))
    engine = build_engine(logs_settings)
    defender_plan(own, "Standard")
    engine.handle_many(arm.drain_events())
    defender_plan(own, "Free")
    [outcome] = engine.handle_many([e for e in arm.drain_events() if "Microsoft.Security" in e["subject"]])
    [record] = outcome.records
    [got] = logs.rows()
    assert (got["Setting"], got["Verdict"], got["Severity"], got["SeverityId"]) == ("defender_plan", "weakened",
                                                                                    "high", 4)
    assert (got["SubscriptionId"], got["ResourceGroup"]) == (subscription, "")
    assert got["AlertId"] == record.alert_key and got["AlertStatus"] == "sent"


def test_accepting_and_closing_a_server_are_exported(
        exporting: DriftEngine, sdk: Any, arm: ArmStandIn, logs: LogsIngestionReceiver, server_name: str) -> None:
    create_server(sdk, server_name)
    exporting.handle_many(arm.drain_events())
    set_public_access(sdk, server_name, "Enabled")
    [weakened] = exporting.handle_many(arm.drain_events())[0].records
    logs.clear()
    accepted = accept(exporting, server_name, alert=weakened.alert_key, reason="CHG-7", by="Riley")
    [row_accepted] = logs.rows()
    assert (row_accepted["Operation"], row_accepted["ChangedBy"]) == ("accept", "Riley")
    assert row_accepted["EventId"] == accepted.records[0].event_id

    logs.clear()
    sdk.servers.begin_delete(GROUP, server_name).result()
    [deleted] = exporting.handle_many(arm.drain_events())
    assert deleted.status == "recorded"
    [row_closed] = logs.rows()
    assert (row_closed["Setting"], row_closed["After"]) == ("server", "deleted")
    assert pending_markers(exporting) == []


def test_an_ignored_event_does_not_import_the_ingestion_client(logs_settings: Settings) -> None:
    report = cold(logs_settings, [fixture_json("eventgrid", "event-grid-schema", "resource_write_success.json")])
    assert report["statuses"] == ["ignored"] and report["imported"] == []


def test_the_receiver_answers_as_the_service(ca: LocalCA, logs: LogsIngestionReceiver) -> None:
    def post(rule: str = logs.rule_id, stream: str = "Custom-MySqlDrift_CL", body: bytes = b"[]",
             token: str | None = "monitor", version: str = "2023-01-01", gz: bool = True) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if token:
            scope = "https://monitor.azure.com/.default" if token == "monitor" else token
            headers["Authorization"] = "Bearer " + LocalCredential().get_token(scope).token
        if gz:
            headers["Content-Encoding"] = "gzip"
            body = gzip.compress(body)
        return requests.post(f"{logs.url}/dataCollectionRules/{rule}/streams/{stream}?api-version={version}",
                             data=body, headers=headers, verify=str(ca.ca_bundle), timeout=10)

    assert post(body=b'[{"RecordId": "a"}]').status_code == 204
    assert post(body=b'[{"RecordId": "b"}]', gz=False).status_code == 204
    assert [r["RecordId"] for r in logs.rows()] == ["a", "b"]
    assert post(token=None).status_code == 401
    assert post(token="https://management.azure.com/.default").status_code == 401, "the audience is monitor's"
    assert post(rule="dcr-unknown").json()["error"]["code"] == "NotFound"
    assert post(stream="Custom-Other_CL").status_code == 404
    assert post(body=b"{not json").status_code == 400
    assert post(body=b'{"RecordId": "c"}').status_code == 400, "an array"
    assert post(version="2021-01-01").status_code == 400
    big = json.dumps([{"Why": uuid.uuid4().hex * 40} for _ in range(900)]).encode()
    assert post(body=big).json()["error"]["code"] == "ContentLengthLimitExceeded"
    assert len(logs.rows()) == 2


def test_the_settings_and_the_endpoints_file(tmp_path: Path) -> None:
    env = {"DRIFT_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
           "DRIFT_LOGS_ENDPOINT": "https://dce-1.westeurope-1.ingest.monitor.azure.com", "DRIFT_LOGS_RULE_ID": "dcr-1"}
    settings = Settings.from_env(env)
    assert (settings.logs_endpoint, settings.logs_rule_id, settings.logs_stream) == (
        env["DRIFT_LOGS_ENDPOINT"], "dcr-1", "Custom-MySqlDrift_CL")
    settings.validate()
    with pytest.raises(ConfigError, match="DRIFT_LOGS_RULE_ID"):
        Settings.from_env({**env, "DRIFT_LOGS_RULE_ID": ""}).validate()
    with pytest.raises(ConfigError, match="https"):
        Settings.from_env({**env, "DRIFT_LOGS_ENDPOINT": "http://dce.example"}).validate()
    assert Settings.from_env({}).logs_endpoint is None
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps({"arm_endpoint": "https://127.0.0.1:1", "ca_bundle": "ca.pem",
                                "storage_connection_string": "x", "logs_ingestion_endpoint": "https://127.0.0.1:2",
                                "logs_rule_id": "dcr-2"}))
    local = Settings.from_endpoints_file(path, env={})
    assert (local.logs_endpoint, local.logs_rule_id) == ("https://127.0.0.1:2", "dcr-2")


def test_the_marker_is_in_the_commit_and_the_index(
        exporting: DriftEngine, sdk: Any, arm: ArmStandIn, server_name: str) -> None:
    create_server(sdk, server_name)
    [event] = arm.drain_events()
    exporting.handle(event)
    pk = encode_key(server_id(server_name))
    [marker] = exporting.store._table.query_entities(
        "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi", parameters={"pk": pk, "lo": "export|",
                                                                                "hi": "export}"})
    [copy] = pending_markers(exporting)
    assert (copy["pk"], copy["row_key"]) == (pk, marker["RowKey"])
    history = exporting.store.export_rows(pk, marker["RowKey"])
    assert history is not None and {r.event_id for _, r in history} == {event["id"]}


def test_a_scan_exports_each_server_it_checks_in_one_upload(exporting: DriftEngine, arm: ArmStandIn,
                                                            logs: LogsIngestionReceiver) -> None:
    from drift.reconcile import Reconciler

    subscription = str(uuid.uuid4())
    names = [f"fleet-{n}" for n in range(3)]
    for name in names:
        arm.seed_server(subscription, "rg-fleet", name, properties={"network": {"publicNetworkAccess": "Disabled"}})
    [report] = Reconciler(exporting, workers=1).scan([subscription])
    rows, calls = logs.rows(), logs.calls()
    assert report.recorded == len(rows) > len(names)
    assert len(calls) == len(names) + 1, "one upload per server checked, one for the subscription's plan"
    start, servers = 0, []
    for call in calls:
        assert call["status"] == 204
        servers.append({r["Server"] for r in rows[start:start + call["rows"]]})
        start += call["rows"]
    assert servers == [{n} for n in names] + [{f"subscription {subscription}"}]
    assert {r["Operation"] for r in rows} == {"reconcile"} and pending_markers(exporting) == []

    logs.clear()
    arm._servers.pop(next(k for k in arm._servers if k[2] == names[0]))  # deleted while events were off
    Reconciler(exporting).scan([subscription])
    assert [(r["Server"], r["Setting"]) for r in logs.rows() if r["After"] == "deleted"] == [(names[0], "server")]
