"""The review routes (`POST /api/accept`, `/api/ack`) under hostile or careless requests, through the
Function's HTTP handler, Azurite and the ARM stand-in.

Who acts comes only from App Service Authentication; every bad request is a 4xx with one line that
says why, and writes nothing; server names match whatever case Azure spelled them in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drift import runtime
from drift.cli import main
from drift.config import Settings
from drift.engine import DriftEngine
from drift.local import writes
from drift.local.arm import ArmStandIn
from drift.runtime import build_engine
from tests.conftest import GROUP, SUBSCRIPTION
from tests.helpers import create_compliant_server, server_id, set_parameter
from tests.test_review import http

RILEY = {"X-MS-CLIENT-PRINCIPAL-NAME": "riley@contoso.example"}
UNWATCHED = "0a1b2c3d-0000-4000-8000-0000000000ff"


@pytest.fixture
def drifted(settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
            monkeypatch: pytest.MonkeyPatch) -> DriftEngine:
    """A watched server whose TLS setting changed while no event came: something an on-call would accept."""
    engine = build_engine(settings)
    engine.subscriptions = {SUBSCRIPTION}
    monkeypatch.setattr(runtime, "_engine", engine)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    arm.emit_events = False
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2,TLSv1.3")
    arm.emit_events = True
    return engine


def snapshot(engine: DriftEngine, name: str) -> tuple[Any, ...]:
    rows = engine.store.load(server_id(name))
    return ({s: (b.state, b.etag) for s, b in rows.baselines.items()}, len(rows.outbox),
            len(engine.store.history(server_id=server_id(name))))


# --- row 14: the acting user comes from Easy Auth only ---------------------------------------

@pytest.mark.parametrize("headers", [{}, {"X-MS-CLIENT-PRINCIPAL-NAME": ""},
                                     {"X-MS-CLIENT-PRINCIPAL-NAME": "\u2060\ufeff \u00ad"},
                                     {"X-MS-CLIENT-PRINCIPAL-ID": "3c1e9f0a-0000-4000-8000-00000000a002"}],
                         ids=["none", "empty", "invisible", "id-only"])
def test_a_review_without_a_signed_in_user_is_refused_401_whatever_the_body_says(
    drifted: DriftEngine, server_name: str, headers: dict[str, str],
) -> None:
    before = snapshot(drifted, server_name)
    answer = http("accept", {"server": server_name, "setting": "tls_version", "reason": "vendor app",
                             "by": "mallory@contoso.example"}, headers)
    assert answer.status_code == 401
    assert "X-MS-CLIENT-PRINCIPAL-NAME" in json.loads(answer.get_body())["error"]
    assert http("ack", {"event_id": "x", "reason": "seen", "by": "mallory"}, headers).status_code == 401
    assert snapshot(drifted, server_name) == before, "nothing written"


def test_the_signed_in_user_is_recorded_and_the_body_by_is_ignored(drifted: DriftEngine, server_name: str) -> None:
    signed_in = {"x-ms-client-principal-name": "riley\u202e@contoso.example"}  # any case, as hosts vary
    answer = http("accept", {"server": server_name, "setting": "tls_version", "expect": "TLSv1.2,TLSv1.3",
                             "reason": "vendor app", "by": "mallory@contoso.example"}, signed_in)
    assert answer.status_code == 200
    [row] = drifted.store.history(server_id=server_id(server_name))
    assert row.changed_by == "riley@contoso.example"


# --- row 15: bad requests are 4xx with one line, and write nothing ----------------------------

def bad_requests(name: str) -> list[tuple[str, Any, int, str]]:
    good = {"server": name, "setting": "tls_version", "expect": "TLSv1.2,TLSv1.3", "reason": "vendor app"}
    unwatched = writes.server_id(UNWATCHED, GROUP, name)
    return [
        ("accept", {**good, "setting": ["tls_version", "aad_auth_only"]}, 400, "'setting' must be a non-empty string"),
        ("accept", {**good, "setting": {"name": "tls_version"}}, 400, "'setting' must be a non-empty string"),
        ("accept", {**good, "setting": "no_such_setting"}, 400, "unknown setting 'no_such_setting'"),
        ("accept", {**good, "reason": "r" * 10_000}, 400, "'reason' is 10000 characters; at most 2000"),
        ("accept", {**good, "reason": "r" * 100_000}, 413, "the body is over 65536 bytes"),
        ("accept", {**good, "reason": 42}, 400, "'reason' must be a non-empty string"),
        ("accept", {**good, "server": server_id(name) + "|x"}, 400, "'server'"),
        ("accept", {**good, "server": server_id(name).replace(GROUP, "a|b")}, 400, "naming rules"),
        ("accept", {**good, "server": server_id(name) + "/firewallRules/r1"}, 400, "not the id of a MySQL"),
        ("accept", {**good, "server": "/subscriptions//resourceGroups"}, 400, "not the id of a MySQL"),
        ("accept", {**good, "server": ["a"]}, 400, "'server' must be a non-empty string"),
        ("accept", {**good, "server": "db;rm"}, 400, "neither a MySQL flexible server name nor its ARM id"),
        ("accept", {**good, "server": unwatched}, 403, f"subscription {UNWATCHED} is not watched"),
        ("accept", {**good, "server": "no-such-server"}, 404, "no watched server is named 'no-such-server'"),
        ("accept", b'{"server": "' + b"x" * 5_000_000 + b'"}', 413, "the body is over 65536 bytes"),
        ("accept", [good], 400, "the body must be a JSON object"),
        ("ack", {"event_id": ["e1"], "reason": "seen"}, 400, "'event_id' must be a non-empty string"),
        ("ack", {"event_id": "e" * 300, "reason": "seen"}, 400, "'event_id' is 300 characters; at most 256"),
    ]


def test_every_bad_review_request_is_a_4xx_with_one_line_and_writes_nothing(
    drifted: DriftEngine, server_name: str, arm: ArmStandIn,
) -> None:
    before = snapshot(drifted, server_name)
    arm.reset_stats()
    for action, body, status, message in bad_requests(server_name):
        answer = http(action, body, RILEY)  # an uncaught exception would be a 500
        error = json.loads(answer.get_body())["error"]
        assert (answer.status_code, message in error) == (status, True), (action, str(body)[:80], error)
        assert "\n" not in error and len(error) < 400
    assert snapshot(drifted, server_name) == before, "nothing written"
    assert arm.stats.reads == 0, "refused before the engine read anything"


# --- row 17: names match in any case ---------------------------------------------------------

def test_a_server_azure_spelled_in_capitals_is_found_by_its_name_in_any_case(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str, endpoints_file: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    engine = build_engine(settings)
    monkeypatch.setattr(runtime, "_engine", engine)
    lower = server_name.replace("srv-", "orders-db-")
    spelled = lower.upper()
    create_compliant_server(sdk, lower)  # ARM's names are lower case; ids in events may come in any case
    events = arm.drain_events()
    for event in events:
        event["subject"] = event["subject"].replace(lower, spelled)
        event["data"]["resourceUri"] = event["data"]["resourceUri"].replace(lower, spelled)
    engine.handle_many(events)
    set_parameter(sdk, lower, "tls_version", "TLSv1.2,TLSv1.3")
    engine.handle_many(arm.drain_events())

    ids = engine.store.server_ids(lower)
    assert [i.lower() for i in ids] == [server_id(spelled).lower()], "one server, however its rows spell it"
    assert main(["accept", lower, "--setting", "tls_version", "--expect", "TLSv1.2,TLSv1.3", "--reason", "CHG-1",
                 "--by", "Riley",
                 "--endpoints-file", str(endpoints_file)]) == 0, capsys.readouterr().err
    answer = http("accept", {"server": lower.title(), "setting": "aad_auth_only", "expect": "ON", "reason": "CHG-2"},
                  RILEY)
    assert answer.status_code == 200, answer.get_body()
    assert json.loads(answer.get_body())["server_id"].lower() == server_id(spelled).lower()
