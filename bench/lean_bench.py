"""What the lean Function costs: a cold process's first (ignored) event, the installed size, and
ARM's read budget shared by 8 processes.

1. Cold first event: a fresh process imports `function_app`, builds the engine from settings
   pointing at the local stack, and handles one event the detector ignores (median of 5). The
   Functions worker imports `azure.functions` before it loads the app; that is printed apart.
2. Installed size: the distributions requirements.txt (the lock) installs, as installed here.
3. 8 OS processes, each with its own `ArmReader`, reading against the stand-in enforcing ARM's
   250 burst / 25 per second: with the app-wide bucket (drift/budget.py), then with only their
   own in-process buckets (the old behaviour). Prints reads, 429s and throughput.

    .venv/bin/python bench/lean_bench.py [--reads-each 60] [--processes 8] [--runs 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import subprocess
import sys
import tempfile
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from drift.config import Settings
from drift.local import loadgen
from drift.local.lock import closure, locked
from drift.local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
FIXTURES_EVENT = ("eventgrid", "event-grid-schema", "resource_write_success.json")


def ignored_event() -> dict[str, Any]:
    """The official example of a storage account write: an event the detector ignores."""
    sys.path.insert(0, str(ROOT))
    from tests.conftest import fixture_json

    return fixture_json(*FIXTURES_EVENT)


def cold(settings: Settings, events: list[Any], runs: int = 1, *, distributions: bool = False) -> dict[str, Any]:
    reports = []
    extra = ["--distributions"] if distributions else []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-m", "drift.local.coldstart", json.dumps(dataclasses.asdict(settings)),
                               *extra], input=json.dumps(events), cwd=ROOT, capture_output=True, text=True, check=True)
        reports.append(json.loads(done.stdout.splitlines()[-1]))
    return {key: statistics.median(r[key] for r in reports) if isinstance(reports[0][key], float) else reports[0][key]
            for key in reports[0]}


def installed_mib(name: str) -> float:
    """Disk usage (as `du` counts it) of a distribution's files and the byte code compiled from them."""
    dist = distribution(name)
    root = Path(str(dist.locate_file("")))
    paths: set[Path] = set()
    for file in dist.files or []:
        path = Path(str(file.locate()))
        paths.add(path)
        if path.suffix == ".py":
            paths.add(path.parent / "__pycache__" / f"{path.stem}.{sys.implementation.cache_tag}.pyc")
        paths.update(p for p in path.parents if root in p.parents)  # its directories take blocks too
    return sum(p.stat().st_blocks * 512 for p in paths if p.exists()) / 2**20


def distributions_by_path(stack: LocalStack) -> dict[str, list[str]]:
    """The distributions each code path loads modules from, each path in a fresh process."""
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    from drift.local import writes
    from drift.local.credential import LocalCredential
    from drift.local.receivers import TopicReceiver

    assert stack.arm and stack.ca and stack.graph
    sdk = MySQLManagementClient(LocalCredential(), stack.subscription_id, base_url=stack.arm.url,
                                connection_verify=str(stack.ca.ca_bundle))
    teams = stack.settings(["teams"])
    paths: dict[str, tuple[Settings, list[Any]]] = {"ignored event": (teams, [ignored_event()])}
    writes.create_server(sdk, "rg-paths", "paths-teams")
    paths["posture check, Teams"] = (teams, stack.arm.drain_events())
    writes.create_server(sdk, "rg-paths", "paths-mail")
    paths["posture check, Graph mail"] = (dataclasses.replace(
        teams, notifiers=["mail"], mail_sender="drift@contoso.example", mail_to=["secops@contoso.example"],
        graph_endpoint=stack.graph.url), stack.arm.drain_events())
    out: dict[str, list[str]] = {}
    for name, (settings, events) in paths.items():
        out[name] = cold(settings, events, distributions=True)["distributions"]
    with TopicReceiver(ssl_context=stack.ca.server_context()) as topic:
        writes.create_server(sdk, "rg-paths", "paths-topic")
        topic_settings = dataclasses.replace(teams, notifiers=["eventgrid"], eventgrid_endpoint=topic.endpoint)
        out["posture check, Event Grid"] = cold(topic_settings, stack.arm.drain_events(),
                                                distributions=True)["distributions"]
    stack.arm.defer_server_updates = True  # the server still says Updating: the event is re-checked later
    writes.set_public_access(sdk, "rg-paths", "paths-teams", "Enabled")
    report = cold(teams, stack.arm.drain_events(), distributions=True)
    assert report["statuses"] == ["deferred"], report["statuses"]
    out["deferred re-check"] = report["distributions"]
    stack.arm.defer_server_updates = False
    stack.arm.finish_updates()
    return out


def only_through(pins: dict[str, str], root: str) -> set[str]:
    """Locked distributions that only `root` pulls in (what its path alone costs on disk)."""
    import tomllib

    direct = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return (closure([Requirement(d) for d in direct], pins)
            - closure([Requirement(d) for d in direct if not d.startswith(root)], pins))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads-each", type=int, default=60)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        assert stack.arm and stack.ca
        local = cold(stack.settings(["teams"]), [ignored_event()], args.runs)
        azure_shaped = Settings(storage_table_endpoint="https://acct.table.core.windows.net",
                                storage_queue_endpoint="https://acct.queue.core.windows.net",
                                notifiers=["teams"], teams_webhook_url="https://example.invalid/hook",
                                managed_identity_client_id="00000000-0000-0000-0000-000000000001")
        managed = cold(azure_shaped, [ignored_event()], args.runs)
        print(f"worker's own import of azure.functions:  {local['worker_ms']:.0f} ms, +{local['worker_mb']:.1f} MB "
              "(paid by the platform before the app loads)")
        print(f"cold first event (ignored), local stack: {local['first_event_ms']:.0f} ms, "
              f"+{local['first_event_mb']:.1f} MB (median of {args.runs}; imported: {local['imported'] or 'no SDK'})")
        print(f"same, managed-identity settings:         {managed['first_event_ms']:.0f} ms, "
              f"+{managed['first_event_mb']:.1f} MB (imported: {managed['imported'] or 'no SDK'})")

        pins = locked()
        sizes = {name: installed_mib(name) for name in pins}
        graph = only_through(pins, "msgraph-sdk")
        graph_mib = sum(size for name, size in sizes.items() if name in graph)
        print(f"installed (requirements.txt, {len(pins)} distributions): {sum(sizes.values()):.0f} MiB on disk; "
              f"of it msgraph-sdk's own closure {graph_mib:.0f} MiB ({len(graph)} distributions)")
        top = sorted(sizes.items(), key=lambda kv: -kv[1])[:6]
        print("  largest: " + ", ".join(f"{name} {size:.0f} MiB" for name, size in top))
        loaded = distributions_by_path(stack)
        for path, dists in loaded.items():
            print(f"  {path}: {len([d for d in dists if canonicalize_name(d) in pins])} locked distributions loaded")
        used = {canonicalize_name(d) for dists in loaded.values() for d in dists}
        # The local stack stands in for the managed identity: what azure-identity pulls in is Azure's path.
        identity = closure([Requirement("azure-identity")], pins)
        unused = sorted(set(pins) - used)
        print("  loaded on none of these paths: "
              + (", ".join(f"{n} {sizes[n]:.1f} MiB" for n in unused if n not in identity) or "none")
              + "; azure-identity's, for the managed identity in Azure: "
              + (", ".join(n for n in unused if n in identity) or "none"))

        server = stack.arm.seed_server(stack.subscription_id, "rg-lean", "budget-db")
        stack.arm.limit_reads(burst=250, rate=25)
        for shared in (True, False):
            stack.arm.reset_stats()
            spec = loadgen.LoadSpec(arm_endpoint=stack.arm.url, ca_bundle=str(stack.ca.ca_bundle),
                                    storage_connection_string=stack.storage_connection_string,
                                    budget_table=f"leanbudget{int(shared)}", server_id=server["id"],
                                    reads=args.reads_each, burst=225, rate=22.5, shared=shared)
            stack.arm.limit_reads(burst=250, rate=25)  # a full bucket for each run
            report = loadgen.run(spec, processes=args.processes)
            what = "app-wide Table bucket" if shared else "own bucket per process"
            print(f"{args.processes} processes, {what}: {report.reads} reads ({report.failed} failed) in "
                  f"{report.seconds:.1f} s = {report.reads_per_second:.1f} reads/s; 429s from ARM: "
                  f"{stack.arm.stats.throttled}" + (f"; {report.leases} leases, {report.conflicts} lost races"
                                                    if shared else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
