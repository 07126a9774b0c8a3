"""`mysql-drift accept` and `mysql-drift ack`."""

from __future__ import annotations

import argparse

from drift.cli.common import CommandError, reviewer, settings_for


def cmd_accept(args: argparse.Namespace) -> int:
    from drift.review import ReviewError, accept
    from drift.runtime import build_engine

    try:
        result = accept(build_engine(settings_for(args)), args.server, setting=args.setting, reason=args.reason,
                        by=reviewer(args), alert=args.alert, expect=args.expect)
    except ReviewError as exc:
        raise CommandError(str(exc)) from None
    for record in result.records:
        print(f"accepted {record.setting} of {record.server}: {record.after}")
    if not result.records:
        print(f"nothing to accept on {result.server_id}: every setting matches its baseline and the policy")
    if result.dropped_alerts:
        print(f"{result.dropped_alerts} undelivered alert(s) dropped")
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    """The id is what the on-call has in front of them: the card's alert id, or an event id from history
    (whole, or the short form the table shows)."""
    from drift.review import ReviewError, ack, events_named
    from drift.runtime import build_engine

    engine = build_engine(settings_for(args))
    try:
        events = events_named(engine, args.id, server=args.server)
        count = sum(ack(engine, event_id, reason=args.reason, by=reviewer(args)) for event_id in events)
    except ReviewError as exc:
        raise CommandError(str(exc)) from None
    named = f"event {events[0]}" if events == [args.id.strip()] else f"{args.id.strip()} (event {', '.join(events)})"
    print(f"{count} history row(s) of {named} marked reviewed")
    return 0
