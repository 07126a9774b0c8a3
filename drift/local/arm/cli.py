"""A local stand-in for Azure Resource Manager: MySQL flexible servers and diagnostic settings.

This module runs it as its own process for out-of-process tests and the local stack
(``python -m drift.local.arm``): it makes the local CA, starts the stand-in, writes where it listens to a
ready file and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from drift.local.arm.standin import DEFAULT_TENANT_ID, ArmStandIn


def main(argv: list[str] | None = None) -> int:
    """``python -m drift.local.arm --ca-dir DIR [--port N] [--ready-file F]``.

    Writes ``{"url": ..., "ca_bundle": ...}`` to ``--ready-file`` once listening; runs until SIGTERM/SIGINT.
    """
    from drift.local.tls import LocalCA

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ca-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tenant-id", default=DEFAULT_TENANT_ID)
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    ca = LocalCA.create(args.ca_dir)
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with ArmStandIn(ca.server_context(), host=args.host, port=args.port, tenant_id=args.tenant_id) as standin:
        if args.ready_file:
            tmp = args.ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"url": standin.url, "ca_bundle": str(ca.ca_bundle)}))
            tmp.replace(args.ready_file)
        while not done.wait(0.5):
            pass
    return 0
