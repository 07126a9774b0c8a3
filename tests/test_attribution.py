"""Who did it, when events are handled late or out of order (`drift.attribution`).

The state always comes from ARM, so an event handled late reads writes made after it, and its row
names its caller for them. Each test makes the writes as two people would (the management SDK,
each with their own token, against the ARM stand-in), delivers the stand-in's events to the engine
in the order under test, and reads the history from Azurite and the cards from the Teams receiver.
"""

from __future__ import annotations

from typing import Any

import pytest

from drift.engine import DriftEngine
from drift.findings import FindingStore
from drift.local.arm import ArmStandIn
from drift.local.credential import LocalCredential
from drift.local.receivers import TeamsReceiver
from drift.local.tls import LocalCA
from drift.model import HistoryRecord
from tests.conftest import SUBSCRIPTION
from tests.helpers import add_rule, create_compliant_server, server_id

ALL = ("0.0.0.0", "255.255.255.255")
PEOPLE = {
    "builder": {"name": "Builder Pipeline", "upn": "builder@contoso.example", "ipaddr": "198.51.100.10",
                "oid": "3c1e9f0a-0000-4000-8000-00000000b001"},
    "alice": {"name": "Alice Ops", "upn": "alice@contoso.example", "ipaddr": "198.51.100.21",
              "oid": "3c1e9f0a-0000-4000-8000-00000000b002"},
    "bob": {"name": "Bob Dev", "upn": "bob@contoso.example", "ipaddr": "198.51.100.22",
            "oid": "3c1e9f0a-0000-4000-8000-00000000b003"},
}


def client(arm: ArmStandIn, ca: LocalCA, who: str) -> Any:
    """The management SDK signed in as one of `PEOPLE`."""
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    return MySQLManagementClient(LocalCredential(PEOPLE[who]), SUBSCRIPTION, base_url=arm.url,
                                 connection_verify=str(ca.ca_bundle), polling_interval=0)


def rows(engine: DriftEngine, name: str) -> list[HistoryRecord]:
    return engine.store.history(server_id=server_id(name))


def named(row: HistoryRecord) -> str:
    return named_caller(row.changed_by)


def named_caller(changed_by: str) -> str:
    return changed_by.split(" <")[0]


@pytest.fixture
def people(arm: ArmStandIn, ca: LocalCA) -> dict[str, Any]:
    return {who: client(arm, ca, who) for who in PEOPLE}


@pytest.fixture
def quiet_server(people: dict[str, Any], arm: ArmStandIn, engine: DriftEngine, server_name: str,
                 teams: TeamsReceiver) -> str:
    """A compliant server built by Builder, baselined in order, with nothing recorded or alerted."""
    create_compliant_server(people["builder"], server_name)
    engine.handle_many(arm.drain_events())
    assert rows(engine, server_name) == [] and teams.messages() == []
    return server_name


def test_a_create_handled_after_someone_opened_the_firewall_names_them_too(
    people: dict[str, Any], arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str,
) -> None:
    create_compliant_server(people["builder"], server_name)
    built = arm.drain_events()
    add_rule(people["alice"], server_name, "AllowAll", *ALL)
    [opened] = arm.drain_events()

    engine.handle_many(built)  # late: the create's posture check already sees Alice's rule
    [gap] = rows(engine, server_name)
    assert (gap.setting, gap.verdict, named(gap)) == ("firewall_rules", "weakened", "Builder Pipeline")
    cards = len(teams.messages())
    assert cards == 1

    [outcome] = engine.handle_many([opened])
    assert outcome.status == "recorded"
    shared, first = rows(engine, server_name)
    assert first == gap
    assert (shared.setting, shared.event_id, named(shared), shared.client_ip) == (
        "firewall_rules", opened["id"], "Alice Ops", "198.51.100.21")
    assert (shared.before, shared.after, shared.verdict, shared.severity) == (
        gap.before, gap.after, gap.verdict, gap.severity)
    assert shared.first_recorded_under == gap.event_id
    assert shared.why.startswith("also written by Alice Ops <alice@contoso.example> at ")
    assert f"first recorded under event {gap.event_id} by Builder Pipeline" in shared.why
    assert shared.alert_status == "none" and len(teams.messages()) == cards, "the gap was alerted once already"
    [finding] = [f for f in FindingStore(engine.store).server_findings(server_id(server_name))
                 if f.setting == "firewall_rules"]
    assert finding.open and shared.finding_id == gap.finding_id == finding.id, "the same finding, not a second"
    assert named_caller(finding.changed_by) == "Alice Ops" and finding.client_ip == "198.51.100.21"

    engine.handle_many([opened, *built])  # Event Grid delivers all of them again
    assert len(rows(engine, server_name)) == 2 and len(teams.messages()) == cards


def test_two_writers_of_one_setting_handled_out_of_order_are_both_named(
    people: dict[str, Any], arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, quiet_server: str,
) -> None:
    add_rule(people["alice"], quiet_server, "everyone", *ALL)  # t1: the weakening
    [alices] = arm.drain_events()
    add_rule(people["bob"], quiet_server, "vendor", "192.0.2.0", "192.0.2.255")  # t2: harmless on its own
    [bobs] = arm.drain_events()

    engine.handle_many([bobs])  # Bob's read shows both rules
    [change] = rows(engine, quiet_server)
    assert (change.verdict, named(change)) == ("weakened", "Bob Dev")
    assert "everyone" in change.after and "vendor" in change.after
    assert len(teams.messages()) == 1

    arm.reset_stats()
    [outcome] = engine.handle_many([alices])
    assert outcome.status == "recorded" and arm.stats.reads == outcome.reads == 1, "the event's own read, no more"
    shared, first = rows(engine, quiet_server)
    assert first == change
    assert (named(shared), shared.event_id, shared.first_recorded_under) == ("Alice Ops", alices["id"],
                                                                             bobs["id"])
    assert (shared.before, shared.after, shared.verdict, shared.severity) == (
        change.before, change.after, "weakened", change.severity)
    assert f"first recorded under event {bobs['id']} by Bob Dev" in shared.why
    assert len(teams.messages()) == 1

    for redelivered in ([alices], [bobs], [alices, bobs]):
        outcomes = engine.handle_many(redelivered)
        assert {o.status for o in outcomes} == {"unchanged"}
    assert len(rows(engine, quiet_server)) == 2 and len(teams.messages()) == 1


def test_a_write_made_before_an_earlier_event_was_handled_is_named_even_in_order(
    people: dict[str, Any], arm: ArmStandIn, engine: DriftEngine, quiet_server: str,
) -> None:
    add_rule(people["alice"], quiet_server, "everyone", *ALL)
    add_rule(people["bob"], quiet_server, "vendor", "192.0.2.0", "192.0.2.255")
    alices, bobs = arm.drain_events()

    engine.handle_many([alices, bobs])  # Alice's read already shows Bob's rule

    shared, first = rows(engine, quiet_server)
    assert (named(first), named(shared), shared.first_recorded_under) == ("Alice Ops", "Bob Dev", alices["id"])


def test_events_handled_as_they_come_record_one_row_each_and_nothing_more(
    people: dict[str, Any], arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, quiet_server: str,
) -> None:
    add_rule(people["alice"], quiet_server, "everyone", *ALL)
    [alices] = arm.drain_events()
    engine.handle_many([alices])
    add_rule(people["bob"], quiet_server, "vendor", "192.0.2.0", "192.0.2.255")
    [bobs] = arm.drain_events()
    engine.handle_many([bobs])
    engine.handle_many([alices, bobs])  # redelivered, and now older than every read

    second, first = rows(engine, quiet_server)
    assert [(named(r), r.event_id, r.first_recorded_under) for r in (first, second)] == [
        ("Alice Ops", alices["id"], None), ("Bob Dev", bobs["id"], None)]
    assert first.verdict == "weakened" and len(teams.messages()) == 1


def test_the_same_caller_writing_twice_is_not_named_twice(
    people: dict[str, Any], arm: ArmStandIn, engine: DriftEngine, quiet_server: str,
) -> None:
    add_rule(people["alice"], quiet_server, "everyone", *ALL)
    add_rule(people["alice"], quiet_server, "vendor", "192.0.2.0", "192.0.2.255")
    first, second = arm.drain_events()
    engine.handle_many([second, first])

    [row] = rows(engine, quiet_server)
    assert (named(row), row.event_id) == ("Alice Ops", second["id"])
