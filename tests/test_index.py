"""The index partition: what the sweep, the scan, `history --since` and `ack` read, and how it survives
a process killed between an index write and the rows it points at."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from drift.config import Settings
from drift.engine import RetryableFailure
from drift.index import ALERT, COPY, INDEX
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from drift.runtime import build_engine
from tests.conftest import SUBSCRIPTION
from tests.helpers import create_compliant_server, server_id, set_parameter


def markers(settings: Settings, prefix: str) -> list[Any]:
    engine = build_engine(settings)
    return engine.store.index._range(prefix)


def watched(settings: Settings, sdk: Any, arm: ArmStandIn, name: str) -> Any:
    """An engine with a compliant server already baselined."""
    engine = build_engine(settings)
    create_compliant_server(sdk, name)
    engine.handle_many(arm.drain_events())
    return engine


def run_killed(settings: Settings, events: list[dict[str, Any]], body: str) -> None:
    """Run `body` in a fresh process with `engine` built from `settings` and `events`; it must end killed
    (SIGKILL) where the body says."""
    env = {**os.environ, "DRIFT_ARM_ENDPOINT": str(settings.arm_endpoint),
           "DRIFT_ARM_CA_BUNDLE": str(settings.arm_ca_bundle), "DRIFT_ARM_CREDENTIAL": "local",
           "DRIFT_STORAGE_CONNECTION_STRING": str(settings.storage_connection_string),
           "DRIFT_TABLE_NAME": settings.table_name, "DRIFT_NOTIFIERS": "teams",
           "DRIFT_TEAMS_WEBHOOK_URL": str(settings.teams_webhook_url), "DRIFT_RECHECK_QUEUE": settings.recheck_queue}
    code = textwrap.dedent("""
        import json, os, signal, sys
        from drift.config import Settings
        from drift.runtime import build_engine
        from drift.index import StoreIndex
        def die(*_a, **_k):
            os.kill(os.getpid(), signal.SIGKILL)
        engine = build_engine(Settings.from_env())
        events = json.loads(sys.stdin.read())
    """) + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], env=env, input=json.dumps(events), text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]


def test_a_process_killed_after_the_index_write_before_the_commit_leaves_no_history_behind(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    events = arm.drain_events()
    since = datetime.now(UTC) - timedelta(minutes=1)
    run_killed(settings, events, """
        batch = engine.store._table.submit_transaction
        def commit_dies(operations, **kwargs):  # the index batch goes out; the commit never does
            if operations[0][1]["PartitionKey"] != "~index":
                import time
                time.sleep(1.0)  # the index batch, beside it, lands first
                die()
            return batch(operations, **kwargs)
        engine.store._table.submit_transaction = commit_dies
        engine.handle_many(events)
    """)
    assert len(markers(settings, COPY)) == 1, "the history copy was written before the process died"
    assert engine.store.history(server_id=server_id(server_name)) == [], "and the commit never landed"
    assert [r for r in engine.store.history(since=since) if r.server == server_name] == [], "no phantom row"

    [outcome] = engine.handle_many(events)  # Event Grid delivers the event again
    assert outcome.status == "recorded" and len(teams.messages()) == 1
    assert [r.event_id for r in engine.store.history(since=since) if r.server == server_name] == [events[0]["id"]]


def test_a_process_killed_after_the_commit_before_its_index_rows_gets_them_from_the_events_retry(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    events = arm.drain_events()
    since = datetime.now(UTC) - timedelta(minutes=1)
    run_killed(settings, events, """
        import time
        def index_dies(*args, **kwargs):  # the commit, beside it, lands first
            time.sleep(1.0)
            die()
        StoreIndex.before_commit = index_dies
        engine.handle_many(events)
    """)
    assert [r.event_id for r in engine.store.history(server_id=server_id(server_name))] == [events[0]["id"]]
    assert [r for r in engine.store.history(since=since) if r.server == server_name] == [], "no copy yet"

    engine.handle_many(events)  # the invocation died, so Event Grid delivers the event again
    assert [r.event_id for r in engine.store.history(since=since) if r.server == server_name] == [events[0]["id"]]
    assert engine.store.acknowledge(events[0]["id"], "seen", "now") == 1, "its event marker is back too"


def test_a_process_killed_after_the_commit_before_the_post_is_sent_once_through_the_retry_and_the_sweep(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    events = arm.drain_events()
    run_killed(settings, events, """
        from drift.outbox import AlertOutbox
        AlertOutbox.deliver = die  # committed, alert in the outbox, nothing sent
        engine.handle_many(events)
    """)
    assert teams.messages() == [] and markers(settings, ALERT) == [], "an alert sent at once has no marker"

    [outcome] = engine.handle_many(events)  # the invocation failed, so Event Grid delivers the event again
    assert outcome.status == "unchanged" and teams.messages() == []
    assert len(markers(settings, ALERT)) == 1, "still leased to the dead invocation: handed to the sweep"

    engine.outbox.clock = lambda: datetime.now(UTC) + timedelta(minutes=3)  # the lease has run out
    assert engine.sweep()["sent"] == 1 and len(teams.messages()) == 1
    [row] = engine.store.history(server_id=server_id(server_name))
    assert row.alert_status == "sent" and markers(settings, ALERT) == []
    assert engine.sweep()["pending"] == 0 and len(teams.messages()) == 1


def test_a_sweep_killed_after_delivery_before_the_marker_is_removed_sends_nothing_twice(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "require_secure_transport", "OFF")
    teams.add_fault(503)
    with pytest.raises(RetryableFailure):
        engine.handle_many(arm.drain_events())
    assert len(markers(settings, ALERT)) == 1, "a failed delivery hands the alert to the sweep"
    teams.clear()

    run_killed(settings, [], """
        StoreIndex.alert_gone = die  # sent, outbox row deleted, history marked sent; the marker stays
        engine.sweep()
    """)
    assert len(teams.messages()) == 1
    assert len(markers(settings, ALERT)) == 1

    engine.outbox.clock = lambda: datetime.now(UTC) + timedelta(minutes=3)
    assert engine.sweep()["sent"] == 0
    assert markers(settings, ALERT) == [] and len(teams.messages()) == 1
    [row] = engine.store.history(server_id=server_id(server_name))
    assert row.alert_status == "sent"


def test_the_sweep_with_nothing_pending_reads_one_partition_whatever_the_history_holds(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    for value in ("OFF", "ON", "OFF", "ON"):
        set_parameter(sdk, server_name, "aad_auth_only", value)
        engine.handle_many(arm.drain_events())
    queries: list[str] = []
    table = engine.store._table
    original = table.query_entities
    table.query_entities = lambda query, **kw: queries.append(query) or original(query, **kw)
    assert engine.sweep()["pending"] == 0
    assert queries == ["PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"], "one range of ~index only"


def test_known_servers_history_since_and_ack_read_through_the_index(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    set_parameter(sdk, server_name, "aad_auth_only", "OFF")
    [event] = arm.drain_events()
    engine.handle_many([event])

    assert engine.store.known_servers(SUBSCRIPTION) == [server_id(server_name)]
    assert engine.store.known_servers(SUBSCRIPTION[:-1] + "0") == []
    since = datetime.now(UTC) - timedelta(minutes=5)
    assert [r.event_id for r in engine.store.history(since=since) if r.server == server_name] == [event["id"]]
    assert engine.store.history(since=datetime.now(UTC) + timedelta(minutes=5)) == []
    assert engine.store.acknowledge(event["id"], "seen", "now") == 1
    kinds = {prefix for prefix in ("server|", "at|", "event|") if markers(settings, prefix)}
    assert kinds == {"server|", "at|", "event|"}, f"every reader found its markers in {INDEX}"
    [acked] = [r for r in engine.store.history(since=since) if r.server == server_name]
    assert acked.acknowledged == "seen (now)", "the copy the cross-server history reads is acknowledged too"


def test_a_server_name_is_found_through_its_name_marker_without_scanning_the_table(
    settings: Settings, sdk: Any, arm: ArmStandIn, server_name: str,
) -> None:
    engine = watched(settings, sdk, arm, server_name)
    queries: list[tuple[str, dict[str, Any]]] = []
    table = engine.store._table
    original = table.query_entities
    table.query_entities = lambda query, **kw: (queries.append((query, kw.get("parameters", {})))
                                                or original(query, **kw))

    assert engine.store.server_ids(server_name.upper()) == [server_id(server_name)]
    [(query, parameters)] = queries
    assert (query, parameters["pk"]) == ("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi", INDEX)
    assert parameters["lo"] == f"name|{server_name.lower()}|", "one key range: the name's own markers"

    queries.clear()
    assert engine.store.server_ids("no-such-server") == []
    assert len(queries) == 2, "a name without markers falls back to the scan (servers baselined before them)"
