"""Several OS processes reading ARM at once, each through its own `ArmReader`, as a scaled-out app does.

Used by the budget test and the lean bench: each process builds its reader (with the shared
Table bucket, or with only its own in-process bucket), waits at a barrier, then reads one
server's body `reads` times as fast as its bucket lets it. What ARM thought of that is in the
stand-in's stats (`throttled`: 429s answered).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LoadSpec:
    arm_endpoint: str
    ca_bundle: str
    storage_connection_string: str
    budget_table: str
    server_id: str
    reads: int
    burst: float
    rate: float
    shared: bool = True  # False: each process has only its own TokenBucket (the old behaviour)
    lease_seconds: float = 0.5


@dataclass(frozen=True)
class LoadReport:
    processes: int
    reads: int  # reads that succeeded
    failed: int  # reads that still failed after the SDK's retries
    seconds: float  # from the barrier to the last process done
    leases: int  # conditional updates of the budget row
    conflicts: int  # lost races on the budget row (retried)

    @property
    def reads_per_second(self) -> float:
        return self.reads / self.seconds if self.seconds else 0.0


def _reader_process(spec: LoadSpec, barrier: Any, results: Any) -> None:
    logging.getLogger("azure").setLevel(logging.CRITICAL)
    from azure.core.exceptions import AzureError

    from drift.armid import mysql_server_ref
    from drift.budget import SharedBucket
    from drift.local.credential import LocalCredential
    from drift.readers import ArmReader, TokenBucket

    bucket: Any
    if spec.shared:
        from azure.data.tables import TableClient

        from drift.transport import client_options

        table = TableClient.from_connection_string(spec.storage_connection_string, table_name=spec.budget_table,
                                                   **client_options())
        bucket = SharedBucket(table, burst=spec.burst, rate=spec.rate, lease_seconds=spec.lease_seconds)
    else:
        bucket = TokenBucket(spec.burst, spec.rate)
    reader = ArmReader(LocalCredential(), base_url=spec.arm_endpoint, connection_verify=spec.ca_bundle,
                       bucket=bucket)
    ref = mysql_server_ref(spec.server_id)
    assert ref is not None
    reader._client(ref.server.subscription_id)  # SDK imported and client built before the start line
    barrier.wait()
    ok = failed = 0
    for _ in range(spec.reads):
        try:
            reader.read(ref, "server")
            ok += 1
        except AzureError:
            failed += 1
    results.put((ok, failed, time.time(), getattr(bucket, "leases", 0), getattr(bucket, "conflicts", 0)))


def run(spec: LoadSpec, processes: int = 8) -> LoadReport:
    """Start `processes` readers together; returns when all are done."""
    # Fresh interpreters (no threads of the caller's), forked from one that imported the SDKs once.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["drift.budget", "drift.readers", "drift.local.credential",
                                "azure.mgmt.mysqlflexibleservers", "azure.data.tables"])
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    workers = [ctx.Process(target=_reader_process, args=(spec, barrier, results), daemon=True)
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    started = time.time()
    outcomes = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    return LoadReport(processes=processes, reads=sum(o[0] for o in outcomes), failed=sum(o[1] for o in outcomes),
                      seconds=max(o[2] for o in outcomes) - started, leases=sum(o[3] for o in outcomes),
                      conflicts=sum(o[4] for o in outcomes))
