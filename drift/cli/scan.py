"""`mysql-drift scan`: reconcile the watched subscriptions."""

from __future__ import annotations

import argparse
import sys

from drift.cli.common import settings_for


def cmd_scan(args: argparse.Namespace) -> int:
    from drift.engine import RetryableFailure
    from drift.reconcile import Reconciler
    from drift.runtime import build_engine

    settings = settings_for(args)
    subscriptions = args.subscription or settings.watched_subscriptions
    if not subscriptions:
        print("mysql-drift scan: name --subscription, or set DRIFT_WATCHED_SUBSCRIPTIONS", file=sys.stderr)
        return 2
    reconciler = Reconciler(build_engine(settings), workers=args.workers)
    try:
        reports = reconciler.scan(subscriptions)
        code = 0
    except RetryableFailure as exc:
        print(f"mysql-drift scan: {exc}", file=sys.stderr)
        return 1
    for r in reports:
        print(f"{r.subscription_id}: {r.checked} server(s) checked{f' ({r.skipped} done before)' if r.skipped else ''}"
              f", {r.recorded} change(s), {r.alerts} alert(s), {r.closed} closed, {r.arm_requests} ARM requests "
              f"in {r.seconds:.1f}s")
    return code
