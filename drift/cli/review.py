"""`mysql-drift accept` and `mysql-drift ack`."""

from __future__ import annotations

import argparse
import sys

from drift.cli.common import reviewer, settings_for


def cmd_accept(args: argparse.Namespace) -> int:
    from drift.review import ReviewError, accept
    from drift.runtime import build_engine

    try:
        result = accept(build_engine(settings_for(args)), args.server, setting=args.setting, reason=args.reason,
                        by=reviewer(args), alert=args.alert, expect=args.expect)
    except ReviewError as exc:
        print(f"mysql-drift accept: {exc}", file=sys.stderr)
        return 2
    for record in result.records:
        print(f"accepted {record.setting} of {record.server}: {record.after}")
    if not result.records:
        print(f"nothing to accept on {result.server_id}: every setting matches its baseline and the policy")
    if result.dropped_alerts:
        print(f"{result.dropped_alerts} undelivered alert(s) dropped")
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    from drift.review import ReviewError, ack
    from drift.runtime import build_engine

    try:
        count = ack(build_engine(settings_for(args)), args.event_id, reason=args.reason, by=reviewer(args))
    except ReviewError as exc:
        print(f"mysql-drift ack: {exc}", file=sys.stderr)
        return 2
    print(f"{count} history row(s) of event {args.event_id} marked reviewed")
    return 0
