"""`mysql-drift local up` and `mysql-drift demo`: the local stack."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import tempfile
import threading
from pathlib import Path

from drift.cli.common import CommandError
from drift.config import Settings


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


def cmd_demo(args: argparse.Namespace) -> int:
    from drift.local.demo import run_demo

    return run_demo()


def cmd_local_seed(args: argparse.Namespace) -> int:
    """Example servers in the running stack whose endpoints file is named, and their drift in its history."""
    from azure.core.exceptions import AzureError

    from drift.local.seed import SeedError, seed, wait_recorded

    if not args.endpoints_file:
        raise CommandError("name the running stack: --endpoints-file (as given to `mysql-drift local up`)")
    settings = Settings.from_endpoints_file(args.endpoints_file)
    endpoints = json.loads(Path(args.endpoints_file).read_text())
    print(f"seeding {args.servers} server(s) into the ARM stand-in at {endpoints['arm_endpoint']}:", flush=True)
    try:
        seeded = seed(endpoints, settings, args.servers, timeout=args.wait, say=lambda line: print(line, flush=True))
    except SeedError as exc:
        raise CommandError(str(exc), code=1) from None
    except AzureError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommandError(f"the ARM stand-in at {endpoints['arm_endpoint']} refused or did not answer "
                           f"(is `mysql-drift local up` running?): {first}", code=1) from None
    recorded, expected = wait_recorded(settings, seeded, timeout=args.wait)
    if recorded < expected:
        raise CommandError(f"the detector recorded {recorded} of {expected} weakening(s) within {args.wait:.0f}s: "
                           "is `mysql-drift local up` running with this endpoints file?", code=1)
    print(f"{len(seeded)} server(s), {expected} weakening(s) recorded. Try:")
    print(f"  mysql-drift history --endpoints-file {args.endpoints_file}")
    print(f"  mysql-drift history --severity high --by casey --endpoints-file {args.endpoints_file}")
    if endpoints.get("console_url"):
        print(f"  the console: {endpoints['console_url']}/")
    return 0
