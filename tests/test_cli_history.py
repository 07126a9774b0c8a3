"""`mysql-drift history` and `ack` as the on-call uses them: who, from where, which event, reviewed or not;
long values in full; filters; CSV for a spreadsheet; the card's alert id or history's short event id."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from drift.cli import main
from drift.cli.formatting import HEADERS
from drift.config import Settings
from drift.local.arm import ArmStandIn
from drift.local.credential import LocalCredential
from drift.model import HistoryRecord
from drift.runtime import build_engine
from tests.conftest import GROUP, SUBSCRIPTION
from tests.helpers import add_rule, create_compliant_server, set_parameter, set_public_access

FORMULA_NAME = "=HYPERLINK(\"https://evil.example\",\"click\")"


def columns(table: str) -> list[dict[str, str]]:
    """The table's rows as {header: cell}, cut at the header's column starts."""
    header, _rule, *lines = table.splitlines()
    starts = [header.index(h) for h in HEADERS]
    ends = [*starts[1:], None]
    return [{h: line[a:b].strip() for h, a, b in zip(HEADERS, starts, ends, strict=True)} for line in lines]


def caller(arm: ArmStandIn, ca_bundle: str, name: str, upn: str | None, ip: str) -> Any:
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    object_id = f"3c1e9f0a-0000-4000-8000-{ip.replace('.', ''):0>12}"[:36]
    claims = {"name": name, "ipaddr": ip, "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
              "http://schemas.microsoft.com/identity/claims/objectidentifier": object_id}
    if upn:
        claims["upn"] = upn
    return MySQLManagementClient(LocalCredential(claims), SUBSCRIPTION, base_url=arm.url, connection_verify=ca_bundle,
                                 polling_interval=0)


def history(ep: list[str], capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["history", *args, *ep]) == 0
    return capsys.readouterr().out


@pytest.fixture
def ep(endpoints_file: Path) -> list[str]:
    return ["--endpoints-file", str(endpoints_file)]


@pytest.fixture
def busy_server(settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str) -> str:
    """A compliant server, then: Casey (203.0.113.7) opens public access and adds 30 office rules and an
    allow-all rule last; Dana (192.0.2.44) switches secure transport off; a caller whose display name is
    a spreadsheet formula (198.51.100.9) lowers TLS."""
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    set_public_access(sdk, server_name, "Enabled")
    arm.seed_firewall_rules(SUBSCRIPTION, GROUP, server_name,
                            [(f"office-{n:02d}", f"198.51.100.{n}", f"198.51.100.{n}") for n in range(30)])
    add_rule(sdk, server_name, "zz-AllowAll", "0.0.0.0", "255.255.255.255")
    dana = caller(arm, settings.arm_ca_bundle or "", "Dana Developer", "dana@contoso.example", "192.0.2.44")
    set_parameter(dana, server_name, "require_secure_transport", "OFF")
    formula = caller(arm, settings.arm_ca_bundle or "", FORMULA_NAME, None, "198.51.100.9")
    set_parameter(formula, server_name, "tls_version", "TLSv1.2,TLSv1.3")
    outcomes = engine.handle_many(arm.drain_events())
    assert all(o.status in ("recorded", "unchanged", "ignored") for o in outcomes), outcomes
    return server_name


def records(ep: list[str], capsys: pytest.CaptureFixture[str], *args: str) -> list[HistoryRecord]:
    return [HistoryRecord.from_dict(r) for r in json.loads(history(ep, capsys, "--format", "json", *args))]


def test_the_table_shows_from_where_the_short_event_id_and_whether_someone_has_reviewed_it(
    busy_server: str, ep: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    [public] = [r for r in records(ep, capsys, "--server", busy_server) if r.setting == "public_network_access"]
    assert main(["ack", public.event_id, "--reason", "app team on it", "--by", "Riley", *ep]) == 0

    rows = [r for r in columns(history(ep, capsys, "--server", busy_server)) if r["setting"] == "public_network_access"]

    assert rows == [{**rows[0], "by": "Casey Admin <casey@contoso.example>", "from": "203.0.113.7",
                     "event": public.event_id[:8], "ack": "Riley"}]
    assert len(public.event_id) > 8, "the table shortens the id; JSON keeps it whole"
    others = [r for r in columns(history(ep, capsys, "--server", busy_server)) if r["setting"] == "tls_version"]
    assert others[0]["ack"] == "-" and others[0]["from"] == "198.51.100.9"


def test_a_long_value_continues_on_the_next_lines_and_keeps_the_dangerous_end(
    busy_server: str, ep: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    [firewall] = [r for r in records(ep, capsys, "--server", busy_server) if r.setting == "firewall_rules"]
    assert firewall.after and firewall.after.endswith("zz-AllowAll (0.0.0.0-255.255.255.255)"), firewall.after

    rows = columns(history(ep, capsys, "--server", busy_server, "--setting", "firewall_rules"))

    assert rows[0]["setting"] == "firewall_rules" and len(rows) > 10, "one row and its continuation lines"
    assert all(r["setting"] == "" and r["by"] == "" for r in rows[1:]), "continuation lines carry only the value"
    assert all(len(r["before -> after"]) <= 60 for r in rows)
    shown = " ".join(r["before -> after"] for r in rows)
    assert shown.split() == f"{firewall.before} -> {firewall.after}".split(), "every word, none cut"
    assert "..." not in shown


def test_filters_by_severity_setting_and_caller(
    busy_server: str, ep: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    everything = records(ep, capsys, "--server", busy_server)
    assert {r.severity for r in everything} >= {"critical", "high"}, [(r.setting, r.severity) for r in everything]

    high = records(ep, capsys, "--server", busy_server, "--severity", "high")
    assert high and {r.severity for r in high} <= {"high", "critical"}
    assert len(high) == len([r for r in everything if r.severity in ("high", "critical")])
    assert [r.setting for r in records(ep, capsys, "--server", busy_server, "--setting", "tls_version")] == [
        "tls_version"]
    assert {r.changed_by for r in records(ep, capsys, "--server", busy_server, "--by", "DANA")} == {
        "Dana Developer <dana@contoso.example>"}
    assert records(ep, capsys, "--server", busy_server, "--by", "casey", "--setting", "require_secure_transport") == []

    capsys.readouterr()
    assert main(["history", "--setting", "firewall", *ep]) == 2
    assert "unknown setting 'firewall'" in capsys.readouterr().err


def test_csv_has_every_field_in_full_and_a_caller_named_like_a_formula_stays_text(
    busy_server: str, ep: list[str], capsys: pytest.CaptureFixture[str],
) -> None:
    expected = records(ep, capsys, "--server", busy_server)
    text = history(ep, capsys, "--server", busy_server, "--format", "csv")

    assert "\r\n" in text, "RFC 4180 line ends"
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header == list(HistoryRecord.__dataclass_fields__)
    assert len(rows) == len(expected)
    by_event = {(r[header.index("event_id")], r[header.index("setting")]): dict(zip(header, r, strict=True))
                for r in rows}
    firewall = next(r for r in expected if r.setting == "firewall_rules")
    assert by_event[(firewall.event_id, "firewall_rules")]["after"] == firewall.after, "in full, not cut"
    tls = next(r for r in expected if r.setting == "tls_version")
    assert tls.changed_by.startswith("=HYPERLINK")
    assert by_event[(tls.event_id, "tls_version")]["changed_by"] == "'" + tls.changed_by, "no formula for Excel"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_ack_takes_the_alert_id_of_the_card_or_the_short_event_id_and_says_when_it_is_ambiguous(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str, ep: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "require_secure_transport", "OFF")
    [first] = arm.drain_events()
    set_public_access(sdk, server_name, "Enabled")
    [second] = arm.drain_events()
    first["id"], second["id"] = "feedface-0001-4000-8000-000000000001", "feedface-0002-4000-8000-000000000002"
    engine.handle_many([first, second])
    rows = {r.setting: r for r in records(ep, capsys, "--server", server_name)}
    alert = rows["public_network_access"].alert_key
    assert alert and len(alert) == 16

    assert main(["ack", alert, "--reason", "looked at it", "--by", "Riley", *ep]) == 0
    assert f"of {alert} (event {second['id']}) marked reviewed" in capsys.readouterr().out
    rows = {r.setting: r for r in records(ep, capsys, "--server", server_name)}
    assert (rows["public_network_access"].acknowledged or "").startswith("Riley: looked at it")
    assert rows["require_secure_transport"].acknowledged is None

    assert main(["ack", "feedface", "--reason", "x", *ep]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'feedface' is ambiguous: 2 events start with it" in err
    assert main(["ack", "feedface-0001", "--reason", "fixing", "--by", "Sam", *ep]) == 0
    assert (records(ep, capsys, "--setting", "require_secure_transport", "--server", server_name)[0]
            .acknowledged or "").startswith("Sam: fixing")
    assert main(["ack", "0123456789abcdef", "--reason", "x", *ep]) == 2
    assert capsys.readouterr().err.strip() == ("mysql-drift ack: no history row has event id or alert id "
                                               "'0123456789abcdef'")
    assert main(["ack", alert, "--server", server_name, "--reason", "again", "--by", "Kim", *ep]) == 0, \
        "with --server, one partition is read"


def test_the_table_shows_control_characters_as_codes_rather_than_sending_them_to_the_terminal() -> None:
    from drift.cli.formatting import format_table

    record = HistoryRecord(
        server_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforMySQL/flexibleServers/db", server="db",
        setting="audit_log_exclude_users", before="none", after="svc\nbackup", verdict="weakened", severity="high",
        why="-", event_id="e1", event_time=None, detected_at="2026-11-30T10:00:00+00:00", operation="-",
        changed_by="Eve \x1b[2J\x1b[H<eve@contoso.example>", client_ip=None, correlation_id=None, alert_status="sent")

    table = format_table([record])

    assert "\x1b" not in table and "Eve \\x1b[2J\\x1b[H<eve@contoso.example>" in table
    assert len(table.splitlines()) == 3 and "none -> svc\\x0abackup" in table
