"""Scans in fresh processes: does every new server get its whole posture check in the first scan?

Each run is a process of its own (as `mysql-drift scan` and a cold Function instance are, the detector
modules not loaded yet): fresh servers, a scan, the settings left without a baseline per server, then a
second scan, which must record nothing. Prints one line per run and how many runs split a posture check.

    .venv/bin/python bench/cold_scan_bench.py [--runs 20] [--servers 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path


def one_run(servers: int, workers: int) -> dict[str, object]:
    from drift.local.stack import LocalStack
    from drift.reconcile import Reconciler
    from drift.runtime import build_engine

    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        assert stack.arm is not None
        sub = f"0a1b2c3d-0000-4000-8000-{uuid.uuid4().hex[:12]}"
        ids = []
        for n in range(servers):
            stack.arm.seed_server(sub, "rg-cold", f"cold-{n}",
                                  properties={"network": {"publicNetworkAccess": "Disabled"}})
            ids.append(f"/subscriptions/{sub}/resourceGroups/rg-cold/providers/Microsoft.DBforMySQL/flexibleServers/cold-{n}")
        settings = dataclasses.replace(stack.settings(["teams"]), table_name=f"t{uuid.uuid4().hex[:16]}")
        engine = build_engine(settings)
        [first] = Reconciler(engine, workers=workers).scan([sub])  # nothing has loaded the detectors before this
        import detectors

        every = {d.setting for d in detectors.all_detectors() if d.scope == "server"}
        missing = {i.rsplit("/", 1)[1]: sorted(every - set(engine.store.load(i).baselines)) for i in ids}
        [second] = Reconciler(engine, workers=workers).scan([sub])
        return {"first": first.recorded, "second": second.recorded, "errors": first.errors + second.errors,
                "missing": {k: v for k, v in missing.items() if v}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        print(json.dumps(one_run(args.servers, args.workers)))
        return 0
    split = 0
    for run in range(args.runs):
        done = subprocess.run([sys.executable, __file__, "--child", "--servers", str(args.servers),
                               "--workers", str(args.workers)], capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        split += bool(result["missing"] or result["second"])
        print(f"run {run + 1:3d}: first scan {result['first']} rows, second {result['second']}, "
              f"errors {len(result['errors'])}, settings without a baseline after the first: {result['missing']}")
    print(f"runs that split a posture check: {split} of {args.runs} ({args.servers} servers, {args.workers} workers)")
    return 0 if split == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
