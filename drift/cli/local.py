"""`mysql-drift local up` and `mysql-drift demo`: the local stack."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import tempfile
import threading
from pathlib import Path

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
