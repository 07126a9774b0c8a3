"""`mysql-drift status`: the fleet's open findings, worst first; with --server, every setting of that server."""

from __future__ import annotations

import argparse

from drift.cli.common import settings_for


def cmd_status(args: argparse.Namespace) -> int:
    from drift.runtime import build_store
    from drift.status import gather, render

    settings = settings_for(args)
    settings.validate()
    print(render(gather(build_store(settings), server=args.server, severity=args.severity), args.format))
    return 0
