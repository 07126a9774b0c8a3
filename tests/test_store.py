"""BaselineStore on Azurite: readable keys, atomic commits, ETags and the alert outbox's leases."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from drift.config import Settings
from drift.model import HistoryRecord
from drift.runtime import build_store
from drift.store import BaselineStore, Change, ConcurrentUpdate, decode_key, encode_key

SERVER = "/subscriptions/S/resourceGroups/RG.1(x)/providers/Microsoft.DBforMySQL/flexibleServers/db1"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def record(setting: str = "tls_version", event_id: str = "e1") -> HistoryRecord:
    return HistoryRecord(server_id=SERVER, server="db1", setting=setting, before="TLSV1.3", after="TLSV1.2",
                         verdict="weakened", severity="medium", why="w", event_id=event_id, event_time=NOW.isoformat(),
                         detected_at=NOW.isoformat(), operation="op", changed_by="me", client_ip=None,
                         correlation_id=None, alert_status="pending")


@pytest.fixture
def store(settings: Settings) -> BaselineStore:
    return build_store(settings)


@pytest.mark.parametrize("value", [SERVER, "/subscriptions/s/a#b?c\\d|e%f/x", "/Ünïcode/ü"])
def test_keys_encode_arm_ids_reversibly_without_characters_the_service_refuses(value: str) -> None:
    key = encode_key(value)
    assert not any(ch in key for ch in "/\\#?")
    assert decode_key(key) == value.lower()


def test_keys_stay_readable() -> None:
    expected = "subscriptions|s|resourcegroups|rg.1(x)|providers|microsoft.dbformysql|flexibleservers|db1"
    assert encode_key(SERVER) == expected


def test_a_commit_writes_baseline_history_and_outbox_together(store: BaselineStore) -> None:
    queued = store.commit(SERVER, "db1", [Change("tls_version", "TLSV1.2", None, record(), alert_group="tls")],
                          owner="a", now=NOW)
    rows = store.load(SERVER)
    assert rows.baselines["tls_version"].state == "TLSV1.2"
    assert [i.row_key for i in rows.outbox] == [queued[0].row_key]
    assert [r.setting for r in store.history(server_id=SERVER)] == ["tls_version"]


def test_a_commit_that_conflicts_writes_nothing_at_all(store: BaselineStore) -> None:
    store.commit(SERVER, "db1", [Change("tls_version", "TLSV1.3", None, None)], owner="a", now=NOW)
    stale = store.load(SERVER).baselines["tls_version"]
    store.commit(SERVER, "db1",
                 [Change("tls_version", "TLSV1.2", stale, record("tls_version", "e1"), alert_group="tls")],
                 owner="a", now=NOW)

    with pytest.raises(ConcurrentUpdate):  # the second writer still holds the old ETag
        store.commit(SERVER, "db1", [
            Change("aad_auth_only", "OFF", None, record("aad_auth_only", "e2"), alert_group="tls"),
            Change("tls_version", "TLSV1.0", stale, record("tls_version", "e2"), alert_group="tls"),
        ], owner="b", now=NOW + timedelta(seconds=1))

    rows = store.load(SERVER)
    assert set(rows.baselines) == {"tls_version"} and rows.baselines["tls_version"].state == "TLSV1.2"
    assert [r.event_id for r in store.history(server_id=SERVER)] == ["e1"]
    assert len(rows.outbox) == 1


def test_two_first_sightings_of_one_setting_cannot_both_win(store: BaselineStore) -> None:
    store.commit(SERVER, "db1", [Change("tls_version", "TLSV1.3", None, None)], owner="a", now=NOW)
    with pytest.raises(ConcurrentUpdate):
        store.commit(SERVER, "db1", [Change("tls_version", "TLSV1.2", None, record(), alert_group="tls")],
                     owner="b", now=NOW)


def test_an_outbox_lease_keeps_other_instances_off_until_it_expires_or_is_released(store: BaselineStore) -> None:
    store.commit(SERVER, "db1", [Change("tls_version", "TLSV1.2", None, record(), alert_group="tls")],
                 owner="a", now=NOW)
    [item] = store.load(SERVER).outbox
    assert not item.claimable("b", NOW + timedelta(seconds=30))
    assert item.claimable("b", NOW + timedelta(seconds=61))

    store.release(SERVER, item, error="HTTP 500")
    [item] = store.load(SERVER).outbox
    assert item.claimable("b", NOW) and item.attempts == 1
    seen_by_c = copy.copy(item)
    assert store.claim(SERVER, item, owner="b", now=NOW)
    [taken] = store.load(SERVER).outbox
    assert not taken.claimable("c", NOW)
    assert not store.claim(SERVER, seen_by_c, owner="c", now=NOW), "c read the row before b claimed it"

    store.delivered(SERVER, item, now=NOW)
    assert store.load(SERVER).outbox == []
    assert [r.alert_status for r in store.history(server_id=SERVER)] == ["sent"]


def test_known_servers_of_a_subscription_are_exactly_its_own_not_those_of_an_id_sharing_its_prefix(
    store: BaselineStore,
) -> None:
    first, second = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
    longer = first + "0"  # not a GUID, but an id the prefix of which is `first`: the range must stop at the `|`
    ids = {sub: f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.DBforMySQL/flexibleServers/db-{n}"
           for n, sub in enumerate((first, second, longer))}
    for server in ids.values():
        store.commit(server, server.rsplit("/", 1)[1], [Change("tls_version", "TLSV1.3", None, None)],
                     owner="a", now=NOW)

    assert store.known_servers(first) == [ids[first]]
    assert store.known_servers(second) == [ids[second]]


def test_the_app_builds_one_credential_for_arm_tables_and_queues(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second credential would mean a second managed-identity token fetch on the first event that writes."""
    from drift import runtime
    from drift.config import Settings

    built: list[object] = []
    make = runtime._credential
    monkeypatch.setattr(runtime, "_credential", lambda settings: built.append(settings) or make(settings))
    settings = Settings(local_credential=True, notifiers=["console"],
                        storage_table_endpoint="https://account.table.core.windows.net",
                        storage_queue_endpoint="https://account.queue.core.windows.net")
    engine = runtime.build_engine(settings)
    assert engine.store.index is not None  # the table client is built now, on first use
    assert len(built) == 1
