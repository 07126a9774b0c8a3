"""`mysql-drift scan`: reconcile the watched subscriptions, with its progress on stderr."""

from __future__ import annotations

import argparse
import sys

from drift.cli.common import CommandError, settings_for
from drift.cli.progress import ScanProgress


def subscriptions_to_scan(named: list[str] | None, watched: list[str]) -> list[str]:
    """The subscriptions named, each of which must be watched (a scan of another would keep baselines no
    event ever updates), or every watched one."""
    if not watched:
        raise CommandError("no subscription is watched: set DRIFT_WATCHED_SUBSCRIPTIONS "
                           "(or use --endpoints-file of a local stack)")
    if not named:
        return watched
    known = {w.lower() for w in watched}
    unwatched = [s for s in named if s.strip().lower() not in known]
    if unwatched:
        raise CommandError(f"subscription {unwatched[0]} is not watched (watched: {', '.join(watched)}); "
                           "add it to DRIFT_WATCHED_SUBSCRIPTIONS first")
    return [s.strip().lower() for s in named]


def cmd_scan(args: argparse.Namespace) -> int:
    from drift.engine import RetryableFailure
    from drift.reconcile import Reconciler
    from drift.runtime import build_engine

    settings = settings_for(args)
    subscriptions = subscriptions_to_scan(args.subscription, settings.watched_subscriptions)
    progress = ScanProgress(sys.stderr, every=args.progress_every) if not args.quiet else None
    reconciler = Reconciler(build_engine(settings), workers=args.workers, progress=progress)
    try:
        reports = reconciler.scan(subscriptions)
    except RetryableFailure as exc:
        raise CommandError(str(exc), code=1) from None
    finally:
        if progress is not None:
            progress.close()
    for r in reports:
        print(f"{r.subscription_id}: {r.checked} server(s) checked{f' ({r.skipped} done before)' if r.skipped else ''}"
              f", {r.recorded} change(s), {r.alerts} alert(s), {r.closed} closed, {r.arm_requests} ARM requests "
              f"in {r.seconds:.1f}s")
    return 0
