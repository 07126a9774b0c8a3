"""Replay N events through the engine on the local stack and print what each one cost.

Each iteration makes one write with the real SDK (not timed), then times the handling of the
event(s) it produced, as the Function would see them. Prints ARM reads per event (relevant and
irrelevant apart), Table Storage round trips per event, p50/p99 handler latency, and the cold
import time of `function_app` in a fresh interpreter.

    .venv/bin/python bench/replay_bench.py [--events 400] [--servers 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from azure.mgmt.mysqlflexibleservers import models

from drift.local.credential import LocalCredential
from drift.local.stack import LocalStack
from drift.runtime import build_engine

GROUP = "rg-bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cold_import_seconds(runs: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import function_app; print(time.perf_counter() - t)"
    root = Path(__file__).resolve().parents[1]
    samples = [float(subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                                    check=True).stdout) for _ in range(runs)]
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--no-export", action="store_true", help="Log Analytics export off (its share of the trips)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rng = random.Random(7)

    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        assert stack.arm and stack.ca and stack.teams
        from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

        sdk = MySQLManagementClient(LocalCredential(), stack.subscription_id, base_url=stack.arm.url,
                                    connection_verify=str(stack.ca.ca_bundle), polling_interval=0)
        settings = stack.settings(["teams"])
        engine = build_engine(dataclasses.replace(settings, logs_endpoint=None) if args.no_export else settings)
        names = [f"bench-{i:03d}" for i in range(args.servers)]
        posture_latencies: list[float] = []
        reads_before = stack.arm.stats.reads
        for name in names:
            sdk.servers.begin_create(GROUP, name, models.Server(location="westeurope", version="8.0.21")).result()
            started = time.perf_counter()
            engine.handle_many(stack.arm.drain_events())
            posture_latencies.append(time.perf_counter() - started)
        posture_reads = (stack.arm.stats.reads - reads_before) / len(names)

        def write(name: str) -> None:
            kind = rng.choice(["rule", "tls", "aad", "public", "harmless", "diag"])
            if kind == "rule":
                last = rng.randint(1, 254)
                sdk.firewall_rules.begin_create_or_update(GROUP, name, f"r{last}", models.FirewallRule(
                    start_ip_address=f"203.0.113.{last}", end_ip_address=f"203.0.113.{last}")).result()
            elif kind in ("tls", "aad", "harmless"):
                param, value = {"tls": ("tls_version", rng.choice(["TLSv1.3", "TLSv1.2,TLSv1.3"])),
                                "aad": ("aad_auth_only", rng.choice(["ON", "OFF"])),
                                "harmless": ("wait_timeout", str(rng.randint(60, 600)))}[kind]
                sdk.configurations.begin_update(GROUP, name, param, models.Configuration(value=value)).result()
            elif kind == "public":
                sdk.servers.begin_update(GROUP, name, models.ServerForUpdate(network=models.Network(
                    public_network_access=rng.choice(["Enabled", "Disabled"])))).result()
            else:
                put_diagnostic_setting_for(sdk, stack.subscription_id, name, rng.random() < 0.5)

        latencies: list[float] = []
        relevant_reads = irrelevant_reads = relevant = irrelevant = 0
        trips_before = engine.store.round_trips
        for _ in range(args.events):
            write(rng.choice(names))
            for event in stack.arm.drain_events():
                reads_before = stack.arm.stats.reads
                started = time.perf_counter()
                [outcome] = engine.handle_many([event])
                latencies.append(time.perf_counter() - started)
                reads = stack.arm.stats.reads - reads_before
                if outcome.status == "ignored":
                    irrelevant, irrelevant_reads = irrelevant + 1, irrelevant_reads + reads
                else:
                    relevant, relevant_reads = relevant + 1, relevant_reads + reads
        trips = engine.store.round_trips - trips_before
        handled = len(latencies)
        print(f"events handled:                 {handled} ({relevant} relevant, {irrelevant} irrelevant)")
        print(f"ARM reads per relevant event:   {relevant_reads / max(relevant, 1):.2f}")
        print(f"ARM reads per irrelevant event: {irrelevant_reads / max(irrelevant, 1):.2f}")
        print(f"table round trips per event:    {trips / handled:.2f}")
        print(f"alerts sent:                    {len(stack.teams.messages())}")
        print(f"handler latency p50:            {percentile(latencies, 0.50) * 1000:.1f} ms")
        print(f"handler latency p99:            {percentile(latencies, 0.99) * 1000:.1f} ms")
        print(f"new-server posture check:       {posture_reads:.0f} ARM reads, "
              f"p50 {percentile(posture_latencies, 0.5) * 1000:.1f} ms, one alert each")
    print(f"cold import of function_app:    {cold_import_seconds() * 1000:.0f} ms (median of 5 fresh processes)")
    return 0


def put_diagnostic_setting_for(sdk: object, subscription: str, name: str, with_audit: bool) -> None:
    from azure.core.rest import HttpRequest

    url = (f"/subscriptions/{subscription}/resourceGroups/{GROUP}/providers/Microsoft.DBforMySQL/flexibleServers/"
           f"{name}/providers/Microsoft.Insights/diagnosticSettings/audit")
    logs = [{"categoryGroup": "audit", "enabled": with_audit}]
    request = HttpRequest("PUT", url, params={"api-version": "2021-05-01-preview"},
                          json={"properties": {"workspaceId": "/subscriptions/x/workspaces/soc", "logs": logs}})
    sdk._send_request(request).raise_for_status()  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
