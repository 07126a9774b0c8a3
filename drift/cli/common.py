"""What every command shares: the settings it runs against, who acts, the checks of its arguments."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from drift.config import Settings


class CommandError(Exception):
    """What went wrong, in one line for the person at the terminal, and the exit code it ends with."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line on stderr (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def settings_for(args: argparse.Namespace) -> Settings:
    if getattr(args, "endpoints_file", None):
        return Settings.from_endpoints_file(args.endpoints_file)
    return Settings.from_env()


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than `minimum` (`--workers 0` is no way to scan)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes a whole number, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    parse.__name__ = f"a whole number of at least {minimum}"
    return parse


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
