"""A cold process pays only for the path an event takes: msgraph, the queue SDK and aiohttp stay out
unless a Graph notifier, a deferred re-check or the eventgrid notifier needs them."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from drift.config import Settings
from drift.local.arm import ArmStandIn
from drift.local.receivers import TeamsReceiver
from tests.conftest import fixture_json
from tests.helpers import create_server

ROOT = Path(__file__).resolve().parents[1]
GRAPH_AND_QUEUE = {"msgraph", "kiota_abstractions", "httpx", "aiohttp", "azure.storage.queue", "azure.eventgrid"}


def cold(settings: Settings, events: list[Any]) -> dict[str, Any]:
    """The events handled by a fresh process, as the Function's first invocation would."""
    done = subprocess.run([sys.executable, "-m", "drift.local.coldstart", json.dumps(dataclasses.asdict(settings))],
                          input=json.dumps(events), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_an_ignored_event_imports_no_sdk_at_all(settings: Settings) -> None:
    storage_write = fixture_json("eventgrid", "event-grid-schema", "resource_write_success.json")
    report = cold(settings, [storage_write])
    assert report["statuses"] == ["ignored"]
    assert report["imported"] == [], "no table, queue, ARM, identity, Graph or HTTP library for an ignored event"


def test_the_teams_path_imports_neither_graph_nor_the_queue_nor_aiohttp(
    settings: Settings, sdk: Any, arm: ArmStandIn, teams: TeamsReceiver, server_name: str
) -> None:
    create_server(sdk, server_name)  # a new server: the posture check reads it all and posts one card
    report = cold(settings, arm.drain_events())
    assert "recorded" in report["statuses"] and len(teams.messages()) == 1
    assert GRAPH_AND_QUEUE.isdisjoint(report["imported"]), report["imported"]
    assert {"azure.data.tables", "azure.mgmt.mysqlflexibleservers"} <= set(report["imported"]), "the path ran"
