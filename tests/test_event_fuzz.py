"""Event parsing under hostile input: thousands of mutations of the official Event Grid examples.

Whatever a field holds (another JSON type, 40,000 characters, invisible or control characters, a
missing key), `parse_event` returns an `ArmEvent` whose every string is bounded, or raises
`MalformedEvent`; nothing else. The router and the subscription check then take the event without
raising either. Seeded, so a failure names a case that can be replayed.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from drift import routing
from drift.engine import DriftEngine
from drift.events import (
    MAX_GUID,
    MAX_ID,
    MAX_IP,
    MAX_NAME,
    MAX_OPERATION,
    MAX_SUBJECT,
    ArmEvent,
    MalformedEvent,
    parse_event,
)
from drift.store import encode_key
from tests.conftest import FIXTURES, SUBSCRIPTION

SERVER = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-fuzz/providers/Microsoft.DBforMySQL/flexibleServers/"
          "fuzz-db")
ROUNDS = 300  # per example: 18 examples, 5,400 events


def examples() -> list[dict[str, Any]]:
    """The official examples, and each again aimed at a MySQL server of the watched subscription."""
    found = []
    for path in sorted((FIXTURES / "eventgrid").rglob("*.json")):
        raw = json.loads(path.read_text())
        found.append(raw)
        aimed = copy.deepcopy(raw)
        aimed["subject"] = aimed["data"]["resourceUri"] = SERVER + "/firewallRules/r1"
        aimed["data"]["operationName"] = "Microsoft.DBforMySQL/flexibleServers/firewallRules/write"
        aimed["data"]["subscriptionId"] = SUBSCRIPTION
        found.append(aimed)
    return found


def hostile_values(rng: random.Random) -> list[Any]:
    return [
        None, 0, -1, 2**70, 1.5, float("nan"), True, [], ["x"], {}, {"a": {"b": [1]}}, "",
        "x" * rng.choice([33_000, 40_000, 70_000]),
        "\u061c\ufeff\u2060\u00ad\u202e" * 10, "a\x00b\r\nc", "/", "//", "/subscriptions/",
        f"/subscriptions/{SUBSCRIPTION}/" + "a/" * 600, "🙂" * 20_000, "%|#?\\" * 300,
        "2018-07-19T18:38:04.6117357Z", "not a time", "Microsoft.Resources.ResourceWriteSuccess",
    ]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, (*prefix, i))
    return out


def mutate(raw: dict[str, Any], rng: random.Random) -> Any:
    event: Any = copy.deepcopy(raw)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.05:
            return rng.choice(hostile_values(rng))  # not an object at all
        if choice < 0.1 and isinstance(event.get("data"), dict):
            event["data"] = json.dumps(event["data"])  # data as a JSON string, as some senders do
            continue
        targets = paths(event)
        if not targets:
            break
        path = rng.choice(targets)
        parent = event
        for step in path[:-1]:
            parent = parent[step]
        if choice < 0.25 and isinstance(parent, dict):
            del parent[path[-1]]
        elif choice < 0.35 and isinstance(parent, dict):
            parent[f"extra{rng.randint(0, 9)}"] = rng.choice(hostile_values(rng))
        else:
            parent[path[-1]] = rng.choice(hostile_values(rng))
    return event


def assert_bounded(event: ArmEvent) -> None:
    assert isinstance(event.id, str) and 0 < len(event.id) <= MAX_ID
    assert isinstance(event.subject, str) and 0 < len(event.subject) <= MAX_SUBJECT
    assert len(encode_key(event.subject).encode()) <= 1024, "the table key of anything under the subject fits"
    assert isinstance(event.operation_name, str) and len(event.operation_name) <= MAX_OPERATION
    for value in (event.subscription_id, event.tenant_id, event.correlation_id, event.caller.app_id,
                  event.caller.object_id):
        assert value is None or (isinstance(value, str) and len(value) <= MAX_GUID)
    for value in (event.caller.name, event.caller.upn):
        assert value is None or (isinstance(value, str) and len(value) <= MAX_NAME)
    for value in (event.client_ip, event.caller.ip_address):
        assert value is None or (isinstance(value, str) and len(value) <= MAX_IP)
    assert len(event.caller.display) <= 2 * MAX_NAME + 3
    assert len(json.dumps(event.raw)) < 8_000, "a deferred re-check's queue message stays far under 64 KiB"
    assert parse_event(event.raw) == event, "the trimmed event a re-check queues parses to the same event"


@pytest.mark.parametrize("index", range(len(examples())))
def test_a_mutated_official_example_parses_bounded_or_is_malformed_and_nothing_else(index: int) -> None:
    raw = examples()[index]
    engine = DriftEngine(reader=None, store=None, notifiers=[], subscriptions=[SUBSCRIPTION],  # type: ignore[arg-type]
                         tenant_id="72f988bf-86f1-41af-91ab-2d7cd011db47")
    rng = random.Random(index)
    outcomes = {"parsed": 0, "malformed": 0}
    for _ in range(ROUNDS):
        event = mutate(raw, rng)
        try:
            parsed = parse_event(event)
        except MalformedEvent as exc:
            assert len(str(exc)) < 1_000, "the log line of a malformed event is short"
            outcomes["malformed"] += 1
            continue
        outcomes["parsed"] += 1
        assert_bounded(parsed)
        engine._refusal(parsed)
        routing.plan(parsed)
    assert outcomes["parsed"] > ROUNDS // 4 and outcomes["malformed"] > 0, outcomes


def test_the_unmutated_examples_parse_as_they_are() -> None:
    for raw in examples():
        event = parse_event(raw)
        assert event.id == raw["id"] and event.subject == raw["subject"]
        assert event.correlation_id == raw["data"]["correlationId"]
        upn = raw["data"]["claims"].get("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn")
        assert event.caller.upn == upn and event.caller.name == raw["data"]["claims"].get("name")
