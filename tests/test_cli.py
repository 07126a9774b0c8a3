"""`mysql-drift replay` and `mysql-drift history` against the local stack's endpoints file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from drift.cli import main, parse_since
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from tests.helpers import add_rule, create_compliant_server, create_server, set_parameter, set_public_access

HISTORY_FIELDS = {"server_id", "server", "setting", "before", "after", "verdict", "severity", "why", "event_id",
                  "event_time", "detected_at", "operation", "changed_by", "client_ip", "correlation_id",
                  "alert_status", "control"}


def test_replay_takes_an_array_from_a_file_and_skips_what_is_malformed(
    endpoints_file: Path, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    events_file = tmp_path / "events.json"
    create_compliant_server(sdk, server_name)
    events_file.write_text(json.dumps(arm.drain_events()))
    assert main(["replay", str(events_file), "--endpoints-file", str(endpoints_file)]) == 0
    add_rule(sdk, server_name, "AllowAll", "0.0.0.0", "255.255.255.255")
    [event] = arm.drain_events()
    events_file.write_text(json.dumps([event, {"id": "broken"}]))
    capsys.readouterr()

    assert main(["replay", str(events_file), "--endpoints-file", str(endpoints_file)]) == 0

    out = capsys.readouterr().out
    assert f"{event['id']}: recorded (1 change(s), 1 alert(s))" in out
    assert "broken: malformed" in out
    assert len(teams.messages()) == 1


def test_replay_reads_a_single_event_from_stdin(
    endpoints_file: Path, sdk: Any, arm: ArmStandIn, server_name: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import io

    create_server(sdk, server_name, public_access="Enabled")
    [event] = arm.drain_events()
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(event)))
    assert main(["replay", "-", "--endpoints-file", str(endpoints_file)]) == 0
    assert f"{event['id']}: recorded" in capsys.readouterr().out


def test_replay_refuses_text_that_is_not_json(endpoints_file: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["replay", str(bad), "--endpoints-file", str(endpoints_file)]) == 2
    assert "input is not JSON" in capsys.readouterr().err


def test_history_lists_newest_first_as_json_with_the_documented_fields_and_filters(
    endpoints_file: Path, sdk: Any, arm: ArmStandIn, server_name: str, capsys: pytest.CaptureFixture[str],
) -> None:
    ep = ["--endpoints-file", str(endpoints_file)]
    events_file = endpoints_file.parent / "e.json"
    for write in (lambda: create_compliant_server(sdk, server_name),
                  lambda: set_public_access(sdk, server_name, "Enabled"),
                  lambda: set_parameter(sdk, server_name, "aad_auth_only", "OFF"),
                  lambda: set_parameter(sdk, server_name, "aad_auth_only", "ON")):
        write()
        events_file.write_text(json.dumps(arm.drain_events()))
        main(["replay", str(events_file), *ep])
    capsys.readouterr()

    assert main(["history", "--format", "json", "--server", server_name, *ep]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["setting"], r["verdict"]) for r in rows] == [
        ("aad_auth_only", "strengthened"), ("aad_auth_only", "weakened"), ("public_network_access", "weakened")]
    assert rows[2]["control"] == "NS-2"
    assert all(set(r) >= HISTORY_FIELDS for r in rows)
    assert rows[1]["severity"] == "high" and rows[1]["changed_by"] == "Casey Admin <casey@contoso.example>"
    assert main(["history", "--format", "json", "--server", server_name.upper(), "--since", "1h", *ep]) == 0
    assert json.loads(capsys.readouterr().out) == rows, "a name in any case, read over its own partition"

    main(["history", "--format", "json", "--verdict", "strengthened", *ep])
    assert [r["verdict"] for r in json.loads(capsys.readouterr().out)] == ["strengthened"]
    main(["history", "--format", "json", "--since", "2999-01-01", *ep])
    assert json.loads(capsys.readouterr().out) == []
    main(["history", "--since", "1h", *ep])
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["detected", "server", "setting", "verdict", "severity", "before", "->",
                                             "after", "by", "from", "event", "alert", "ack"]
    assert "ON -> OFF" in table


def test_since_takes_durations_and_dates() -> None:
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(Exception, match="--since takes"):
        parse_since("last week", now)


def test_a_missing_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("DRIFT_STORAGE_CONNECTION_STRING", "DRIFT_STORAGE_TABLE_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    assert main(["history"]) == 2
    assert "DRIFT_STORAGE_CONNECTION_STRING" in capsys.readouterr().err


def test_replay_fails_when_no_event_could_be_used_and_says_why(
    endpoints_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    ep = ["--endpoints-file", str(endpoints_file)]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{"id": "broken-1"}, {"id": "broken-2", "eventType": 7}]))
    assert main(["replay", str(broken), *ep]) == 2
    captured = capsys.readouterr()
    assert "broken-1: malformed" in captured.out, "each event's outcome is still shown"
    [line] = captured.err.splitlines()
    assert line.startswith("mysql-drift replay: no event could be used: 2 malformed (first: ")

    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert main(["replay", str(empty), *ep]) == 2
    assert capsys.readouterr().err == "mysql-drift replay: the input holds no event (an empty array)\n"


POLICY = """\
[[exemptions]]
server = "legacy-db"
settings = ["firewall_rules"]
reason = "decommissioned in October, CHG-4711"
expires = 2020-10-31

[[exemptions]]
resource_group = "rg-vendor"
reason = "vendor migration"
expires = 2999-01-01
"""


def test_policy_check_warns_about_exemptions_that_have_expired_and_fails_only_when_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)

    assert main(["policy", "check", str(policy)]) == 0
    captured = capsys.readouterr()
    assert "2 exemption(s)" in captured.out
    [warning] = captured.err.splitlines()
    assert warning == ("warning: exemption line 1: server legacy-db (firewall_rules) expired on 2020-10-31 and no "
                       "longer applies: decommissioned in October, CHG-4711")
    assert main(["policy", "check", "--strict", str(policy)]) == 1
    assert "expired on 2020-10-31" in capsys.readouterr().err
    policy.write_text(POLICY.split("\n\n")[1])
    assert main(["policy", "check", "--strict", str(policy)]) == 0
    assert capsys.readouterr().err == "", "an exemption still running is no warning"
