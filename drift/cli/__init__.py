"""`mysql-drift`: replay events, read the drift history, run the local stack and the demo.

One module per command family; this one holds the parser and the entry point. Importing it loads only the
standard library and drift's light modules (`python3 -m drift.cli policy check` runs without the SDKs)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from drift.cli.common import parse_since
from drift.cli.history import cmd_history
from drift.cli.local import cmd_demo, cmd_local_up
from drift.cli.policy import cmd_policy_check
from drift.cli.replay import cmd_replay
from drift.cli.review import cmd_accept, cmd_ack
from drift.cli.scan import cmd_scan
from drift.config import ConfigError
from drift.model import Verdict
from drift.policy import PolicyError

__all__ = ["build_parser", "main", "parse_since"]

log = logging.getLogger("mysql-drift")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mysql-drift", description=__doc__.partition("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_endpoints(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--endpoints-file", help="use a running local stack (from `mysql-drift local up`)")
        return p

    replay = with_endpoints(sub.add_parser("replay", help="handle events from a file (JSON array or one event)"))
    replay.add_argument("file", help="path, or - for standard input")
    replay.set_defaults(func=cmd_replay)

    history = with_endpoints(sub.add_parser("history", help="list detected changes, newest first"))
    history.add_argument("--server", help="server name or full ARM id")
    history.add_argument("--since", type=parse_since, help="30m, 24h, 7d or an ISO date")
    history.add_argument("--verdict", choices=[v.value for v in Verdict])
    history.add_argument("--format", choices=["table", "json"], default="table")
    history.add_argument("--limit", type=int)
    history.set_defaults(func=cmd_history)

    local = sub.add_parser("local", help="the local stack")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    up = local_sub.add_parser("up", help="start Azurite, the ARM stand-in, receivers and the event pump")
    up.add_argument("--endpoints-file", help="where to write the endpoints JSON")
    up.add_argument("--workdir", help="folder for the CA bundle (default: a new temporary folder)")
    up.set_defaults(func=cmd_local_up)

    scan = with_endpoints(sub.add_parser("scan", help="reconcile: check every server of the watched subscriptions"))
    scan.add_argument("--subscription", action="append", help="a subscription id (repeatable; default: watched)")
    scan.add_argument("--workers", type=int, default=8, help="servers checked at once (default 8)")
    scan.set_defaults(func=cmd_scan)

    accept = with_endpoints(sub.add_parser("accept", help="make the current state of a server the baseline"))
    accept.add_argument("server", help="server name or full ARM id")
    accept.add_argument("--alert", help="the alert id the card shows (or an event id from history): accept what it "
                                        "showed, refused if ARM now shows something else")
    accept.add_argument("--setting", help="only this setting of the alert, or the setting --expect names")
    accept.add_argument("--expect", help="with --setting and no alert: the state you reviewed, as history shows it")
    accept.add_argument("--reason", required=True, help="why the change is intended")
    accept.add_argument("--by", help="who accepts it (default: the local user)")
    accept.set_defaults(func=cmd_accept)

    ack = with_endpoints(sub.add_parser("ack", help="mark the history rows of an event as reviewed"))
    ack.add_argument("event_id")
    ack.add_argument("--reason", required=True)
    ack.add_argument("--by", help="who reviewed it (default: the local user)")
    ack.set_defaults(func=cmd_ack)

    policy = sub.add_parser("policy", help="the desired state")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser("check", help="validate a policy file")
    check.add_argument("file", help="TOML policy file")
    check.set_defaults(func=cmd_policy_check)

    demo = sub.add_parser("demo", help="a careless admin weakens a server on the local stack; watch the alerts")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("azure", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except (ConfigError, PolicyError) as exc:
        print(f"mysql-drift: configuration error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"mysql-drift: {exc}", file=sys.stderr)
        return 2
