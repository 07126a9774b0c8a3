"""`mysql-drift`: replay events, read the drift history, run the local stack and the demo.

One module per command family; this one holds the parser and the entry point. Importing it loads only the
standard library and drift's light modules (`python3 -m drift.cli policy check` runs without the SDKs).

How every command ends: its result on stdout; an error as one line on stderr (`mysql-drift <command>: ...`,
no traceback unless -v) with a non-zero exit (2: the command line, the configuration or the input; 1: it
failed, and may succeed when run again; 130: interrupted). When the reader of stdout goes away (`| head`),
the command stops quietly with exit 0: nothing failed, the rest was not wanted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from drift.cli.common import CommandError, Parser, at_least, parse_since
from drift.cli.export import cmd_export_retry
from drift.cli.history import cmd_history
from drift.cli.local import cmd_demo, cmd_local_seed, cmd_local_up
from drift.cli.policy import cmd_policy_check
from drift.cli.replay import cmd_replay
from drift.cli.review import cmd_accept, cmd_ack
from drift.cli.scan import cmd_scan
from drift.cli.status import cmd_status
from drift.config import ConfigError
from drift.model import Severity, Verdict
from drift.policy import PolicyError

__all__ = ["build_parser", "main", "parse_since"]

log = logging.getLogger("mysql-drift")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mysql-drift", description=__doc__.partition("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, and tracebacks of errors")
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
    history.add_argument("--severity", choices=[s.value for s in Severity], help="this severity or worse")
    history.add_argument("--setting", help="only this setting (e.g. firewall_rules)")
    history.add_argument("--by", help="only changes by a caller whose name contains this (any case)")
    history.add_argument("--format", choices=["table", "json", "csv", "ocsf"], default="table",
                         help="table (short event ids, long values wrapped), json or csv (every field, in full)")
    history.add_argument("--limit", type=at_least(1), help="at most this many rows")
    history.set_defaults(func=cmd_history)

    status = with_endpoints(sub.add_parser("status", help="the fleet's open findings, worst first; "
                                                          "with --server, every setting of that server"))
    status.add_argument("--server", help="server name or full ARM id (reads that server's partition)")
    status.add_argument("--severity", choices=["critical", "high", "medium", "low"],
                        help="only open findings of this severity or worse")
    status.add_argument("--format", choices=["table", "json", "csv"], default="table")
    status.set_defaults(func=cmd_status)

    local = sub.add_parser("local", help="the local stack")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    up = local_sub.add_parser("up", help="start Azurite, the ARM stand-in, receivers, the event pump and the console")
    up.add_argument("--endpoints-file", help="where to write the endpoints JSON")
    up.add_argument("--workdir", help="folder for the CA bundle (default: a new temporary folder)")
    up.set_defaults(func=cmd_local_up)
    seed = local_sub.add_parser("seed", help="create example servers, weakened by several people, in a running "
                                             "`local up` stack")
    seed.add_argument("--endpoints-file", help="the endpoints file `local up` wrote")
    seed.add_argument("--servers", type=at_least(1), default=6, help="how many servers (default 6)")
    seed.add_argument("--wait", type=at_least(1), default=120,
                      help="seconds to wait for the detector to record the changes (default 120)")
    seed.set_defaults(func=cmd_local_seed)

    scan = with_endpoints(sub.add_parser("scan", help="reconcile: check every server of the watched subscriptions"))
    scan.add_argument("--subscription", action="append", help="a watched subscription id (repeatable; default: all)")
    scan.add_argument("--workers", type=at_least(1), default=8, help="servers checked at once (default 8)")
    scan.add_argument("--progress-every", type=at_least(1), default=50,
                      help="without a terminal: a progress line every N servers (default 50) or 10 seconds")
    scan.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
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

    ack = with_endpoints(sub.add_parser("ack", help="mark the history rows of an alert or an event as reviewed"))
    ack.add_argument("id", help="the alert id the card shows, or an event id (whole, or as history shows it)")
    ack.add_argument("--server", help="look only at this server (name or full ARM id)")
    ack.add_argument("--reason", required=True)
    ack.add_argument("--by", help="who reviewed it (default: the local user)")
    ack.set_defaults(func=cmd_ack)

    export = sub.add_parser("export", help="the Log Analytics export")
    export_sub = export.add_subparsers(dest="export_command", required=True)
    retry = with_endpoints(export_sub.add_parser(
        "retry", help="give exports parked after repeated refusals (400, 403: the rule or the role) back to the sweep"))
    retry.set_defaults(func=cmd_export_retry)

    policy = sub.add_parser("policy", help="the desired state")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser("check", help="validate a policy file; warn about exemptions that have expired")
    check.add_argument("file", help="TOML policy file")
    check.add_argument("--strict", action="store_true", help="exit 1 when an exemption has expired")
    check.set_defaults(func=cmd_policy_check)

    demo = sub.add_parser("demo", help="a careless admin weakens a server on the local stack; watch the alerts")
    demo.set_defaults(func=cmd_demo)
    return parser


def _reader_gone() -> int:
    """stdout's reader closed the pipe (`mysql-drift history | head`): stop quietly. What is still
    buffered goes to /dev/null, so that the interpreter's last flush does not complain either."""
    for stream in (sys.stdout, sys.stderr):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing to silence
            pass
    return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("azure", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    name = " ".join(["mysql-drift", args.command, *[getattr(args, a) for a in ("local_command", "policy_command")
                                                    if getattr(args, a, None)]])

    def fail(message: str, code: int) -> int:
        print(f"{name}: {message}", file=sys.stderr)
        return code

    try:
        code = int(args.func(args))
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _reader_gone()
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except CommandError as exc:
        return fail(str(exc), exc.code)
    except (ConfigError, PolicyError) as exc:
        return fail(f"configuration error: {exc}", 2)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        return fail(str(exc), 2)  # a file named on the command line that cannot be read
    except Exception as exc:
        if args.verbose:
            log.exception("%s failed", name)
        return fail(f"{_first_line(exc)} (run with -v for the traceback)", 1)
