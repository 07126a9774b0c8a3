"""Reconciliation finds what events missed, stays inside ARM's read budget, and resumes where it stopped."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from drift.config import Settings
from drift.engine import RetryableFailure
from drift.local.arm import ArmStandIn, parameter_catalogue
from drift.local.receivers import TeamsReceiver
from drift.readers import TokenBucket
from drift.reconcile import Reconciler
from drift.runtime import build_engine
from tests.conftest import CHILD_PAGE_SIZE, SUBSCRIPTION
from tests.helpers import create_compliant_server, server_id, set_parameter

OTHER_SUB = "0a1b2c3d-0000-4000-8000-00000000abcd"  # a subscription of its own: no other test's servers


def fleet(arm: ArmStandIn, count: int, prefix: str) -> list[str]:
    """Servers that exist before the detector, created without events (as if it had just been deployed)."""
    return fleet_in(arm, OTHER_SUB, count, prefix)


def fleet_in(arm: ArmStandIn, subscription_id: str, count: int, prefix: str) -> list[str]:
    names = [f"{prefix}-{n:03d}" for n in range(count)]
    for name in names:
        arm.seed_server(subscription_id, "rg-fleet", name,
                        properties={"network": {"publicNetworkAccess": "Disabled"}})
    return names


def test_a_change_made_while_events_were_off_is_found_by_the_next_scan(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    arm.emit_events = False  # a misconfigured Event Grid subscription
    set_parameter(sdk, server_name, "require_secure_transport", "OFF")
    assert arm.drain_events() == []

    [report] = Reconciler(engine).scan([SUBSCRIPTION])

    rows = [r for r in engine.store.history(server_id=server_id(server_name))]
    assert [(r.setting, r.verdict, r.operation, r.changed_by) for r in rows] == [
        ("require_secure_transport", "weakened", "reconcile", "reconcile (no caller known)")]
    server_cards = [m for m in teams.messages() if server_name in str(m) and "plan (subscription)" not in str(m)]
    assert rows[0].alert_status == "sent" and len(server_cards) == 1
    assert report.checked >= 1 and report.errors == []
    [again] = Reconciler(engine).scan([SUBSCRIPTION])
    assert len(engine.store.history(server_id=server_id(server_name))) == 1, "a second scan finds nothing new"
    assert again.recorded == 0


def test_servers_seen_first_by_a_scan_get_their_posture_check_and_gone_ones_are_closed(
    settings: Settings, arm: ArmStandIn, teams: TeamsReceiver,
) -> None:
    engine = build_engine(settings)
    names = fleet(arm, 3, "first")
    [report] = Reconciler(engine).scan([OTHER_SUB])
    assert (report.servers, report.checked, report.alerts) == (3, 3, 4), \
        "one posture card per new server, and one for the subscription's Defender plan (Free on a new subscription)"
    assert len(teams.messages()) == 4
    [plan_card] = [str(m) for m in teams.messages() if "plan (subscription)" in str(m)]
    assert all(name in plan_card for name in names), "the plan's card names every server of the subscription"

    arm._servers.pop(next(k for k in arm._servers if k[2] == names[0]))  # deleted while events were off
    [report] = Reconciler(engine).scan([OTHER_SUB])
    assert report.closed == 1
    gone = f"/subscriptions/{OTHER_SUB}/resourceGroups/rg-fleet/providers/Microsoft.DBforMySQL/flexibleServers/"
    assert engine.store.history(server_id=gone + names[0])[0].after == "deleted"


def test_a_scan_stays_inside_the_read_bucket_without_a_single_429(settings: Settings, arm: ArmStandIn) -> None:
    arm.limit_reads(burst=20, rate=40)  # ARM's shape (250 burst, 25/s), scaled down for a fast test
    engine = build_engine(settings)
    engine.reader.bucket = TokenBucket(burst=18, rate=36)  # type: ignore[attr-defined]  # 10% under
    fleet(arm, 12, "bucket")
    arm.reset_stats()
    [report] = Reconciler(engine, workers=6).scan([OTHER_SUB])
    assert report.checked == 12 and report.errors == []
    assert arm.stats.throttled == 0
    assert arm.stats.reads == report.arm_requests > 20, "more reads than the burst: the bucket had to refill"
    assert engine.reader.bucket.waited > 0  # type: ignore[attr-defined]


def test_without_the_client_bucket_the_same_scan_is_throttled(settings: Settings, arm: ArmStandIn) -> None:
    """The stand-in really enforces the budget: the test above would fail without the client's bucket."""
    arm.limit_reads(burst=20, rate=40)
    engine = build_engine(settings)
    engine.reader.bucket = TokenBucket(burst=10_000, rate=10_000)  # type: ignore[attr-defined]
    fleet(arm, 12, "nobucket")
    with contextlib.suppress(RetryableFailure):
        Reconciler(engine, workers=6).scan([OTHER_SUB])
    assert arm.stats.throttled > 0


def test_a_scan_that_dies_half_way_resumes_instead_of_restarting(settings: Settings, arm: ArmStandIn) -> None:
    engine = build_engine(settings)
    names = fleet(arm, 6, "resume")
    arm.add_fault(status=400, path_contains=f"/flexibleservers/{names[3]}/firewallrules")  # not retried

    with pytest.raises(RetryableFailure, match="the next run resumes"):
        Reconciler(engine, workers=1, checkpoint_every=1).scan([OTHER_SUB])
    arm.reset_stats()
    [report] = Reconciler(engine, workers=1).scan([OTHER_SUB])

    assert report.resumed and report.skipped >= 1 and report.checked >= 1
    assert report.skipped + report.checked == 6
    parameter_pages = -(-len(parameter_catalogue("8.0.21")) // CHILD_PAGE_SIZE)  # the listing is paged
    # firewall, parameters, admins, endpoints, Defender, diagnostics (server: from the list)
    reads_per_server = 5 + parameter_pages
    assert arm.stats.reads == 1 + 1 + report.checked * reads_per_server, \
        "the listing, the subscription's Defender plan, and the servers left"
    [fresh] = Reconciler(engine, workers=1).scan([OTHER_SUB])
    assert not fresh.resumed and fresh.checked == 6, "a completed run is not resumed"


def test_scan_command_names_what_it_needs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                          settings: Settings) -> None:
    from drift.cli import main

    monkeypatch.setenv("DRIFT_STORAGE_CONNECTION_STRING", str(settings.storage_connection_string))
    monkeypatch.delenv("DRIFT_WATCHED_SUBSCRIPTIONS", raising=False)
    assert main(["scan"]) == 2
    assert "DRIFT_WATCHED_SUBSCRIPTIONS" in capsys.readouterr().err


def test_reconcile_timer_takes_its_schedule_from_an_app_setting() -> None:
    from tests.function_index import functions

    [timer] = [f for f in functions() if f.get_function_name() == "reconcile"]
    assert timer.get_bindings_dict()["bindings"][0]["schedule"] == "%DRIFT_RECONCILE_SCHEDULE%"




def test_a_checkpoint_of_many_servers_fits_table_storage_limits() -> None:
    from drift.reconcile import CHUNK, pack, server_mark, unpack

    marks = {server_mark(f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.DBforMySQL/flexibleServers/s{n}")
             for n in range(20_000)}
    packed = pack(marks)
    assert all(len(v) <= CHUNK for v in packed.values()) and len(packed) > 1
    assert unpack(packed) == marks
    assert unpack(pack(set())) == set()


def test_a_scan_of_one_subscription_leaves_the_servers_of_another_with_a_shared_prefix_open(
    settings: Settings, arm: ArmStandIn,
) -> None:
    first, second = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    arm.seed_server(first, "rg-a", "only-in-first")
    arm.seed_server(second, "rg-b", "only-in-second")
    engine = build_engine(settings)
    Reconciler(engine).scan([second])

    [report] = Reconciler(engine).scan([first])

    assert report.closed == 0, "the servers of ...0002 are not gone because ...0001 does not list them"
    kept = f"/subscriptions/{second}/resourceGroups/rg-b/providers/Microsoft.DBforMySQL/flexibleServers/only-in-second"
    assert engine.store.known_servers(second) == [kept]
    assert all(r.after != "deleted" for r in engine.store.history(server_id=kept))


@pytest.mark.parametrize("damage", [
    {"started_at": "yesterday"},
    {"started_at": "2026-11-30T10:00:00"},  # no time zone: cannot be compared with an aware clock
    {"started_at": 1764496800},
    {"run_id": None},
    {"done_x": "abc"},
    {"schema_version": 2},
], ids=["started_at-not-iso", "started_at-naive", "started_at-number", "no-run-id", "bad-done-key", "unknown-key"])
def test_a_checkpoint_that_cannot_be_read_is_logged_and_discarded_and_the_scan_starts_afresh(
    settings: Settings, arm: ArmStandIn, caplog: pytest.LogCaptureFixture, damage: dict[str, Any],
    endpoints_file: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from drift.cli import main

    sub = "0a1b2c3d-0000-4000-8000-0000000c4e61"
    for n in range(3):
        arm.seed_server(sub, "rg-cp", f"cp-{n}")
    engine = build_engine(settings)
    good = {"started_at": engine.clock().isoformat(), "run_id": "abc123", "completed": False, "done_0": ""}
    engine.store.ensure_table()
    engine.store.save_checkpoint(sub, {**good, **damage})

    with caplog.at_level(logging.WARNING, logger="drift.reconcile"):
        [report] = Reconciler(engine).scan([sub])
    assert not report.resumed and report.checked == 3 and report.errors == []
    assert "checkpoint discarded, starting afresh" in caplog.text

    engine.store.save_checkpoint(sub, {**good, **damage})  # and the CLI, which died with a traceback
    endpoints_file.write_text(json.dumps({**json.loads(endpoints_file.read_text()), "subscription_id": sub}))
    assert main(["scan", "--subscription", sub, "--endpoints-file", str(endpoints_file)]) == 0
    assert f"{sub}: 3 server(s) checked" in capsys.readouterr().out


def test_a_failing_subscription_setting_read_still_lets_the_scan_close_gone_servers_and_finish(
    settings: Settings, arm: ArmStandIn,
) -> None:
    engine = build_engine(settings)
    names = fleet(arm, 2, "plan")
    Reconciler(engine).scan([OTHER_SUB])
    arm._servers.pop(next(k for k in arm._servers if k[2] == names[0]))
    arm.add_fault(status=403, times=50, method="GET", path_contains="Microsoft.Security/pricings")

    with pytest.raises(RetryableFailure, match=r"subscription settings: .*403"):
        Reconciler(engine).scan([OTHER_SUB])  # the run says it failed ...
    gone = f"/subscriptions/{OTHER_SUB}/resourceGroups/rg-fleet/providers/Microsoft.DBforMySQL/flexibleServers/"
    assert engine.store.history(server_id=gone + names[0])[0].after == "deleted", "... but closed the gone server"
    assert engine.store.checkpoint(OTHER_SUB.lower())["completed"], "... and completed its checkpoint"


# `mysql-drift scan` in a process of its own, with the one interleaving that split a server's first posture
# check (the detector modules load on first use): a worker asks for the detectors after the other worker
# has begun loading them and before it is done. The hooks only hold the loading thread and order the asking
# one; every read, judgement and commit is the real one.
SCAN_WHILE_THE_DETECTORS_LOAD = '''
import importlib.abc, sys, threading, time

import detectors

loading_began = threading.Event()  # the first detector module has registered, the others have not yet
other_asked = threading.Event()
first: list[int] = []
lock = threading.Lock()
real_all_reads = detectors.all_reads


def all_reads():
    with lock:
        loader = not first
        if loader:
            first.append(threading.get_ident())
    if not loader and threading.get_ident() != first[0] and not other_asked.is_set():
        loading_began.wait(10)
        other_asked.set()
    return real_all_reads()


class HoldTheSecondModule(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "detectors." + detectors.MODULES[1] and first and threading.get_ident() == first[0]:
            loading_began.set()
            other_asked.wait(10)
            time.sleep(0.3)  # the other worker's call returns with what it found, or waits for the loading
        return None


detectors.all_reads = all_reads
sys.meta_path.insert(0, HoldTheSecondModule())
from drift.cli import main

code = main(sys.argv[1:])
print("forced interleaving" if other_asked.is_set() else "no interleaving", file=sys.stderr)
sys.exit(code)
'''


def test_workers_of_a_fresh_scan_process_each_check_every_setting_of_their_new_server(
    settings: Settings, arm: ArmStandIn, endpoints_file: Path,
) -> None:
    """Found as: a scan with 2 workers in a fresh process recorded part of a new server's posture check
    (23 of 28 rows) and the next scan the rest as first seen. The worker that asked for the detectors while
    the other was importing them got the few registered so far."""
    import subprocess
    import sys

    import detectors
    from drift.armid import mysql_server_ref

    sub = "0a1b2c3d-0000-4000-8000-0000000f1e57"
    names = fleet_in(arm, sub, 2, "cold")
    endpoints_file.write_text(json.dumps({**json.loads(endpoints_file.read_text()), "subscription_id": sub}))

    done = subprocess.run([sys.executable, "-c", SCAN_WHILE_THE_DETECTORS_LOAD, "scan", "--workers", "2",
                           "--quiet", "--endpoints-file", str(endpoints_file)],
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr[-3000:]
    assert "forced interleaving" in done.stderr, "the second worker asked while the first was loading"
    engine = build_engine(settings)
    every = {d.setting for d in detectors.all_detectors() if d.scope == "server"}
    missing = {}
    for name in names:
        ref = mysql_server_ref(f"/subscriptions/{sub}/resourceGroups/rg-fleet/providers/"
                               f"Microsoft.DBforMySQL/flexibleServers/{name}")
        assert ref is not None
        baselines = engine.store.load(ref.server_id).baselines
        if every - set(baselines):
            missing[name] = sorted(every - set(baselines))
    assert missing == {}, "each new server's first check baselines every setting, in one commit"
    [again] = Reconciler(engine, workers=2).scan([sub])
    assert again.recorded == 0, "nothing is left for the next scan to see for the first time"


def test_a_server_whose_read_fails_gets_none_of_its_posture_check_and_the_next_scan_all_of_it(
    settings: Settings, arm: ArmStandIn,
) -> None:
    """All or nothing per server: a setting that could not be read fails the scan loudly and leaves nothing
    of that server's first check behind, so the next scan records every setting as first seen, once."""
    import detectors

    sub = "0a1b2c3d-0000-4000-8000-00000000a11e"
    calm, failing = fleet_in(arm, sub, 2, "whole")
    ids = {n: f"/subscriptions/{sub}/resourceGroups/rg-fleet/providers/Microsoft.DBforMySQL/flexibleServers/{n}"
           for n in (calm, failing)}
    every = {d.setting for d in detectors.all_detectors() if d.scope == "server"}
    engine = build_engine(settings)
    arm.add_fault(status=403, path_contains=f"/flexibleservers/{failing}/advancedthreatprotectionsettings")

    with pytest.raises(RetryableFailure, match=r"reconcile stopped early .*403"):
        Reconciler(engine, workers=2).scan([sub])
    assert engine.store.load(ids[failing]).baselines == {}, "no part of the check of the unread server"
    assert engine.store.history(server_id=ids[failing]) == []

    [second] = Reconciler(engine, workers=2).scan([sub])
    assert second.errors == [] and set(engine.store.load(ids[failing]).baselines) == every
    first_seen = engine.store.history(server_id=ids[failing])
    assert sorted(r.setting for r in first_seen) == sorted(r.setting for r in engine.store.history(
        server_id=ids[calm])), "the same findings as its twin, read in one go"
    assert {r.before for r in first_seen} == {None}, "seen for the first time"
    [third] = Reconciler(engine, workers=2).scan([sub])
    assert third.recorded == 0
