"""What the console's fleet page costs for a fleet of 500 servers with open findings, on the local stack.

The servers are made with the SDK on the ARM stand-in (Azure's defaults, some created secure, some
opened to the internet) and their events handled by the engine, so the table holds what a watched
fleet holds: baselines, history, findings and the `~index` markers. Then the fleet page is asked
for through `Console.handle` (the code the Function route runs) and over HTTP from the local
server, and the bench prints, per page: ms to render (first ask, then the median of the next
ones), table queries, pages (Azure answers at most 1,000 entities a page) and entities read, point
reads, and the page's size. Target: the fleet for 500 servers in under one second.

    .venv/bin/python bench/console_bench.py [--servers 500] [--runs 5]
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from drift.console import data, pages
from drift.console.app import Console
from drift.local import writes
from drift.local.credential import LocalCredential
from drift.local.stack import LocalStack
from drift.runtime import build_engine
from drift.store import BaselineStore

GROUP = "rg-fleet"
USER = {"X-MS-CLIENT-PRINCIPAL-NAME": "bench@contoso.example"}


class Counted:
    """The store's table client with every query and point read counted (entities, Azure's pages)."""

    def __init__(self, store: BaselineStore) -> None:
        self.queries = self.entities = self.pages = self.point_reads = 0
        table = store._table
        query, get = table.query_entities, table.get_entity

        def counted_query(text: str, **kwargs: Any) -> Any:
            rows = list(query(text, **kwargs))
            self.queries += 1
            self.entities += len(rows)
            self.pages += max(1, math.ceil(len(rows) / 1000))
            return rows

        def counted_get(*args: Any, **kwargs: Any) -> Any:
            self.point_reads += 1
            return get(*args, **kwargs)

        table.query_entities, table.get_entity = counted_query, counted_get

    def take(self) -> tuple[int, int, int, int]:
        out = (self.queries, self.pages, self.entities, self.point_reads)
        self.queries = self.entities = self.pages = self.point_reads = 0
        return out


def build_fleet(stack: LocalStack, engine: Any, servers: int) -> float:
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    assert stack.arm and stack.ca
    sdk = MySQLManagementClient(LocalCredential(), stack.subscription_id, base_url=stack.arm.url,
                                connection_verify=str(stack.ca.ca_bundle), polling_interval=0)
    started = time.perf_counter()

    def make(i: int) -> None:
        name = f"db-{i:04d}"
        writes.create_server(sdk, GROUP, name, secure=i % 3 == 0, public_access="Enabled" if i % 4 == 0 else "Disabled")
        if i % 10 == 0:
            writes.add_rule(sdk, GROUP, name, "AllowAll", "0.0.0.0", "255.255.255.255")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(make, range(servers)))
    events = stack.arm.drain_events()
    batches: list[list[Any]] = [[] for _ in range(4)]  # each server's events in order, in one thread
    for event in events:
        batches[hash(event["subject"].lower().split("/providers/")[1].split("/")[2]) % 4].append(event)
    def deliver(batch: list[Any]) -> None:
        """Each event until it is handled, as Event Grid redelivers (Azurite resets connections under load)."""
        from drift.engine import RetryableFailure

        for event in batch:
            for attempt in range(6):
                try:
                    engine.handle_many([event])
                    break
                except RetryableFailure:
                    time.sleep(0.5 * (attempt + 1))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(deliver, batches))
    return time.perf_counter() - started


def measure(label: str, ask: Any, counted: Counted, runs: int) -> None:
    counted.take()
    started = time.perf_counter()
    size = len(ask())
    first = (time.perf_counter() - started) * 1000
    first_counts = counted.take()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        ask()
        times.append((time.perf_counter() - started) * 1000)
    queries, pages, entities, points = counted.take()
    runs_ = max(runs, 1)
    print(f"{label:<34} | {first:>8.0f} | {statistics.median(times):>9.0f} | {queries // runs_:>7} | "
          f"{pages // runs_:>5} | {entities // runs_:>8,} | {points // runs_:>6} | {size / 1024:>7.0f} "
          f"| first ask: {first_counts[0]} queries, {first_counts[3]} point reads")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # a delivery that failed is delivered again (`deliver`)
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        engine = build_engine(stack.settings(["teams"]))
        engine.subscriptions = {stack.subscription_id}
        seconds = build_fleet(stack, engine, args.servers)
        console = Console(engine)
        open_findings = console.findings.open_findings()
        print(f"fleet: {args.servers} servers, {len(open_findings):,} open findings, built in {seconds:.0f} s "
              f"(SDK writes and the engine's handling of their events)")
        counted = Counted(engine.store)
        local = stack.start_console(engine)
        session = requests.Session()
        some = open_findings[0]
        print(f"{'page':<34} | first ms | median ms | queries | pages | entities | points | KiB     |")
        measure("fleet (Console.handle)", lambda: console.handle("GET", "/", {}, USER).body, counted, args.runs)
        measure("fleet over HTTP (local server)", lambda: session.get(f"{local.url}/", timeout=30).content,
                counted, args.runs)
        measure("fleet, severity=high", lambda: console.handle("GET", "/", {"severity": "high"}, USER).body,
                counted, args.runs)
        measure("fleet as CSV", lambda: console.handle("GET", "/", {"format": "csv"}, USER).body, counted, args.runs)
        measure("one server", lambda: console.handle("GET", "/server", {"id": some.server_id}, USER).body,
                counted, args.runs)
        measure("one finding", lambda: console.handle("GET", f"/finding/{some.id}", {}, USER).body,
                counted, args.runs)
        parts: dict[str, list[float]] = {"servers (index)": [], "open findings (index)": [], "grid": [], "HTML": []}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            engine.store.index.all_servers()
            t1 = time.perf_counter()
            data.open_findings(engine.store, console.findings, full=False)
            t2 = time.perf_counter()
            grid = data.fleet(engine.store, console.findings, data.Filters())
            t3 = time.perf_counter()
            pages.fleet_page(console.base, "bench", grid, data.Filters())
            t4 = time.perf_counter()
            for part, ms in zip(parts, [t1 - t0, t2 - t1, (t3 - t2) - (t2 - t0), t4 - t3], strict=True):
                parts[part].append(ms * 1000)
        medians = ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in parts.items())
        print(f"fleet page, median ms by part: {medians}")
        answer = console.handle("GET", "/", {}, USER)
        assert answer.status == 200 and answer.body.count(b"data-server=") == args.servers
    return 0


if __name__ == "__main__":
    sys.exit(main())
