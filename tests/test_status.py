"""`mysql-drift status`: the fleet summary first (servers by worst open severity), then per server its open
findings with age, who and from where; `--server` shows every watched setting's current state. Table,
JSON and CSV say the same thing; what it reads does not grow with the fleet."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from drift.cli import main
from drift.config import Settings
from drift.engine import DriftEngine
from drift.findings import FindingStore
from drift.local.arm import ArmStandIn
from drift.runtime import build_engine
from drift.status import gather
from tests.helpers import add_rule, create_compliant_server, server_id, set_parameter, set_public_access

WHO = "Casey Admin <casey@contoso.example>"


@pytest.fixture
def fleet(settings: Settings, sdk: Any, arm: ArmStandIn) -> tuple[DriftEngine, str, str]:
    """Two watched servers: one wide open (critical and high findings), one with a low finding."""
    engine = build_engine(settings)
    bad, meh = f"bad-{uuid.uuid4().hex[:6]}", f"meh-{uuid.uuid4().hex[:6]}"
    for name in (bad, meh):
        create_compliant_server(sdk, name)
    engine.handle_many(arm.drain_events())
    set_public_access(sdk, bad, "Enabled")
    add_rule(sdk, bad, "everyone", "0.0.0.0", "255.255.255.255")
    set_parameter(sdk, bad, "aad_auth_only", "OFF")
    add_rule(sdk, meh, "office", "198.51.100.10", "198.51.100.20")  # public access off: low
    engine.handle_many(arm.drain_events())
    return engine, bad, meh


def run(endpoints_file: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["status", "--endpoints-file", str(endpoints_file), *args]) == 0
    return capsys.readouterr().out


def test_the_table_puts_the_fleet_summary_first_then_each_servers_open_findings_with_age_who_and_where(
    fleet: tuple[DriftEngine, str, str], endpoints_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    engine, bad, meh = fleet
    out = run(endpoints_file, capsys)
    lines = out.splitlines()
    open_ = FindingStore(engine.store).open_findings()
    assert lines[0].startswith("Fleet at ") and f"{len(open_)} open finding(s) on 2 server(s)" in lines[0]
    assert lines[1].split() == ["CRITICAL", "1", bad]
    assert lines[4].split() == ["LOW", "1", meh]
    assert out.index(bad + "  worst open: CRITICAL") < out.index(meh + "  worst open: LOW"), "worst first"
    for finding in open_:
        [line] = [x for x in lines if finding.id in x]
        assert finding.setting in line and finding.severity in line and "203.0.113.7" in line
        assert "Casey Admin" in line and finding.age(engine.clock()).split()[-1][-1] in "smhd"


def test_json_and_csv_carry_the_same_findings_and_severity_filters_the_listing_not_the_summary(
    fleet: tuple[DriftEngine, str, str], endpoints_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    engine, bad, meh = fleet
    open_ = {f.id: f for f in FindingStore(engine.store).open_findings()}

    data = json.loads(run(endpoints_file, capsys, "--format", "json"))
    summary = data["summary"]["by_worst_severity"]
    assert summary["critical"] == {"servers": 1, "names": [bad]} and summary["low"] == {"servers": 1, "names": [meh]}
    assert data["summary"]["open_findings"] == len(open_)
    listed = {f["id"]: f for s in data["servers"] for x in s["settings"] for f in x["findings"]}
    assert set(listed) == set(open_)
    for found in listed.values():
        assert (found["changed_by"], found["client_ip"], found["status"]) == (WHO, "203.0.113.7", "open")
        assert found["alert_keys"] == open_[found["id"]].alert_keys and found["age"]

    rows = list(csv.DictReader(io.StringIO(run(endpoints_file, capsys, "--format", "csv"))))
    assert {r["finding_id"] for r in rows} == set(open_)
    for row in rows:
        finding = open_[row["finding_id"]]
        assert (row["server"], row["setting"], row["severity"]) == (finding.server, finding.setting, finding.severity)
        assert row["alert_id"] == finding.alert_keys[0] and row["client_ip"] == "203.0.113.7"

    high = json.loads(run(endpoints_file, capsys, "--format", "json", "--severity", "high"))
    assert [s["server"] for s in high["servers"]] == [bad], "the low finding's server is filtered out"
    assert high["summary"] == data["summary"], "the summary still counts the whole fleet"
    severities = {f["severity"] for s in high["servers"] for x in s["settings"] for f in x["findings"]}
    assert severities <= {"high", "critical"} and severities


def test_one_server_shows_every_watched_setting_from_its_baselines_and_reads_only_its_partition(
    fleet: tuple[DriftEngine, str, str], endpoints_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    engine, bad, _meh = fleet
    rows = engine.store.load(server_id(bad))
    data = json.loads(run(endpoints_file, capsys, "--server", bad, "--format", "json"))
    [server] = data["servers"]
    states = {x["setting"]: x["state"] for x in server["settings"]}
    assert set(states) == set(rows.baselines), "every watched setting"
    assert states["aad_auth_only"] == "OFF" and states["require_secure_transport"] == "ON"
    with_findings = {x["setting"] for x in server["settings"] if x["findings"]}
    assert with_findings == {"public_network_access", "firewall_rules", "aad_auth_only"}

    table = run(endpoints_file, capsys, "--server", bad)
    assert "require_secure_transport" in table and "state: ON" in table
    assert table.startswith(f"Server {bad} at ") and "3 open finding(s) on 1 server(s)" in table

    queries: list[dict[str, Any]] = []
    original = engine.store._table.query_entities
    engine.store._table.query_entities = lambda q, **kw: queries.append(kw.get("parameters", {})) or original(q, **kw)
    gather(engine.store, server=server_id(bad))
    assert [q.get("pk") for q in queries] == [rows.partition], "one partition"
    queries.clear()
    by_name = gather(engine.store, server=bad)
    assert [q.get("pk") for q in queries] == ["~index", rows.partition], "a name: the index's server ids, then it"
    assert by_name.scope == bad and by_name.summary["critical"] == [bad] and by_name.summary["low"] == []
    queries.clear()
    gather(engine.store, severity="medium")
    assert [q.get("pk") for q in queries] == ["~index"], "the summary reads no server partition"


def test_with_nothing_open_the_status_says_so(
    settings: Settings, endpoints_file: Path, capsys: pytest.CaptureFixture[str], sdk: Any, arm: ArmStandIn,
    server_name: str,
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    out = run(endpoints_file, capsys)
    assert "0 open finding(s) on 0 server(s)" in out and out.rstrip().endswith("no open findings")
    assert run(endpoints_file, capsys, "--format", "csv").splitlines()[1:] == []
