"""What the Log Analytics export costs: HTTP calls per handled batch, their time and bytes, and the
table round trips it adds, on the local stack with the real azure-monitor-ingestion client.

The same events are handed to two engines (two tables), one exporting and one not, in batches of
1, 10 and 50 events (`handle_many`), so the difference is the export's alone. Prints uploads per
batch, ms per upload, bytes per row (JSON as sent, gzip on the wire), table round trips per event,
and the rows and bytes a day at 1,000 events (the ingestion cost in docs/deploy.md uses them).

    .venv/bin/python bench/export_bench.py [--rounds 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
import statistics
import sys
import tempfile
from pathlib import Path

from azure.mgmt.mysqlflexibleservers import models

from drift.local.credential import LocalCredential
from drift.local.stack import LocalStack
from drift.runtime import build_engine

GROUP = "rg-bench"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--servers", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rng = random.Random(11)

    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        assert stack.arm and stack.ca and stack.logs
        from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

        sdk = MySQLManagementClient(LocalCredential(), stack.subscription_id, base_url=stack.arm.url,
                                    connection_verify=str(stack.ca.ca_bundle), polling_interval=0)
        settings = stack.settings(["teams"])
        on = build_engine(settings)
        off = build_engine(dataclasses.replace(settings, logs_endpoint=None, logs_rule_id=None,
                                               table_name=settings.table_name + "off"))
        names = [f"bench-{i:03d}" for i in range(args.servers)]
        for name in names:
            sdk.servers.begin_create(GROUP, name, models.Server(location="westeurope", version="8.0.21")).result()
        events = stack.arm.drain_events()
        on.handle_many(events)  # the posture checks: many rows in one batch
        off.handle_many(events)
        posture = stack.logs.calls()
        print(f"posture checks of {len(names)} new servers in one batch: {len(posture)} upload(s), "
              f"{sum(c['rows'] for c in posture)} rows, {sum(c['bytes'] for c in posture)} bytes gzip")
        stack.logs.clear()

        def write(name: str) -> None:
            kind = rng.choice(["rule", "tls", "aad", "public", "harmless"])
            if kind == "rule":
                last = rng.randint(1, 254)
                sdk.firewall_rules.begin_create_or_update(GROUP, name, f"r{last}", models.FirewallRule(
                    start_ip_address=f"203.0.113.{last}", end_ip_address=f"203.0.113.{last}")).result()
            elif kind == "public":
                sdk.servers.begin_update(GROUP, name, models.ServerForUpdate(network=models.Network(
                    public_network_access=rng.choice(["Enabled", "Disabled"])))).result()
            else:
                param, value = {"tls": ("tls_version", rng.choice(["TLSv1.3", "TLSv1.2,TLSv1.3"])),
                                "aad": ("aad_auth_only", rng.choice(["ON", "OFF"])),
                                "harmless": ("wait_timeout", str(rng.randint(60, 600)))}[kind]
                sdk.configurations.begin_update(GROUP, name, param, models.Configuration(value=value)).result()

        total_events = total_rows = 0
        trips_on = trips_off = 0
        print(f"{'events/batch':>12} {'batches':>8} {'uploads/batch':>14} {'max':>4} {'rows/batch':>11} "
              f"{'ms/upload':>10} {'gzip B/row':>11} {'JSON B/row':>11}")
        for size in (1, 10, 50):
            calls_before, seconds_before = len(stack.logs.calls()), on.exports.uploader.seconds
            batches = uploads_in_batches = most = 0
            for _ in range(args.rounds):
                for _ in range(size):
                    write(rng.choice(names))
                batch = stack.arm.drain_events()
                before, calls_then = on.store.round_trips, len(stack.logs.calls())
                on.handle_many(batch)
                most = max(most, len(stack.logs.calls()) - calls_then)
                trips_on += on.store.round_trips - before
                before = off.store.round_trips
                off.handle_many(batch)
                trips_off += off.store.round_trips - before
                total_events += len(batch)
                batches += 1
                uploads_in_batches = len(stack.logs.calls()) - calls_before
            calls = stack.logs.calls()[calls_before:]
            rows = sum(c["rows"] for c in calls)
            total_rows += rows
            ms = (on.exports.uploader.seconds - seconds_before) * 1000 / max(len(calls), 1)
            print(f"{size:>12} {batches:>8} {uploads_in_batches / batches:>14.2f} {most:>4} {rows / batches:>11.1f} "
                  f"{ms:>10.1f} {sum(c['bytes'] for c in calls) / max(rows, 1):>11.0f} "
                  f"{sum(c['decoded_bytes'] for c in calls) / max(rows, 1):>11.0f}")
        assert on.exports.sweep().get("export_markers") == 0, "every row went out in its batch"
        rows = stack.logs.rows()
        sizes = [len(str(v).encode()) for r in rows for v in r.values()]
        billed = sum(sizes) / max(len(rows), 1)  # the values' bytes: what Log Analytics bills, roughly
        per_event = total_rows / max(total_events, 1)
        print(f"events handled: {total_events}; history rows exported: {total_rows} ({per_event:.2f} per event)")
        print(f"table round trips per event: {trips_on / total_events:.2f} exporting, "
              f"{trips_off / total_events:.2f} not (+{(trips_on - trips_off) / total_events:.2f})")
        as_json = statistics.mean(len(json.dumps(r).encode()) for r in rows)
        print(f"bytes per row: {as_json:.0f} as JSON, ~{billed:.0f} of column values")
        day = 1000 * per_event * billed
        print(f"at 1,000 events a day: {1000 * per_event:.0f} rows, {day / 1e6:.2f} MB a day, "
              f"{day * 30 / 1e9:.4f} GB a month (every event a recorded change: "
              f"{1000 * billed * 30 / 1e9:.4f} GB a month)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
