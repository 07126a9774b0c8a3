"""`mysql-drift replay`: handle events from a file or standard input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from drift.cli.common import settings_for
from drift.events import MalformedEvent, load_events


def cmd_replay(args: argparse.Namespace) -> int:
    from drift.engine import RetryableFailure
    from drift.runtime import build_engine

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        raw_events = load_events(text)
    except MalformedEvent as exc:
        print(f"mysql-drift replay: {exc}", file=sys.stderr)
        return 2
    engine = build_engine(settings_for(args))
    try:
        outcomes = engine.handle_many(raw_events)
        code = 0
    except RetryableFailure as exc:
        print(f"mysql-drift replay: {exc}", file=sys.stderr)
        outcomes, code = [], 1
    for outcome in outcomes:
        print(f"{outcome.event_id}: {outcome.status}"
              + (f" ({len(outcome.records)} change(s), {outcome.alerts_sent} alert(s))" if outcome.records else "")
              + (f" - {outcome.detail}" if outcome.detail else ""))
    return code
