"""Events as Azure delivers them, not as the stand-in would like to: a create without `httpRequest`,
the same event twice, events that arrive after the write's answer. Switched on per test; off, the
stand-in stays deterministic for every other test."""

from __future__ import annotations

import time
from typing import Any

import requests

from drift.engine import DriftEngine
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.local.tls import LocalCA
from drift.local.variation import EventVariation
from tests.helpers import add_rule, create_compliant_server, server_id


def baselined(sdk: Any, arm: ArmStandIn, engine: DriftEngine, name: str) -> None:
    create_compliant_server(sdk, name)
    engine.handle_many(arm.drain_events())


def test_variation_is_off_by_default_and_after_a_reset(arm: ArmStandIn) -> None:
    assert arm.event_variation == EventVariation()
    arm.event_variation = EventVariation(True, 2, 0.5)
    arm.reset()
    assert arm.event_variation == EventVariation()


def test_a_create_without_http_request_is_still_judged_with_the_callers_ip_from_the_claims(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str,
) -> None:
    baselined(sdk, arm, engine, server_name)
    arm.event_variation = EventVariation(omit_http_request_on_create=True)
    add_rule(sdk, server_name, "AllowAll", "0.0.0.0", "255.255.255.255")
    add_rule(sdk, server_name, "AllowAll", "0.0.0.0", "255.255.255.254")  # an update: httpRequest present
    created, updated = arm.drain_events()
    assert "httpRequest" not in created["data"] and "httpRequest" in updated["data"]

    engine.handle_many([created])
    [row] = engine.store.history(server_id=server_id(server_name))
    assert (row.setting, row.verdict, row.client_ip) == ("firewall_rules", "weakened", "203.0.113.7")
    assert len(teams.messages()) == 1


def test_a_duplicate_delivery_is_recorded_and_alerted_once(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver, server_name: str,
) -> None:
    baselined(sdk, arm, engine, server_name)
    arm.event_variation = EventVariation(duplicate_every=1)
    add_rule(sdk, server_name, "AllowAll", "0.0.0.0", "255.255.255.255")
    first, again = arm.drain_events()
    assert first == again, "Event Grid delivers the same event, same id, twice"

    engine.handle_many([first])
    engine.handle_many([again])
    assert len(engine.store.history(server_id=server_id(server_name))) == 1
    assert len(teams.messages()) == 1


def test_a_delayed_event_arrives_after_the_write_has_answered(
    sdk: Any, arm: ArmStandIn, engine: DriftEngine, server_name: str,
) -> None:
    baselined(sdk, arm, engine, server_name)
    arm.event_variation = EventVariation(delay=0.3)
    started = time.monotonic()
    add_rule(sdk, server_name, "AllowAll", "0.0.0.0", "255.255.255.255")
    assert arm.drain_events() == [], "the write has answered; its event is still on its way"
    event = arm.next_event(timeout=5)
    assert event is not None and time.monotonic() - started >= 0.3
    engine.handle_many([event])
    [row] = engine.store.history(server_id=server_id(server_name))
    assert row.setting == "firewall_rules"


def test_variation_can_be_switched_over_http(arm: ArmStandIn, ca: LocalCA) -> None:
    admin = requests.Session()
    admin.trust_env = False
    admin.verify = str(ca.ca_bundle)
    answer = admin.post(f"{arm.url}/_standin/event-variation", json={"duplicate_every": 3, "delay": 0.1})
    assert answer.json() == {"ok": True, "omit_http_request_on_create": False, "duplicate_every": 3, "delay": 0.1}
    assert arm.event_variation == EventVariation(False, 3, 0.1)
