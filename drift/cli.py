"""`mysql-drift`: replay events, read the drift history, run the local stack and the demo."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drift.config import ConfigError, Settings
from drift.events import MalformedEvent, load_events
from drift.model import HistoryRecord, Verdict
from drift.policy import PolicyError

log = logging.getLogger("mysql-drift")


def _settings(args: argparse.Namespace) -> Settings:
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


def cmd_replay(args: argparse.Namespace) -> int:
    from drift.engine import RetryableFailure
    from drift.runtime import build_engine

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        raw_events = load_events(text)
    except MalformedEvent as exc:
        print(f"mysql-drift replay: {exc}", file=sys.stderr)
        return 2
    engine = build_engine(_settings(args))
    try:
        outcomes = engine.handle_many(raw_events)
        code = 0
    except RetryableFailure as exc:
        print(f"mysql-drift replay: {exc}", file=sys.stderr)
        outcomes, code = [], 1
    for outcome in outcomes:
        print(f"{outcome.event_id}: {outcome.status}"
              + (f" ({len(outcome.records)} change(s), {outcome.alerts_sent} alert(s))" if outcome.records else "")
              + (f" - {outcome.detail}" if outcome.detail else ""))
    return code


def format_table(records: Sequence[HistoryRecord]) -> str:
    if not records:
        return "no drift recorded"
    headers = ["detected", "server", "setting", "verdict", "severity", "before -> after", "by", "alert"]
    rows = []
    for r in records:
        change = f"{r.before if r.before is not None else '(first seen)'} -> {r.after}"
        rows.append([r.detected_at[:19].replace("T", " "), r.server, r.setting, r.verdict, r.severity,
                     change if len(change) <= 70 else change[:67] + "...", r.changed_by, r.alert_status])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def cmd_history(args: argparse.Namespace) -> int:
    from drift.runtime import build_store

    settings = _settings(args)
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


def cmd_status(args: argparse.Namespace) -> int:
    from drift.runtime import build_store
    from drift.status import gather, render

    settings = _settings(args)
    settings.validate()
    print(render(gather(build_store(settings), server=args.server, severity=args.severity), args.format))
    return 0


def cmd_local_up(args: argparse.Namespace) -> int:
    from drift.local.stack import LocalStack
    from drift.runtime import build_engine

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="mysql-drift-"))
    endpoints_file = Path(args.endpoints_file or workdir / "endpoints.json")
    stack = LocalStack(workdir, storage_connection_string=Settings.from_env().storage_connection_string).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        engine = build_engine(stack.settings(["teams", "console"]))
        engine.store.ensure_table()  # the clients the engine builds on first use, built before anyone writes
        engine.process_rechecks()
        stack.start_pump(engine)
        stack.start_console(engine)  # the console as the local OS user (it plays App Service Authentication)
        stack.write_endpoints(endpoints_file)  # last: the stack is ready when its endpoints appear
        print(f"local stack up; endpoints in {endpoints_file}", flush=True)
        print(json.dumps(stack.endpoints(), indent=2), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    finally:
        stack.stop()
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from drift.engine import RetryableFailure
    from drift.reconcile import Reconciler
    from drift.runtime import build_engine

    settings = _settings(args)
    subscriptions = args.subscription or settings.watched_subscriptions
    if not subscriptions:
        print("mysql-drift scan: name --subscription, or set DRIFT_WATCHED_SUBSCRIPTIONS", file=sys.stderr)
        return 2
    reconciler = Reconciler(build_engine(settings), workers=args.workers)
    try:
        reports = reconciler.scan(subscriptions)
        code = 0
    except RetryableFailure as exc:
        print(f"mysql-drift scan: {exc}", file=sys.stderr)
        return 1
    for r in reports:
        print(f"{r.subscription_id}: {r.checked} server(s) checked{f' ({r.skipped} done before)' if r.skipped else ''}"
              f", {r.recorded} change(s), {r.alerts} alert(s), {r.closed} closed, {r.arm_requests} ARM requests "
              f"in {r.seconds:.1f}s")
    return code


def _reviewer(args: argparse.Namespace) -> str:
    import getpass

    return args.by or f"{getpass.getuser()} (mysql-drift cli)"


def cmd_accept(args: argparse.Namespace) -> int:
    from drift.review import ReviewError, accept
    from drift.runtime import build_engine

    try:
        result = accept(build_engine(_settings(args)), args.server, setting=args.setting, reason=args.reason,
                        by=_reviewer(args), alert=args.alert, expect=args.expect)
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
        count = ack(build_engine(_settings(args)), args.event_id, reason=args.reason, by=_reviewer(args))
    except ReviewError as exc:
        print(f"mysql-drift ack: {exc}", file=sys.stderr)
        return 2
    print(f"{count} history row(s) of event {args.event_id} marked reviewed")
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    from drift.policy import load_policy

    policy = load_policy(args.file)
    desired = policy.desired
    print(f"{policy.source}: valid; TLS {', '.join(desired.tls_versions)}, "
          f"public access {desired.public_network_access}, {len(policy.approved_ranges)} approved range(s), "
          f"{len(policy.exemptions)} exemption(s), alerts from {policy.min_alert_severity}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from drift.local.demo import run_demo

    return run_demo()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mysql-drift", description=__doc__)
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




if __name__ == "__main__":
    sys.exit(main())
