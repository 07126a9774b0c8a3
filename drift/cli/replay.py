"""`mysql-drift replay`: handle events from a file or standard input."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from drift.cli.common import CommandError, settings_for
from drift.events import MalformedEvent, load_events

UNUSABLE = ("malformed", "refused")  # the engine could do nothing with the event


def cmd_replay(args: argparse.Namespace) -> int:
    """Exit 0 when at least one event was used, 2 when none could be (the input is the problem: not JSON,
    empty, or only malformed or refused events), 1 when an event failed in a way a retry can fix."""
    from drift.engine import RetryableFailure
    from drift.runtime import build_engine

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        raw_events = load_events(text)
    except MalformedEvent as exc:
        raise CommandError(str(exc)) from None
    if not raw_events:
        raise CommandError("the input holds no event (an empty array)")
    engine = build_engine(settings_for(args))
    try:
        outcomes = engine.handle_many(raw_events)
    except RetryableFailure as exc:
        raise CommandError(str(exc), code=1) from None
    for outcome in outcomes:
        print(f"{outcome.event_id}: {outcome.status}"
              + (f" ({len(outcome.records)} change(s), {outcome.alerts_sent} alert(s))" if outcome.records else "")
              + (f" - {outcome.detail}" if outcome.detail else ""))
    if all(o.status in UNUSABLE for o in outcomes):
        counts = ", ".join(f"{n} {status}" for status, n in sorted(Counter(o.status for o in outcomes).items()))
        raise CommandError(f"no event could be used: {counts}"
                           + (f" (first: {outcomes[0].detail})" if outcomes[0].detail else ""))
    return 0
