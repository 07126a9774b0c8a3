"""Reconcile 500 servers against an ARM stand-in that enforces ARM's read bucket (250 burst, 25/s).

Prints the scan time, the ARM reads it made and the 429s it drew (the target is zero).

    .venv/bin/python bench/scan_bench.py [--servers 500] [--workers 8]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from drift.local.stack import LocalStack
from drift.reconcile import Reconciler
from drift.runtime import build_engine


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        assert stack.arm is not None
        for n in range(args.servers):
            stack.arm.seed_server(stack.subscription_id, f"rg-{n % 7}", f"fleet-{n:04d}",
                                  properties={"network": {"publicNetworkAccess": "Disabled"}})
        stack.arm.limit_reads(burst=250, rate=25)
        engine = build_engine(stack.settings(["teams"]))
        started = time.perf_counter()
        [report] = Reconciler(engine, workers=args.workers).scan([stack.subscription_id])
        elapsed = time.perf_counter() - started
        stats = stack.arm.stats
        print(f"servers scanned:        {report.checked} of {report.servers} (workers {args.workers})")
        print(f"scan time:              {elapsed:.1f} s")
        print(f"ARM reads:              {stats.reads} ({stats.reads / max(report.checked, 1):.2f} per server, "
              "the server body comes with the listing)")
        print(f"429s from ARM:          {stats.throttled}")
        print(f"client bucket waited:   {engine.reader.bucket.waited:.1f} s in total across workers")  # type: ignore[attr-defined]
        trips = engine.store.round_trips
        print(f"table round trips:      {trips} ({trips / max(report.checked, 1):.1f} per server)")
        print(f"posture alerts sent:    {len(stack.teams.messages())}")
        return 0 if stats.throttled == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
