"""What every command shares: the settings it runs against, who acts, `--since`."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from drift.config import Settings


def settings_for(args: argparse.Namespace) -> Settings:
    if getattr(args, "endpoints_file", None):
        return Settings.from_endpoints_file(args.endpoints_file)
    return Settings.from_env()


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `24h`, `7d`, or an ISO 8601 date/time (UTC when no offset is given)."""
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"(\d+)\s*([mhd])", text.strip())
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since takes 30m, 24h, 7d or an ISO date, not {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def reviewer(args: argparse.Namespace) -> str:
    import getpass

    return args.by or f"{getpass.getuser()} (mysql-drift cli)"
