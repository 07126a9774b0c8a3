"""Reconciliation: the true state of every server, whatever the events missed.

A scan lists the MySQL flexible servers of each watched subscription and checks every watched
setting of each through the same engine as events do (source `reconcile`): drift is recorded and
alerted, servers seen for the first time get their posture check, and servers that are gone get
their baselines closed.

It stays inside ARM's read budget (250 burst, 25/s per subscription and principal): every request
takes a token from the reader's bucket, a bounded pool of workers shares it, and the SDK honours
`Retry-After`. It is resumable: a checkpoint row per subscription records the servers already
done, so a timer invocation that dies half-way is continued by the next one, not restarted.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from drift import subscription
from drift.armid import mysql_server_ref
from drift.engine import DriftEngine, RetryableFailure

log = logging.getLogger(__name__)

RESUME_WITHIN = timedelta(hours=24)
CHUNK = 30_000  # characters per property: Table Storage caps a string property at 64 KiB (32K UTF-16 chars)


def server_mark(server_id: str) -> str:
    """A short, stable mark for a finished server: a checkpoint of 100,000 servers stays under 1 MiB."""
    return hashlib.sha256(server_id.lower().encode()).hexdigest()[:10]


def pack(marks: set[str]) -> dict[str, str]:
    text = ",".join(sorted(marks))
    return {f"done_{i}": text[start:start + CHUNK] for i, start in enumerate(range(0, len(text) or 1, CHUNK))}


def unpack(entity: dict) -> set[str]:
    text = "".join(entity[k] for k in sorted((k for k in entity if k.startswith("done_")), key=lambda k: int(k[5:])))
    return {m for m in text.split(",") if m}


CHECKPOINT_KEYS = {"PartitionKey", "RowKey", "Timestamp", "started_at", "run_id", "completed"}


def resumable_run(saved: dict[str, Any] | None, now: datetime,
                  subscription_id: str) -> tuple[str, str, set[str]] | None:
    """(run id, started at, servers done) of an unfinished recent run, or None to start afresh.

    A checkpoint row that cannot be read (a bad `started_at`, unknown keys, wrong types: a hand
    edit, a newer or older version) is logged and discarded, never fatal: it is only a shortcut,
    and the fresh run overwrites it.
    """
    if not saved or saved.get("completed") is True:
        return None
    try:
        unknown = {k for k in saved if k not in CHECKPOINT_KEYS and not re.fullmatch(r"done_\d{1,6}", k)}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)[:5]}")
        if saved.get("completed") not in (None, False):
            raise ValueError(f"completed is {saved.get('completed')!r}")
        run_id, started_at = saved.get("run_id"), saved.get("started_at")
        if not isinstance(run_id, str) or not re.fullmatch(r"[0-9a-f]{1,32}", run_id):
            raise ValueError(f"run_id is {run_id!r}"[:200])
        if not isinstance(started_at, str):
            raise ValueError(f"started_at is {started_at!r}"[:200])
        started = datetime.fromisoformat(started_at)
        if started.tzinfo is None:
            raise ValueError(f"started_at {started_at!r} has no time zone")
        if not all(isinstance(v, str) for k, v in saved.items() if k.startswith("done_")):
            raise ValueError("a done_ property is not a string")
        done = unpack(saved)
    except (TypeError, ValueError) as exc:
        log.warning("reconcile %s: checkpoint discarded, starting afresh: %s", subscription_id, exc)
        return None
    if not timedelta(0) <= now - started < RESUME_WITHIN:
        return None
    return run_id, started_at, done


@dataclass
class ScanReport:
    subscription_id: str
    run_id: str
    servers: int = 0
    checked: int = 0
    skipped: int = 0  # done by the interrupted run this one resumed
    recorded: int = 0
    alerts: int = 0
    closed: int = 0
    arm_requests: int = 0
    seconds: float = 0.0
    resumed: bool = False
    errors: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(self, engine: DriftEngine, *, workers: int = 8, checkpoint_every: int = 25,
                 progress_every: int = 50, progress: Callable[[str, int, int], None] | None = None) -> None:
        """`progress(subscription, servers done, servers listed)` is called once the servers are listed
        and after each one is checked (from the worker threads, one call at a time)."""
        self.engine = engine
        self.workers = workers
        self.checkpoint_every = checkpoint_every
        self.progress_every = progress_every
        self.progress = progress

    def scan(self, subscriptions: list[str]) -> list[ScanReport]:
        reports = [self.scan_subscription(s) for s in subscriptions]
        failed = [e for r in reports for e in r.errors]
        if failed:
            raise RetryableFailure(f"reconcile stopped early ({len(failed)} error(s)); the next run resumes: "
                                   + "; ".join(failed[:3]))
        return reports

    def scan_subscription(self, subscription_id: str) -> ScanReport:
        store, reader = self.engine.store, self.engine.reader
        started, requests_before = time.perf_counter(), getattr(reader, "requests", 0)
        now = self.engine.clock()
        resumable = resumable_run(store.checkpoint(subscription_id.lower()), now, subscription_id)
        resume = resumable is not None
        run_id, started_at, done = resumable or (uuid.uuid4().hex[:12], now.isoformat(), set())
        report = ScanReport(subscription_id, run_id, resumed=resume)
        state = {"started_at": started_at, "run_id": run_id}

        def save(completed: bool) -> None:
            store.save_checkpoint(subscription_id.lower(), {**state, **pack(done), "completed": completed})

        save(False)
        servers = reader.list_servers(subscription_id)
        report.servers = len(servers)
        todo = [s for s in servers if server_mark(str(s["id"])) not in done]
        report.skipped = len(servers) - len(todo)
        log.info("reconcile %s: %d servers, %d to check (run %s%s)", subscription_id, len(servers), len(todo),
                 run_id, ", resumed" if resume else "")
        lock = threading.Lock()
        if self.progress is not None:
            self.progress(subscription_id, report.skipped, report.servers)

        def check(server: dict) -> None:
            ref = mysql_server_ref(str(server["id"]))
            if ref is None:
                return
            outcome = self.engine.reconcile(ref, reader.scan_reads(ref, server), run_id)
            with lock:
                done.add(server_mark(str(server["id"])))
                report.checked += 1
                report.recorded += len(outcome.records)
                report.alerts += outcome.alerts_sent
                if report.checked % self.checkpoint_every == 0:
                    save(False)
                if self.progress is not None:
                    self.progress(subscription_id, report.checked + report.skipped, report.servers)
                if report.checked % self.progress_every == 0:
                    log.info("reconcile %s: %d/%d servers checked, %d ARM requests, %.0fs", subscription_id,
                             report.checked + report.skipped, report.servers,
                             getattr(reader, "requests", 0) - requests_before, time.perf_counter() - started)

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="reconcile") as pool:
            futures = [pool.submit(check, s) for s in todo]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failures = [f.exception() for f in finished if f.exception() is not None]
            if failures:
                for future in futures:
                    future.cancel()
        for exc in failures:
            report.errors.append(f"{type(exc).__name__}: {exc}")
        if failures:
            save(False)  # what is done stays done: the next run resumes from here
            log.warning("reconcile %s stopped after %d servers: %s", subscription_id, report.checked, report.errors[0])
        else:
            try:
                for handled in subscription.reconcile(self.engine, subscription_id, run_id,
                                                      [str(s.get("name") or "") for s in servers]):
                    report.recorded += len(handled.records)
                    report.alerts += handled.alerts_sent
            except Exception as exc:  # the servers are done: their closing and the checkpoint still are
                log.warning("reconcile %s: the subscription's own settings failed: %s", subscription_id, exc)
                report.errors.append(f"subscription settings: {type(exc).__name__}: {exc}")
            listed = {str(s["id"]).lower() for s in servers}
            for gone in store.known_servers(subscription_id):
                if gone.lower() not in listed:
                    self.engine.close_gone(gone, run_id)
                    report.closed += 1
            save(True)
        report.arm_requests = getattr(reader, "requests", 0) - requests_before
        report.seconds = time.perf_counter() - started
        log.info("reconcile %s: %d checked, %d changes, %d alerts, %d closed, %d ARM requests in %.1fs",
                 subscription_id, report.checked, report.recorded, report.alerts, report.closed, report.arm_requests,
                 report.seconds)
        return report
