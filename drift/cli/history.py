"""`mysql-drift history`: the drift history, newest first."""

from __future__ import annotations

import argparse
import json

from drift.cli.common import settings_for
from drift.cli.formatting import format_table


def cmd_history(args: argparse.Namespace) -> int:
    from drift.runtime import build_store

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
    if args.limit:
        records = records[: args.limit]
    if args.format == "json":
        print(json.dumps([r.to_dict() for r in records], indent=2))
    else:
        print(format_table(records))
    return 0
