"""The chaos harness of issue 9: the promises of the README tried as an attacker and a busy host would.

Each case (`drift.local.chaos_cases`) is one function: it sets up a server on the local stack
through the real SDK, acts (concurrently where the case says so: threads with separate engines
for "separate instances", one shared engine for "one Function host"), and judges from what the
history table and the Teams receiver hold. A round answers with a `Tally`:

- lost: a real weakening with no history row, or no card;
- duplicated: more than one card for one alert;
- wrong: a wrong verdict (HIGH+LOW where CRITICAL is due, a false card, a refused request let in);
- crashed: an uncaught exception, an HTTP 500, a deterministic failure retried, an invocation
  past Event Grid's 30 s.

`bench/chaos.py` runs every case N rounds and prints the table; `tests/test_chaos.py` runs a
short version of each and asserts the issue's "must be" column (a clean tally).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from drift.config import Settings
from drift.engine import DriftEngine, Outcome, RetryableFailure
from drift.local import writes
from drift.local.arm import ArmStandIn
from drift.local.credential import LocalCredential
from drift.local.receivers import GraphReceiver, TeamsReceiver
from drift.local.tls import LocalCA
from drift.model import HistoryRecord
from drift.runtime import build_engine, build_store
from drift.store import BaselineStore

SUBSCRIPTION = "ffffffff-ffff-ffff-ffff-ffffffffffff"
GROUP = "rg-chaos"
WORKSPACE = "/subscriptions/x/resourceGroups/sec/providers/Microsoft.OperationalInsights/workspaces/soc"
TENANT = "72f988bf-0000-0000-0000-000000000000"
CARELESS = {"name": "Casey Admin", "upn": "casey@contoso.example", "ipaddr": "203.0.113.7",
            "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": "3c1e9f0a-0000-4000-8000-00000000a002"}


_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|RequestId:\S+|srv-[0-9a-f]{8}",
                 re.IGNORECASE)


@dataclass
class Tally:
    """What some rounds of one case came to; `clean` is the issue's "must be"."""

    tried: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    crashed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.tried > 0 and not (self.lost or self.duplicated or self.wrong or self.crashed)

    def note(self, text: str) -> None:
        """One line, ids masked so that the same finding in different rounds counts as one."""
        self.notes.append(_ID.sub("<id>", " ".join(text.split()))[:150])

    def add(self, other: Tally) -> None:
        self.tried += other.tried
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.wrong += other.wrong
        self.crashed += other.crashed
        self.notes += other.notes

    def clamped(self) -> Tally:
        """At most one of each kind per probe tried: a case counts probes that broke, not every symptom."""
        cap = max(self.tried, 1)
        return Tally(self.tried, min(self.lost, cap), min(self.duplicated, cap), min(self.wrong, cap),
                     min(self.crashed, cap), list(self.notes))

    def findings(self, limit: int = 4) -> list[str]:
        """The most common notes, each with how often it came up."""
        return [text + (f" (x{n})" if n > 1 else "") for text, n in Counter(self.notes).most_common(limit)]

    def describe(self) -> str:
        counts = (f"tried {self.tried}, lost {self.lost}, duplicated {self.duplicated}, wrong {self.wrong}, "
                  f"crashed {self.crashed}")
        return counts + "".join(f"\n  - {text}" for text in self.findings())


@dataclass
class ChaosEnv:
    """The long-lived parts of the local stack the cases drive (shared by every round)."""

    storage_connection_string: str
    arm: ArmStandIn
    ca: LocalCA
    teams: TeamsReceiver
    graph: GraphReceiver

    def begin(self) -> World:
        """A clean slate for one round: no stand-in servers, events or faults, no cards, a fresh table."""
        self.arm.reset()
        self.teams.clear()
        self.graph.clear()
        settings = Settings(
            arm_endpoint=self.arm.url, arm_ca_bundle=str(self.ca.ca_bundle), local_credential=True,
            storage_connection_string=self.storage_connection_string, table_name=f"c{uuid.uuid4().hex[:16]}",
            recheck_queue=f"q{uuid.uuid4().hex[:16]}", notifiers=["teams"], teams_webhook_url=self.teams.webhook_url,
            alert_max_wait=0.2, graph_endpoint=self.graph.url)
        return World(self, settings, f"srv-{uuid.uuid4().hex[:8]}")


@dataclass
class World:
    """One round: its settings (own table), its server name, and ways to act and to look."""

    env: ChaosEnv
    settings: Settings
    name: str

    @property
    def arm(self) -> ArmStandIn:
        return self.env.arm

    @property
    def teams(self) -> TeamsReceiver:
        return self.env.teams

    @property
    def server_id(self) -> str:
        return writes.server_id(SUBSCRIPTION, GROUP, self.name)

    def engine(self, **overrides: Any) -> DriftEngine:
        """An engine built as the Function builds it (`drift.runtime.build_engine`)."""
        return build_engine(replace(self.settings, **overrides))

    def sdk(self, claims: dict[str, Any] | None = None, subscription: str = SUBSCRIPTION) -> Any:
        from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

        return MySQLManagementClient(LocalCredential(claims or CARELESS), subscription, base_url=self.arm.url,
                                     connection_verify=str(self.env.ca.ca_bundle))

    def compliant_server(self, engine: DriftEngine, name: str | None = None, **kwargs: Any) -> None:
        """A server whose watched settings are all as the policy wants, baselined, with no card left."""
        writes.create_compliant_server(self.sdk(), GROUP, name or self.name, WORKSPACE, **kwargs)
        engine.handle_many(self.arm.drain_events())
        self.teams.clear()

    def history(self, server_id: str | None = None) -> list[HistoryRecord]:
        return self.store.history(server_id=server_id or self.server_id)

    @cached_property
    def store(self) -> BaselineStore:
        """The round's table, read as `mysql-drift history` reads it (not through an engine under test)."""
        return build_store(self.settings)

    def cards(self) -> list[dict[str, Any]]:
        return self.teams.messages()


def card_text(message: Any) -> str:
    """Every string of a card as a reader sees it (markdown escapes removed), one per line."""
    if isinstance(message, dict):
        return "\n".join(card_text(v) for v in message.values())
    if isinstance(message, list):
        return "\n".join(card_text(v) for v in message)
    return re.sub(r"\\(.)", r"\1", message) if isinstance(message, str) else ""


def card_facts(message: dict[str, Any]) -> dict[str, str]:
    """Every fact of a card, those under its "Details" toggle included."""
    facts: dict[str, str] = {}

    def walk(blocks: list[dict[str, Any]]) -> None:
        for block in blocks:
            if block.get("type") == "FactSet":
                facts.update({f["title"]: f["value"] for f in block["facts"]})
            walk(block.get("items") or [])

    walk(message["attachments"][0]["content"].get("body", []))
    return facts


def card_heading(message: dict[str, Any]) -> str:
    from notifiers.teams import heading_text

    return heading_text(message["attachments"][0]["content"])


def duplicates(messages: list[dict[str, Any]]) -> int:
    """Cards beyond the first for one alert (cards carry the alert's key; list cards their heading and items)."""
    keys = Counter(card_facts(m).get("Alert id") or card_text(m) for m in messages)
    return sum(n - 1 for n in keys.values())


def deliver(engine: DriftEngine, events: Sequence[dict[str, Any]], tally: Tally, *, attempts: int = 4,
            ) -> list[Outcome]:
    """Event Grid's part, one event at a time: retried while it fails retryably, at most `attempts` times.

    An event that fails every attempt is a deterministic failure retried (crashed); an exception
    that is not `RetryableFailure` is an uncaught one (crashed).
    """
    outcomes: list[Outcome] = []
    for event in events:
        for attempt in range(attempts):
            try:
                outcomes += engine.handle_many([event])
                break
            except RetryableFailure as exc:
                if attempt == attempts - 1:
                    tally.crashed += 1
                    tally.note(f"event failed all {attempts} deliveries: {str(exc)[:160]}")
            except Exception as exc:  # what the Functions host would log as an unhandled error
                tally.crashed += 1
                tally.note(f"uncaught {type(exc).__name__}: {str(exc)[:160]}")
                break
    return outcomes


def deliver_at_once(engines: Sequence[DriftEngine], events: Sequence[dict[str, Any]], tally: Tally, *,
                    redeliver: bool = True) -> list[Any]:
    """Hand event i to engine i, all at the same moment, each on its own thread (engines may be one object).

    An invocation that fails retryably is delivered again afterwards, as Event Grid would
    (`redeliver`), or counted as a failed invocation; any other exception is a crash.
    """
    barrier = threading.Barrier(len(events))
    results: list[Any] = [None] * len(events)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = engines[index].handle_many([events[index]])
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(events))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for index, result in enumerate(results):
        if isinstance(result, RetryableFailure) and redeliver:
            deliver(engines[index], [events[index]], tally)
        elif isinstance(result, Exception):
            tally.crashed += 1
            tally.note(f"invocation failed: {type(result).__name__}: {str(result)[:160]}")
    return results


def expect_alerted(world: World, tally: Tally, setting: str, *, server_id: str | None = None,
                   records: list[HistoryRecord] | None = None) -> HistoryRecord | None:
    """The weakening of `setting` must have a history row and a card; counts it lost otherwise."""
    rows = [r for r in (records if records is not None else world.history(server_id))
            if r.setting == setting and r.verdict == "weakened"]
    if not rows:
        tally.lost += 1
        tally.note(f"no history row for the {setting} weakening")
        return None
    import detectors

    title = detectors.by_setting(setting).title
    server = rows[0].server
    cards = [m for m in world.cards() if server in card_text(m) and (f"({setting})" in card_text(m)
                                                                     or title in card_text(m))]
    if not cards:
        tally.lost += 1
        tally.note(f"{setting} weakening recorded ({rows[0].severity}) but no card")
    return rows[0]
