"""`mysql-drift history`: the drift history, newest first, filtered the way the on-call asks."""

from __future__ import annotations

import argparse
import json
import sys

from drift.cli.common import CommandError, settings_for
from drift.cli.formatting import format_table, write_csv
from drift.model import HistoryRecord, Severity


def known_settings() -> set[str]:
    import detectors

    return {d.setting for d in detectors.all_detectors()} | {"server"}  # "server": a deletion


def matches(record: HistoryRecord, args: argparse.Namespace) -> bool:
    if args.severity and Severity(record.severity).rank < Severity(args.severity).rank:
        return False
    if args.setting and record.setting != args.setting:
        return False
    return not args.by or args.by.casefold() in (record.changed_by or "").casefold()


def cmd_history(args: argparse.Namespace) -> int:
    from drift.runtime import build_store

    if args.setting and args.setting not in known_settings():
        raise CommandError(f"unknown setting {args.setting!r} (known: {', '.join(sorted(known_settings()))})")
    settings = settings_for(args)
    settings.validate()
    store = build_store(settings)
    server = args.server
    if server:  # a name is looked up (any case) and each server read over its own partition only
        ids = [server] if server.startswith("/") else store.server_ids(server)
        records = sorted((r for sid in ids for r in store.history(server_id=sid, since=args.since,
                                                                  verdict=args.verdict)),
                         key=lambda r: r.detected_at, reverse=True)
    else:
        records = store.history(since=args.since, verdict=args.verdict)
    records = [r for r in records if matches(r, args)]
    if args.limit:
        records = records[: args.limit]
    if args.format == "json":
        print(json.dumps([r.to_dict() for r in records], indent=2))
    elif args.format == "csv":
        write_csv(records, sys.stdout)
    elif args.format == "ocsf":  # JSON lines: one OCSF Compliance Finding per row
        from drift.ocsf import finding_event

        for r in records:
            print(json.dumps(finding_event(r), sort_keys=True))
    else:
        print(format_table(records))
    return 0
