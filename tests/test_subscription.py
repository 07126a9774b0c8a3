"""Subscription-level settings: the Defender plan for open-source relational databases.

The plan is written as a user would (a PUT through the management SDK's pipeline, api-version
2024-01-01) against the stand-in, which emits the subscription-level event Azure sends through
the same system topic; the engine judges it once for the subscription and names the servers.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

import detectors
from detectors import Context
from drift import subscription
from drift.engine import DriftEngine, RetryableFailure
from drift.findings import FindingStore
from drift.local.arm import ArmStandIn
from drift.local.credential import LocalCredential
from drift.local.receivers import TeamsReceiver
from drift.local.tls import LocalCA
from drift.local.writes import create_server, defender_plan
from drift.model import Severity, Verdict
from drift.routing import handled_operations
from tests.conftest import CARELESS, GROUP
from tests.fixturefiles import OWN_SPECS

PLAN = "providers/Microsoft.Security/pricings/OpenSourceRelationalDatabases"


@pytest.fixture
def own_subscription(arm: ArmStandIn, ca: LocalCA) -> Any:
    """The management SDK on a subscription of this test's own (the stand-in keeps plans per subscription)."""
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    return MySQLManagementClient(LocalCredential(CARELESS), str(uuid.uuid4()), base_url=arm.url,
                                 connection_verify=str(ca.ca_bundle))


def set_plan(sdk: Any, tier: str) -> None:
    defender_plan(sdk, tier)


def plan_events(arm: ArmStandIn) -> list[dict[str, Any]]:
    return [e for e in arm.drain_events() if "Microsoft.Security" in e["subject"]]


def test_the_plan_is_judged_on_its_tier() -> None:
    d = detectors.by_setting("defender_plan")
    standard = d.state({"properties": {"pricingTier": "Standard"}})
    free = d.state({"properties": {"pricingTier": "free"}})
    assert (standard, free) == ("Standard", "Free")
    j = d.judge(standard, free, Context())
    assert j is not None and (j.verdict, j.severity) == (Verdict.WEAKENED, Severity.HIGH)
    assert d.issues(standard, Context()) == []
    assert d.scope == "subscription" and "defender_plan" not in detectors.all_reads(), "no read per server"


def test_a_plan_event_is_routed_and_its_subject_names_the_setting() -> None:
    assert "Microsoft.Security/pricings/write" in handled_operations()
    found = subscription.target(f"/subscriptions/S1/{PLAN.lower()}")
    assert found is not None and (found.subscription_id, found.read) == ("S1", "defender_plan")
    assert not found.partition.startswith("subscriptions"), "outside every server's partition range"
    assert subscription.target("/subscriptions/S1/providers/Microsoft.Security/pricings/VirtualMachines") is None


def test_a_downgrade_to_free_is_one_alert_naming_the_servers(own_subscription: Any, arm: ArmStandIn,
                                                             engine: DriftEngine, teams: TeamsReceiver) -> None:
    for name in ("orders-db", "billing-db"):
        create_server(own_subscription, GROUP, name)
    arm.drain_events()
    set_plan(own_subscription, "Standard")
    first = engine.handle_many(plan_events(arm))
    assert [o.status for o in first] == ["unchanged"], "a plan seen for the first time at Standard is the baseline"

    set_plan(own_subscription, "Free")
    events = plan_events(arm)
    assert [e["data"]["operationName"] for e in events] == ["Microsoft.Security/pricings/write"]
    [outcome] = engine.handle_many(events)
    assert outcome.status == "recorded" and outcome.alerts_sent == 1
    [record] = outcome.records
    assert (record.setting, record.verdict, record.severity, record.before, record.after) == (
        "defender_plan", "weakened", "high", "Standard", "Free")
    assert "billing-db, orders-db" in record.why
    assert "Casey Admin" in record.changed_by
    assert own_subscription._config.subscription_id in record.remediation
    [card] = teams.messages()
    assert "billing-db" in str(card) and "orders-db" in str(card)
    assert f"(subscription {own_subscription._config.subscription_id})" in str(card)
    assert "resource group" not in str(card), "a subscription's plan has no resource group"

    again = engine.handle_many(events)
    assert [o.status for o in again] == ["unchanged"] and len(teams.messages()) == 1, "a redelivery changes nothing"

    assert FindingStore(engine.store).finding(record.finding_id or "").status == "open"  # type: ignore[union-attr]
    set_plan(own_subscription, "Standard")
    [back] = engine.handle_many(plan_events(arm))
    assert [(r.verdict, r.alert_status, r.finding_id) for r in back.records] == [
        ("strengthened", "sent", record.finding_id)]
    resolved = FindingStore(engine.store).finding(record.finding_id or "")
    assert resolved is not None and (resolved.status, resolved.closed_via) == ("resolved", "event")
    assert len(teams.messages()) == 2 and "Resolved: " in str(teams.messages()[1])
    assert FindingStore(engine.store).server_findings(record.server_id) == [resolved]
    assert record.alert_key in str(teams.messages()[1]), "the resolved card names the downgrade's alert"


def test_a_free_plan_first_seen_is_a_gap_and_a_failed_post_is_sent_by_the_sweep(
        own_subscription: Any, arm: ArmStandIn, engine: DriftEngine, teams: TeamsReceiver) -> None:
    set_plan(own_subscription, "Free")
    events = plan_events(arm)
    teams.add_fault(500, times=10)
    with pytest.raises(RetryableFailure):
        engine.handle_many(events)
    assert teams.messages() == []
    teams.clear()
    assert engine.sweep()["sent"] == 1
    [card] = teams.messages()
    assert "no MySQL flexible server in the subscription yet" in str(card)
    assert [o.status for o in engine.handle_many(events)] == ["unchanged"], "the redelivery finds it recorded"
    assert len(teams.messages()) == 1


def test_the_stand_in_serves_plans_as_a_new_subscription_has_them(own_subscription: Any, arm: ArmStandIn,
                                                                  ca: LocalCA) -> None:
    from azure.core.exceptions import HttpResponseError

    from drift.readers import ArmReader

    reader = ArmReader(LocalCredential(), base_url=arm.url, connection_verify=str(ca.ca_bundle))
    sub = own_subscription._config.subscription_id
    assert reader.read_subscription(sub, "defender_plan")["properties"]["pricingTier"] == "Free"
    with pytest.raises(HttpResponseError) as refused:
        defender_plan(own_subscription, "Premium")
    assert refused.value.status_code == 400
    assert arm.drain_events() == [], "a refused write emits nothing"
    defender_plan(own_subscription, "Standard")
    body = reader.read_subscription(sub, "defender_plan")
    assert body["properties"]["pricingTier"] == "Standard" and body["properties"]["enablementTime"]
    assert body["id"].endswith("/providers/Microsoft.Security/pricings/OpenSourceRelationalDatabases")
    arm.reset()
    assert reader.read_subscription(sub, "defender_plan")["properties"]["pricingTier"] == "Free"


def official_example(name: str) -> Any:
    """An official Pricings example (tests/specs/examples, verbatim from Azure/azure-rest-api-specs)."""
    return json.loads((OWN_SPECS / "examples" / name).read_text(encoding="utf-8"))


def test_the_stand_in_answers_as_the_official_pricings_examples(own_subscription: Any, arm: ArmStandIn,
                                                                ca: LocalCA) -> None:
    from drift.readers import ArmReader

    reader = ArmReader(LocalCredential(), base_url=arm.url, connection_verify=str(ca.ca_bundle))
    sub = own_subscription._config.subscription_id
    listed = official_example("ListPricings_example.json")["responses"]["200"]["body"]["value"]
    [free] = [p for p in listed if p["name"] == "OpenSourceRelationalDatabases"]
    plan_id = f"/subscriptions/{sub}/{PLAN}"
    assert reader.read_subscription(sub, "defender_plan") == {**free, "id": plan_id}

    put = official_example("PutPricingByName_example.json")
    defender_plan(own_subscription, put["parameters"]["pricing"]["properties"]["pricingTier"])
    body = reader.read_subscription(sub, "defender_plan")
    dns = official_example("GetPricingByNameDns_example.json")["responses"]["200"]["body"]["properties"]
    assert body["properties"].keys() == dns.keys(), "the fields of a plan at Standard, no CloudPosture extensions"
    assert {k: v for k, v in body["properties"].items() if k != "enablementTime"} == {
        k: v for k, v in put["responses"]["200"]["body"]["properties"].items() if k not in ("enablementTime",
                                                                                        "extensions")}
    written_as = re.sub(r"\d", "0", dns["enablementTime"])
    assert re.sub(r"\d", "0", body["properties"]["enablementTime"]) == written_as
