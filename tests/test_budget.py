"""ARM's read budget is one per subscription for the whole app, however many processes read."""

from __future__ import annotations

import uuid

import pytest

from drift.armid import mysql_server_ref
from drift.budget import SharedBucket
from drift.config import Settings
from drift.local.arm import ArmStandIn
from drift.local.azurite import Azurite
from drift.local.loadgen import LoadSpec, run
from drift.local.tls import LocalCA
from drift.runtime import build_engine
from tests.conftest import SUBSCRIPTION

# ARM's bucket scaled down so that 8 processes must wait for refills within seconds; the shared
# bucket keeps the same margins as in production: burst + rate * lease (15 + 9 * 0.3) under ARM's 20.
ARM_BURST, ARM_RATE = 20, 10
READS_EACH = 6


def table_client(azurite: Azurite) -> object:
    from azure.data.tables import TableClient

    return TableClient.from_connection_string(azurite.connection_string, table_name=f"b{uuid.uuid4().hex[:16]}")


def spec(arm: ArmStandIn, ca: LocalCA, azurite: Azurite, *, shared: bool) -> LoadSpec:
    arm.seed_server(SUBSCRIPTION, "rg-budget", "budget-db")
    return LoadSpec(arm_endpoint=arm.url, ca_bundle=str(ca.ca_bundle),
                    storage_connection_string=azurite.connection_string, budget_table=f"b{uuid.uuid4().hex[:16]}",
                    server_id=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-budget/providers/"
                              "Microsoft.DBforMySQL/flexibleServers/budget-db",
                    reads=READS_EACH, burst=15, rate=ARM_RATE * 0.9, lease_seconds=0.3, shared=shared)


def test_eight_processes_sharing_the_table_bucket_draw_no_429(arm: ArmStandIn, ca: LocalCA, azurite: Azurite) -> None:
    load = spec(arm, ca, azurite, shared=True)
    arm.limit_reads(burst=ARM_BURST, rate=ARM_RATE)
    report = run(load, processes=8)
    assert arm.stats.throttled == 0
    assert (report.reads, report.failed) == (8 * READS_EACH, 0)
    assert arm.stats.reads == 8 * READS_EACH, "no read was retried: none was refused"
    # 48 reads against a 20-token bucket: the processes had to wait for refills between them.
    assert report.seconds >= (8 * READS_EACH - ARM_BURST) / ARM_RATE


def test_the_same_processes_with_only_their_own_buckets_are_throttled(
    arm: ArmStandIn, ca: LocalCA, azurite: Azurite
) -> None:
    """The stand-in really enforces the budget: eight private buckets together overdraw it."""
    load = spec(arm, ca, azurite, shared=False)
    arm.limit_reads(burst=ARM_BURST, rate=ARM_RATE)
    run(load, processes=8)
    assert arm.stats.throttled > 0


def test_unspent_leased_tokens_expire_and_the_slice_shrinks_to_what_was_spent(azurite: Azurite) -> None:
    now = [1_000.0]
    bucket = SharedBucket(table_client(azurite), burst=100, rate=10, max_slice=8, lease_seconds=1.0,
                          clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(1 + 2 + 4 + 8):  # slices of 1, 2, 4, 8 spent in full: the slice doubles
        bucket.acquire("sub")
    assert bucket.leases == 4
    row = bucket._table.get_entity("arm", "sub")  # type: ignore[attr-defined]
    assert row["tokens"] == 100 - 15

    bucket.acquire("sub")  # a new lease of 8 (the cap), one spent
    now[0] += 1.5  # past the lease: the 7 left are not spent later, when ARM may have no room for them
    bucket.acquire("sub")
    assert bucket.leases == 6
    row = bucket._table.get_entity("arm", "sub")  # type: ignore[attr-defined]
    assert row["tokens"] == pytest.approx(100 - 15 - 8 - 1 + 1.5 * 10), "the next slice is what the last one spent"


def test_on_an_empty_row_a_process_reserves_its_slice_ahead_and_waits_for_the_refill(azurite: Azurite) -> None:
    now = [5_000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    table = table_client(azurite)
    first = SharedBucket(table, burst=3, rate=2, clock=lambda: now[0], sleep=sleep)
    second = SharedBucket(table, burst=3, rate=2, clock=lambda: now[0], sleep=sleep)
    first.acquire("sub")
    second.acquire("sub")
    assert slept == []
    first.acquire("sub")  # its next slice is 2, the row has 1: the second token is covered 0.5 s later
    assert first.conflicts == 1, "the row it wrote last had changed: it read it again"
    waits = [s for s in slept if s > 0.05]  # a lost race backs off up to 20 ms
    assert waits == [0.5]
    second.acquire("sub")  # the row is empty: 2 tokens at 2/s
    assert [s for s in slept if s > 0.05] == [0.5, pytest.approx(1.0, abs=0.05)]
    row = table.get_entity("arm", "sub")  # type: ignore[attr-defined]
    assert row["tokens"] == pytest.approx(-2, abs=0.1), "reserved ahead, repaid by the refill"


def test_an_unreachable_table_falls_back_to_a_static_share_of_the_budget() -> None:
    from azure.data.tables import TableClient

    cs = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
          "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    now = [9_000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = SharedBucket(TableClient.from_connection_string(cs, table_name="nowhere", retry_total=0),
                          burst=80, rate=40, fallback_share=40, clock=lambda: now[0], sleep=sleep)
    bucket.acquire("sub")
    bucket.acquire("sub")  # the fallback bucket: 80/40 = 2 tokens at once, then 1 a second
    assert bucket.fallbacks == 1 and slept == []
    bucket.acquire("sub")
    assert slept == [pytest.approx(1.0)]


def test_the_app_reads_arm_through_the_shared_bucket(settings: Settings, arm: ArmStandIn, azurite: Azurite) -> None:
    from azure.data.tables import TableClient

    arm.seed_server(SUBSCRIPTION, "rg-budget", "app-db")
    engine = build_engine(settings)
    ref = mysql_server_ref(f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-budget/providers/"
                           "Microsoft.DBforMySQL/flexibleServers/app-db")
    assert ref is not None
    engine.reader.read(ref, "server")  # type: ignore[attr-defined]
    budget = TableClient.from_connection_string(azurite.connection_string, table_name=f"{settings.table_name}budget")
    row = budget.get_entity("arm", SUBSCRIPTION)
    assert row["tokens"] < 225, "the read's token came out of the app-wide row"
