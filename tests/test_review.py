"""Accepting a change and acknowledging an alert, from the CLI and over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from drift.cli import main
from drift.config import Settings
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.reconcile import Reconciler
from drift.review import ReviewError, accept
from drift.runtime import build_engine
from tests.conftest import SUBSCRIPTION
from tests.function_index import functions
from tests.helpers import add_rule, create_compliant_server, server_id, set_parameter


@pytest.fixture
def endpoints(endpoints_file: Path) -> list[str]:
    return ["--endpoints-file", str(endpoints_file)]


def test_accept_makes_a_missed_change_the_baseline_so_the_next_event_reports_nothing(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str, endpoints: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    arm.emit_events = False  # a change Event Grid never delivered
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2,TLSv1.3")
    arm.emit_events = True

    assert main(["accept", server_name, "--setting", "tls_version", "--expect", "TLSv1.2,TLSv1.3",
                 "--reason", "legacy JDBC driver, CHG-77", "--by", "Riley On-Call", *endpoints]) == 0
    assert "accepted tls_version" in capsys.readouterr().out

    set_parameter(sdk, server_name, "tls_version", "TLSv1.2,TLSv1.3")  # the same value written again
    engine.handle_many(arm.drain_events())
    Reconciler(engine).scan([SUBSCRIPTION])  # and the next reconcile finds nothing to report either
    [row] = engine.store.history(server_id=server_id(server_name))
    assert (row.operation, row.changed_by, row.verdict) == ("accept", "Riley On-Call", "changed")
    assert row.why == "accepted as the baseline: legacy JDBC driver, CHG-77"
    assert (row.before, row.after) == ("TLSv1.3", "TLSv1.2,TLSv1.3 (running TLSv1.3 until restart)")
    assert teams.messages() == []


def test_accept_drops_an_alert_still_waiting_to_be_sent(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str, endpoints: list[str],
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    teams.add_fault(503)
    with pytest.raises(Exception, match="alert delivery failed"):
        engine.handle_many(arm.drain_events())

    [pending] = engine.store.history(server_id=server_id(server_name))
    assert pending.alert_key, "the history row knows the alert that carries it"
    assert main(["accept", server_id(server_name), "--alert", pending.alert_key, "--reason", "break-glass",
                 *endpoints]) == 0
    assert engine.sweep()["pending"] == 0
    assert teams.messages() == []
    statuses = {r.operation: r.alert_status for r in engine.store.history(server_id=server_id(server_name))}
    assert statuses["Microsoft.DBforMySQL/flexibleServers/configurations/write"] == "suppressed"


def test_ack_marks_the_rows_of_an_event_reviewed_and_says_when_there_are_none(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str, endpoints: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "require_secure_transport", "OFF")
    [event] = arm.drain_events()
    engine.handle_many([event])

    assert main(["ack", event["id"], "--reason", "app team fixing by Friday", "--by", "Riley", *endpoints]) == 0
    [row] = engine.store.history(server_id=server_id(server_name))
    assert row.acknowledged is not None and row.acknowledged.startswith("Riley: app team fixing by Friday (")
    capsys.readouterr()
    assert main(["ack", "no-such-event", "--reason", "x", *endpoints]) == 2
    assert "no history row has event id" in capsys.readouterr().err


def test_accept_of_a_low_alert_is_refused_when_arm_now_shows_an_allow_all_rule(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    add_rule(sdk, server_name, "office", "198.51.100.1", "198.51.100.9")
    engine.handle_many(arm.drain_events())
    [low] = engine.store.history(server_id=server_id(server_name))
    assert (low.severity, low.alert_status) == ("low", "sent")
    add_rule(sdk, server_name, "AllowAll", "0.0.0.0", "255.255.255.255")  # while the on-call reads the card

    with pytest.raises(ReviewError, match=r"ARM shows something else than what you reviewed.*AllowAll"):
        accept(engine, server_name, alert=low.alert_key, reason="office range, CHG-12", by="Riley")
    assert [r.operation for r in engine.store.history(server_id=server_id(server_name))].count("accept") == 0
    [outcome] = engine.handle_many(arm.drain_events())
    assert "AllowAll" in outcome.records[0].why and outcome.records[0].alert_status == "sent", \
        "the rule nobody reviewed is still alerted, not folded into the baseline"


def test_accept_names_what_was_accepted(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    with pytest.raises(ReviewError, match="name what you accept"):
        accept(engine, server_name, setting="tls_version", reason="x", by="Riley")
    with pytest.raises(ReviewError, match=re.escape("no alert or event 'feedfacefeedface'")):
        accept(engine, server_name, alert="feedfacefeedface", reason="x", by="Riley")
    with pytest.raises(ReviewError, match=re.escape("tls_version is now 'TLSv1.3', not 'TLSv1.2'")):
        accept(engine, server_name, setting="tls_version", expect="TLSv1.2", reason="x", by="Riley")


def test_accept_refuses_unknown_names_and_settings(endpoints: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accept", "no-such-server", "--reason", "x", *endpoints]) == 2
    assert "no watched server is named 'no-such-server'" in capsys.readouterr().err
    assert main(["accept", server_id("any-db"), "--setting", "defender_plan", "--reason", "x", *endpoints]) == 2
    assert "defender_plan is a setting of the subscription" in capsys.readouterr().err


def http(action: str, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    [fn] = [f for f in functions() if f.get_function_name() == "review"]
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = func.HttpRequest("POST", f"/api/{action}", headers=headers, route_params={"action": action},
                               body=json.dumps(body).encode() if not isinstance(body, bytes) else body)
    return fn.get_user_function()(request)


def test_the_http_function_accepts_as_the_signed_in_user_and_rejects_bad_input(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from drift import runtime

    engine = build_engine(settings)
    monkeypatch.setattr(runtime, "_engine", engine)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2,TLSv1.3")

    answer = http("accept", {"server": server_name, "setting": "tls_version", "expect": "TLSV1.2,TLSV1.3",
                             "reason": "vendor app", "by": "spoof"},
                  {"X-MS-CLIENT-PRINCIPAL-NAME": "riley@contoso.example"})
    assert answer.status_code == 200
    [accepted] = json.loads(answer.get_body())["accepted"]
    assert accepted["changed_by"] == "riley@contoso.example", "the signed-in user, not the body"
    riley = {"X-MS-CLIENT-PRINCIPAL-NAME": "riley@contoso.example"}
    assert http("accept", b"{not json", riley).status_code == 400
    assert json.loads(http("accept", {"reason": "x"}, riley).get_body()) == {
        "error": "'server' must be a non-empty string"}
    assert http("ack", {"event_id": "nope", "reason": "x"}, riley).status_code == 400
    assert http("delete", {}, riley).status_code == 404
