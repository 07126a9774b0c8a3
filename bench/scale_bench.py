"""What the store's reads cost as history grows, and what a burst of events costs in ARM reads.

Azurite filters queries differently from Azure, so milliseconds here say little about Azure's bill.
The bench counts what Azure bills by: queries, and pages (Azure answers at most 1,000 entities a
page, and a query that names no partition scans every row of the table). For each history size it
prints, for the every-minute sweep with nothing pending, `history --since 24h` across servers,
`ack EVENT_ID` and the scan's known servers:
- now: queries, pages and entities read through the index partition;
- before the index (the same questions asked of the whole table): the pages a full scan costs.

Then findings: `open_findings` and `mysql-drift status` (the fleet summary, `--severity`, `--server X`) over
a fleet of 5,000 servers with open findings, against the per-partition reads they would cost without
the index's open-finding markers.

Then a burst: 1,000 SDK writes on 40 servers x 5 parameters (200 pairs), their events handled by one
engine, against the same events handled with the reuse of recent reads switched off.

    .venv/bin/python bench/scale_bench.py [--sizes 1000 10000 100000] [--servers 500] [--registry 5000]
                                          [--fleet 5000] [--findings 8000]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drift.index import EVENT, INDEX, SERVER, copy_key, event_key
from drift.keys import HISTORY, encode_key, inverted_ms
from drift.local.azurite import Azurite
from drift.store import BaselineStore

SUB = "ffffffff-ffff-ffff-ffff-ffffffffffff"


class Counted:
    """The table client with every query counted: queries, entities returned, and Azure's pages
    (and point reads, which Azure bills as one transaction each)."""

    def __init__(self, store: BaselineStore, table_rows: int) -> None:
        self.queries = self.entities = self.pages = self.points = 0
        self.table_rows = table_rows
        inner = store._table.query_entities
        point = store._table.get_entity

        def get(*args: Any, **kwargs: Any) -> Any:
            self.points += 1
            return point(*args, **kwargs)

        store._table.get_entity = get

        def query(text: str, **kwargs: Any) -> Any:
            rows = list(inner(text, **kwargs))
            self.queries += 1
            self.entities += len(rows)
            scanned = len(rows) if "PartitionKey eq" in text else self.table_rows
            self.pages += max(1, math.ceil(scanned / 1000))
            return rows

        store._table.query_entities = query

    def reset(self) -> None:
        self.queries = self.entities = self.pages = self.points = 0


def server_id(i: int) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg-bench/providers/Microsoft.DBforMySQL/flexibleServers/s{i:04d}"


def fill(store: BaselineStore, rows: int, servers: int, registry: int, rng: random.Random) -> str:
    """`rows` history rows over `servers` partitions (a year back), with their index markers, as the event
    path writes them (a time-ordered copy of each in the index); `registry` servers in the index.
    Returns one event id to acknowledge."""
    table = store._table
    now = datetime.now(UTC)
    per_server: dict[int, list[dict[str, Any]]] = {}
    days: set[tuple[str, str]] = set()
    some_event = ""
    for n in range(rows):
        i = rng.randrange(servers)
        when = now - timedelta(seconds=rng.randrange(365 * 86400)) if n % 50 else now - timedelta(hours=1)
        event_id = str(uuid.uuid4())
        pk = encode_key(server_id(i))
        some_event = event_id if n % 50 == 0 else some_event
        per_server.setdefault(i, []).append({
            "PartitionKey": pk, "RowKey": f"{HISTORY}{inverted_ms(when)}|tls_version|{event_id}|0",
            "server_id": server_id(i), "server": f"s{i:04d}", "setting": "tls_version", "before": "TLSV1.3",
            "after": "TLSV1.2", "verdict": "weakened", "severity": "medium", "why": "bench", "event_id": event_id,
            "event_time": when.isoformat(), "detected_at": when.isoformat(), "operation": "bench",
            "changed_by": "bench", "alert_status": "sent"})
        if event_id == some_event:
            days.add(("event:" + event_key(event_id), pk))
    for entities in per_server.values():
        for start in range(0, len(entities), 100):
            table.submit_transaction([("upsert", e) for e in entities[start:start + 100]])
    markers = [{"PartitionKey": INDEX, "RowKey": f"{EVENT}{d[6:]}|{pk}", "pk": pk}
               for d, pk in days if d.startswith("event:")]
    markers += [{**e, "PartitionKey": INDEX, "RowKey": copy_key(e["PartitionKey"], e["RowKey"]),
                 "pk": e["PartitionKey"], "row_key": e["RowKey"], "landed": True, "created_at": e["detected_at"]}
                for entities in per_server.values() for e in entities]
    markers += [{"PartitionKey": INDEX, "RowKey": f"{SERVER}{SUB}|{encode_key(server_id(i))}",
                 "pk": encode_key(server_id(i)), "server_id": server_id(i)} for i in range(registry)]
    for start in range(0, len(markers), 100):
        table.submit_transaction([("upsert", m) for m in markers[start:start + 100]])
    return some_event


def growth(sizes: list[int], servers: int, registry: int) -> None:
    print("history rows | what                    | queries | pages now | entities read | ms   "
          "| pages before (full scan)")
    with Azurite() as azurite:
        for size in sizes:
            store = BaselineStore.from_connection_string(azurite.connection_string, f"b{uuid.uuid4().hex[:12]}")
            store.ensure_table()
            event_id = fill(store, size, servers, registry, random.Random(size))
            total = sum(1 for _ in store._table.list_entities(select=["PartitionKey"]))
            counted = Counted(store, total)
            checks = [
                ("sweep, nothing pending", lambda s=store: s.pending_alerts()),
                ("history --since 24h", lambda s=store: s.history(since=datetime.now(UTC) - timedelta(hours=24))),
                ("ack EVENT_ID", lambda s=store, e=event_id: s.acknowledge(e, "bench", "now")),
                (f"known servers ({registry})", lambda s=store: s.known_servers(SUB)),
            ]
            for label, check in checks:
                counted.reset()
                started = time.perf_counter()
                check()
                ms = (time.perf_counter() - started) * 1000
                before = math.ceil(total / 1000)
                print(f"{size:>12,} | {label:<23} | {counted.queries:>7} | {counted.pages:>9} | "
                      f"{counted.entities:>13,} | {ms:>4.0f} | {before:,}")
            minute = 1 * 60 * 24 * 30
            print(f"{'':>12} | sweep a month, nothing pending: {minute:,} pages now (1 a minute), "
                  f"{minute * math.ceil(total / 1000):,} before")


BASELINES = 4  # baseline rows per server besides those of its findings (a real server has ~20)


def fill_findings(store: BaselineStore, fleet: int, findings: int, rng: random.Random) -> str:
    """`fleet` servers, each with a few baselines (`BASELINES` and its findings' settings); `findings` open
    findings spread over them (at most one per setting), as commits and their index batches write them,
    markers landed.
    Returns the id of a server with findings."""
    import detectors
    from drift.findings import Finding, FindingWrite, finding_id

    settings = sorted(d.setting for d in detectors.all_detectors() if d.scope == "server")
    severities = ["critical", "high", "high", "medium", "medium", "low", "low", "low"]
    slots = rng.sample([(i, s) for i in range(fleet) for s in settings], findings)
    per_server: dict[int, list[str]] = {}
    for i, setting in slots:
        per_server.setdefault(i, []).append(setting)
    table, now = store._table, datetime.now(UTC)
    markers: dict[str, dict[str, Any]] = {}
    for i in range(fleet):
        if i % 500 == 0:
            print(f"  filling: {i:,}/{fleet:,} servers", file=sys.stderr, flush=True)
        pk, sid = encode_key(server_id(i)), server_id(i)
        watched = sorted(set(per_server.get(i, [])) | set(settings[:BASELINES]))  # Azurite slows as rows grow
        rows = [{"PartitionKey": pk, "RowKey": f"baseline|{s}", "server_id": sid, "server": f"s{i:04d}",
                 "setting": s, "state": json.dumps("ON"), "closed": False} for s in watched]
        for setting in per_server.get(i, []):
            event = str(uuid.uuid4())
            opened = now - timedelta(minutes=rng.randrange(60 * 24 * 30))
            finding = Finding(finding_id(sid, setting, event), sid, f"s{i:04d}", setting, "open",
                              rng.choice(severities), "bench weakening", opened.isoformat(), opened.isoformat(),
                              "ON", "OFF", "bench@contoso.example", "203.0.113.7", event, None,
                              [uuid.uuid4().hex[:16]])
            write = FindingWrite(finding, None, None, "ON", True)
            rows += [op[1] for op in write.operations(pk)]
            markers.update({k: {**v, "landed": True} for k, v in write.markers(pk, now).items()})
        markers[f"{SERVER}{SUB}|{pk}"] = {"pk": pk, "server_id": sid}
        for start in range(0, len(rows), 100):
            table.submit_transaction([("upsert", e) for e in rows[start:start + 100]])
    print(f"  filling: {len(markers):,} index markers", file=sys.stderr, flush=True)
    items = [{"PartitionKey": INDEX, "RowKey": k, **v} for k, v in markers.items()]
    for start in range(0, len(items), 100):
        table.submit_transaction([("upsert", e) for e in items[start:start + 100]])
    return server_id(max(per_server, key=lambda i: len(per_server[i])))


def findings_cost(fleet: int, findings: int) -> None:
    from azure.data.tables import UpdateMode

    from drift.findings import OPEN_MARK, FindingStore
    from drift.status import gather

    print(f"\nfindings: {fleet:,} servers, {findings:,} open findings")
    print("what                                     | queries | pages | point reads | entities read | ms")
    with Azurite() as azurite:
        store = BaselineStore.from_connection_string(azurite.connection_string, f"f{uuid.uuid4().hex[:12]}")
        store.ensure_table()
        some_server = fill_findings(store, fleet, findings, random.Random(fleet))
        counted = Counted(store, 0)
        reading = FindingStore(store)

        def unland(count: int) -> None:
            """`count` markers as commits leave them: not yet checked against their rows (a burst of changes)."""
            keys = [m["RowKey"] for m in store.index._range(OPEN_MARK, ["RowKey"])][:count]
            for start in range(0, len(keys), 100):
                store._table.submit_transaction([("upsert", {"PartitionKey": INDEX, "RowKey": k, "landed": False},
                                                  {"mode": UpdateMode.MERGE}) for k in keys[start:start + 100]])

        checks = [
            ("open_findings()", reading.open_findings),
            ("open_findings(severity=critical)", lambda: reading.open_findings(severity="critical")),
            ("status (fleet summary + listing)", lambda: gather(store)),
            ("status --severity high", lambda: gather(store, severity="high")),
            ("status --server ID", lambda: gather(store, server=some_server)),
            ("status --server NAME", lambda: gather(store, server=some_server.rsplit("/", 1)[-1])),
        ]
        sample = min(fleet, 500)
        checks.append((f"before the index: {sample} partitions", lambda: [store.load(server_id(i))
                                                                         for i in range(sample)]))
        for label, check in checks:
            counted.reset()
            started = time.perf_counter()
            check()
            ms = (time.perf_counter() - started) * 1000
            print(f"{label:<40} | {counted.queries:>7,} | {counted.pages:>5,} | {counted.points:>11,} | "
                  f"{counted.entities:>13,} | {ms:>5.0f}")
        scale = fleet / sample
        print(f"{'  every partition (x' + format(scale, '.0f') + ')':<40} | {counted.queries * scale:>7,.0f} | "
              f"{counted.pages * scale:>5,.0f} | {0:>11} | {counted.entities * scale:>13,.0f} | {ms * scale:>5.0f}")
        unlanded = min(findings, 200)
        unland(unlanded)
        for label in (f"open_findings(), {unlanded} markers not landed", "open_findings(), the next read"):
            counted.reset()
            started = time.perf_counter()
            reading.open_findings()
            ms = (time.perf_counter() - started) * 1000
            print(f"{label:<40} | {counted.queries:>7,} | {counted.pages:>5,} | {counted.points:>11,} | "
                  f"{counted.entities:>13,} | {ms:>5.0f}")


def burst(events: int, servers: int) -> None:
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    from drift.local import writes
    from drift.local.credential import LocalCredential
    from drift.local.stack import LocalStack
    from drift.runtime import build_engine

    parameters = ["tls_version", "require_secure_transport", "aad_auth_only", "audit_log_enabled",
                  "audit_log_events"]
    values = {"tls_version": ["TLSv1.3", "TLSv1.2,TLSv1.3"], "require_secure_transport": ["ON", "OFF"],
              "aad_auth_only": ["ON", "OFF"], "audit_log_enabled": ["ON", "OFF"],
              "audit_log_events": ["CONNECTION,ADMIN,DDL", "ADMIN"]}
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        assert stack.arm and stack.ca
        sdk = MySQLManagementClient(LocalCredential(), stack.subscription_id, base_url=stack.arm.url,
                                    connection_verify=str(stack.ca.ca_bundle), polling_interval=0)
        names = [f"burst-{i:03d}" for i in range(servers)]
        for name in names:
            writes.create_compliant_server(sdk, "rg-bench", name, "/subscriptions/x/workspaces/soc")
        settle = stack.arm.drain_events()
        engines = {}
        for label in ("reads reused", "every event read"):
            settings = stack.settings([])
            settings.table_name = f"t{uuid.uuid4().hex[:12]}"
            engines[label] = build_engine(settings)
            engines[label].handle_many(settle)  # baselines first, as a watched fleet has them
        engines["every event read"].recent = None
        pairs = set()
        for _ in range(events):
            name, parameter = rng.choice(names), rng.choice(parameters)
            pairs.add((name, parameter))
            writes.set_parameter(sdk, "rg-bench", name, parameter, rng.choice(values[parameter]))
        burst_events = stack.arm.drain_events()
        time.sleep(2.1)  # Event Grid delivers a moment later; the reuse waits out a 2 s clock margin
        results = {}
        for label, engine in engines.items():
            before = stack.arm.stats.reads
            started = time.perf_counter()
            outcomes = engine.handle_many(burst_events)
            seconds = time.perf_counter() - started
            reads = stack.arm.stats.reads - before
            verdicts = sorted((r.server, r.setting, r.verdict, r.after or "") for o in outcomes for r in o.records)
            baselines = {n: {s: b.state for s, b in engine.store.load(writes.server_id(
                stack.subscription_id, "rg-bench", n)).baselines.items()} for n in names}
            results[label] = (verdicts, json.dumps(baselines, sort_keys=True))
            print(f"burst of {len(burst_events):,} events on {len(pairs)} pairs, {label:<16}: {reads:,} ARM reads "
                  f"({reads / len(pairs):.2f} per pair), {len(verdicts)} changes recorded, {seconds:.1f} s")
        print(f"same final baselines either way: {results['reads reused'][1] == results['every event read'][1]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--registry", type=int, default=5_000)
    parser.add_argument("--burst", type=int, default=1_000)
    parser.add_argument("--fleet", type=int, default=5_000, help="servers for the findings bench (0: skip it)")
    parser.add_argument("--findings", type=int, default=8_000, help="open findings over the fleet")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    growth(args.sizes, args.servers, args.registry)
    if args.fleet:
        findings_cost(args.fleet, args.findings)
    if args.burst:
        burst(args.burst, 40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
