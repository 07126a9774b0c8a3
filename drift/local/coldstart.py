"""What the first events of a cold Function process cost, and which heavy modules they import.

    python -m drift.local.coldstart SETTINGS_JSON [--distributions] < events.json   (from the app's root)

Imports `azure.functions` first (the Functions worker has done so before it loads the app, so
that cost is the platform's), then imports `function_app`, builds the engine from the given
settings and hands it the events, as the Event Grid trigger does. Prints one JSON object:
milliseconds and RSS growth of that, the outcomes, and which of `WATCHED` got imported; with
`--distributions`, also every installed distribution a module was loaded from (after timing).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

# Heavy modules that only some paths should import.
WATCHED = ("msgraph", "kiota_abstractions", "httpx", "aiohttp", "azure.storage.queue", "azure.eventgrid",
           "azure.identity", "msal", "requests", "azure.data.tables", "azure.mgmt.mysqlflexibleservers",
           "azure.monitor.ingestion")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def loaded_distributions() -> set[str]:
    """The installed distributions whose files the loaded modules (and extension modules) came from."""
    from importlib.metadata import distributions
    from pathlib import Path

    owner: dict[str, str] = {}
    for dist in distributions():
        for file in dist.files or []:
            owner[str(Path(str(file.locate())).resolve())] = dist.metadata["Name"]
    loaded = {str(Path(m.__file__).resolve()) for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
    return {owner[path] for path in loaded if path in owner}


def main(argv: list[str]) -> int:
    settings_json, events = argv[1], json.load(sys.stdin)
    rss, started = rss_mb(), time.perf_counter()
    import azure.functions  # noqa: F401

    worker_ms, worker_mb = (time.perf_counter() - started) * 1000, rss_mb() - rss
    rss, started = rss_mb(), time.perf_counter()
    import function_app  # noqa: F401
    from drift import runtime
    from drift.config import Settings

    engine = runtime.build_engine(Settings(**json.loads(settings_json)))
    outcomes = engine.handle_many(events)
    report: dict[str, Any] = {
        "first_event_ms": (time.perf_counter() - started) * 1000, "first_event_mb": rss_mb() - rss,
        "worker_ms": worker_ms, "worker_mb": worker_mb, "statuses": [o.status for o in outcomes],
        "imported": [m for m in WATCHED if m in sys.modules]}
    if "--distributions" in argv:
        report["distributions"] = sorted(loaded_distributions())
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
