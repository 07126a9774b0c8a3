"""`mysql-drift export retry`: send the parked Log Analytics exports again, once the rule or role is fixed."""

from __future__ import annotations

import argparse

from drift.cli.common import settings_for


def cmd_export_retry(args: argparse.Namespace) -> int:
    from drift.runtime import build_engine

    count = build_engine(settings_for(args)).exports.retry_parked()
    print(f"{count} parked export(s) given back to the sweep (the next `sweep_alerts` run sends them)")
    return 0
