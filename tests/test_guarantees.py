"""The promises under concurrency, Azure's limits and ARM's inconsistencies (issue 9, rows 1-5, 8, 11).

Every case goes through the local stack: SDK writes to the ARM stand-in, its events handled by
engines built as the Function builds them, Azurite for the table, the Teams receiver for cards.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from drift.config import Settings
from drift.engine import DriftEngine, RetryableFailure
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.reconcile import Reconciler
from drift.runtime import build_engine
from tests.conftest import GROUP, SUBSCRIPTION
from tests.helpers import add_rule, create_compliant_server, server_id, set_parameter, set_public_access


def settled(settings: Settings, sdk: Any, arm: ArmStandIn, name: str, **kwargs: Any) -> DriftEngine:
    engine = build_engine(settings)
    create_compliant_server(sdk, name, **kwargs)
    engine.handle_many(arm.drain_events())
    return engine


def at_once(work: list[Any]) -> list[Any]:
    """Run the callables at the same moment, each on its own thread; re-raise the first failure."""
    barrier = threading.Barrier(len(work))

    def run(fn: Any) -> Any:
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(len(work)) as pool:
        return [f.result() for f in [pool.submit(run, fn) for fn in work]]


def severities(engine: DriftEngine, name: str) -> list[str]:
    return [r.severity for r in engine.store.history(server_id=server_id(name))]


@pytest.mark.parametrize("order", ["at once", "public access first", "rule first"])
def test_public_access_and_an_allow_all_rule_together_are_critical_whatever_the_order(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str, order: str,
) -> None:
    engine = settled(settings, sdk, arm, server_name)
    set_public_access(sdk, server_name, "Enabled")
    add_rule(sdk, server_name, "AllowAll", "0.0.0.0", "255.255.255.255")
    public, rule = arm.drain_events()
    first, second = build_engine(settings), build_engine(settings)  # two instances of the Function
    if order == "at once":
        at_once([lambda: first.handle_many([public]), lambda: second.handle_many([rule])])
    else:
        events = [public, rule] if order == "public access first" else [rule, public]
        first.handle_many(events[:1])
        second.handle_many(events[1:])

    assert "critical" in severities(engine, server_name)
    assert any(m["attachments"][0]["content"]["body"][0]["text"].startswith("CRITICAL") for m in teams.messages())


def test_entra_only_switched_on_while_the_admin_is_restored_raises_no_false_lockout_card(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    from azure.mgmt.mysqlflexibleservers import models

    engine = settled(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    sdk.azure_ad_administrators.begin_delete(GROUP, server_name, "ActiveDirectory").result()
    engine.handle_many(arm.drain_events())
    teams.clear()

    set_parameter(sdk, server_name, "aad_auth_only", "ON")
    admin = models.AzureADAdministrator(administrator_type="ActiveDirectory", login="dba-group",
                                        sid="c6b82b90-a647-49cb-8a62-0d2d3cb7ac7c",
                                        tenant_id="72f988bf-0000-0000-0000-000000000000")
    sdk.azure_ad_administrators.begin_create_or_update(GROUP, server_name, "ActiveDirectory", admin).result()
    entra_only, restored = arm.drain_events()
    at_once([lambda: build_engine(settings).handle_many([entra_only]),
             lambda: build_engine(settings).handle_many([restored])])

    rows = engine.store.history(server_id=server_id(server_name))
    assert not [r for r in rows if "nobody can sign in" in r.why and r.verdict == "weakened"][:1]
    headings = [m["attachments"][0]["content"]["body"][0]["text"] for m in teams.messages()]
    assert all(h.startswith("Resolved: ") for h in headings), "no weakening card, only the resolved ones"
    assert {r.setting: r.verdict for r in rows[:2]} == {"aad_auth_only": "strengthened",
                                                         "entra_admin": "strengthened"}


def test_one_function_host_handling_two_events_of_a_server_at_once_sends_each_card_once(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    host = settled(settings, sdk, arm, server_name)  # one engine object, shared by the host's threads
    for round_ in range(3):
        value = "OFF" if round_ % 2 == 0 else "ON"
        set_parameter(sdk, server_name, "aad_auth_only", value)
        set_parameter(sdk, server_name, "require_secure_transport", value)
        at_once([lambda e=e: host.handle_many([e]) for e in arm.drain_events()])  # neither may fail

    cards = [m["attachments"][0]["content"]["body"][0]["text"] for m in teams.messages()]
    weakened = [c for c in cards if not c.startswith("Resolved: ")]
    resolved = [c for c in cards if c.startswith("Resolved: ")]
    assert len(weakened) == len(set(weakened)) * 2 == 4, "two weakenings, each alerted once, in each weakening round"
    assert len(resolved) == len(set(resolved)) == 2, "and each undone once, in the restoring round"
    assert host.sweep()["pending"] == 0


def test_a_server_at_azures_tag_and_firewall_maxima_is_recorded_and_judged(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    # Azure: 50 tags per resource, names up to 512 characters, values up to 256 (storage accounts less);
    # firewall rule names up to 80 characters (the spec's pattern). CJK takes 3 bytes in UTF-8 and
    # 6 characters escaped in JSON: the state is far past one 64 KiB property.
    tags = {f"{i:02d}{'標籤' * 255}": "値" * 256 for i in range(50)}
    engine = settled(settings, sdk, arm, server_name, tags=tags)
    arm.emit_events = False
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: add_rule(sdk, server_name, f"r{i:03d}-{'x' * 75}", f"10.1.{i // 250}.{i % 250}",
                                         f"10.1.{i // 250}.{i % 250}"), range(500)))
    arm.emit_events = True
    set_public_access(sdk, server_name, "Enabled")
    add_rule(sdk, server_name, "AllowAll", "0.0.0.0", "255.255.255.255")
    engine.handle_many(arm.drain_events())

    rows = engine.store.history(server_id=server_id(server_name))
    rule_row = next(r for r in rows if r.setting == "firewall_rules")
    assert rule_row.severity == "critical" and len(rule_row.after or "") > 40_000, "the whole list, not a stub"
    assert engine.store.load(server_id(server_name)).baselines["server_tags"].state == tags
    assert any("AllowAll" in str(m) for m in teams.messages())
    [report] = Reconciler(engine).scan([SUBSCRIPTION])
    assert report.errors == [] and report.recorded == 0


@pytest.mark.parametrize("path, setting", [("configurations/tls_version", "tls_version"),
                                           ("/firewallrules", "firewall_rules")])
def test_a_404_from_a_setting_of_a_server_that_exists_is_read_again_never_recorded_as_not_set(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str, path: str, setting: str,
) -> None:
    engine = settled(settings, sdk, arm, server_name)
    if setting == "tls_version":
        set_parameter(sdk, server_name, "tls_version", "TLSv1.2")
    else:
        add_rule(sdk, server_name, "office", "198.51.100.1", "198.51.100.9")
    arm.add_fault(status=404, times=1, method="GET", path_contains=path)
    [outcome] = engine.handle_many(arm.drain_events())

    assert outcome.status == "recorded"
    [row] = outcome.records
    assert row.setting == setting and row.after not in (None, "not set", "no rules")


def test_a_404_that_persists_on_a_setting_fails_retryable_and_records_nothing(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = settled(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2")
    event = arm.drain_events()
    arm.add_fault(status=404, times=2, method="GET", path_contains="configurations/tls_version")
    with pytest.raises(RetryableFailure, match="answered 404 twice while the server exists"):
        engine.handle_many(event)
    assert engine.store.history(server_id=server_id(server_name)) == []
    [outcome] = engine.handle_many(event)  # Event Grid's next delivery
    assert (outcome.records[0].after or "").startswith("TLSV1.2")


def test_arms_retry_after_never_keeps_an_invocation_past_its_budget(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = settled(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "tls_version", "TLSv1.2")
    event = arm.drain_events()
    arm.add_fault(status=429, times=2, retry_after=20, method="GET", path_contains="configurations/tls_version")
    started = time.monotonic()
    with pytest.raises(RetryableFailure, match="past this invocation's budget"):
        engine.handle_many(event)
    assert time.monotonic() - started < engine.arm_budget, "it fails at once instead of sleeping 2 x 20 s"
    arm.clear_faults()
    [outcome] = engine.handle_many(event)
    assert (outcome.records[0].after or "").startswith("TLSV1.2")
