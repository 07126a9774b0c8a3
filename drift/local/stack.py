"""The local stack: Azurite, the ARM stand-in, Teams, Graph and Logs Ingestion receivers, and an event pump.

The pump plays Event Grid: it takes each event the ARM stand-in emits and hands it to the same
`DriftEngine.handle_many` the Function's trigger calls. A delivery that raises is retried
later, as Event Grid would (with seconds instead of minutes between attempts).
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drift.config import Settings
from drift.engine import DriftEngine, Outcome, RetryableFailure
from drift.local.arm import ArmStandIn
from drift.local.azurite import Azurite
from drift.local.console_server import LocalConsole
from drift.local.receivers import GraphReceiver, LogsIngestionReceiver, TeamsReceiver
from drift.local.tls import LocalCA

log = logging.getLogger(__name__)

LOCAL_SUBSCRIPTION = "ffffffff-ffff-ffff-ffff-ffffffffffff"


@dataclass(order=True)
class _Delivery:
    due: float
    attempt: int
    event: dict[str, Any] = field(compare=False)


class EventPump:
    """Delivers the stand-in's events to an engine, with Event Grid's at-least-once retries."""

    def __init__(self, arm: ArmStandIn, engine: DriftEngine, *, retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)):
        self.arm = arm
        self.engine = engine
        self.retry_delays = retry_delays
        self.outcomes: list[Outcome] = []
        self.latencies: list[float] = []
        self.dead_lettered: list[dict[str, Any]] = []
        self._retries: list[_Delivery] = []
        self._busy = False
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="event-pump", daemon=True)

    def start(self) -> EventPump:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _next(self) -> _Delivery | None:
        with self._cond:
            if self._retries and self._retries[0].due <= time.monotonic():
                self._busy = True
                return heapq.heappop(self._retries)
        event = self.arm.next_event(timeout=0.05)
        if event is None:
            return None
        with self._cond:
            self._busy = True
        return _Delivery(time.monotonic(), 0, event)

    def _run(self) -> None:
        last_rechecks = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_rechecks > 0.5:  # the queue trigger's work: deferred re-checks now due
                last_rechecks = time.monotonic()
                try:
                    self.outcomes.extend(self.engine.process_rechecks())
                except Exception:
                    log.exception("deferred re-check failed; it will be seen again")
            delivery = self._next()
            if delivery is None:
                with self._cond:
                    self._cond.notify_all()
                continue
            started = time.perf_counter()
            try:
                self.outcomes.extend(self.engine.handle_many([delivery.event]))
            except RetryableFailure as exc:
                if delivery.attempt < len(self.retry_delays):
                    log.info(
                        "delivery %d of event %s failed (%s); retrying",
                        delivery.attempt + 1,
                        delivery.event.get("id"),
                        exc,
                    )
                    with self._cond:
                        heapq.heappush(
                            self._retries,
                            _Delivery(
                                time.monotonic() + self.retry_delays[delivery.attempt],
                                delivery.attempt + 1,
                                delivery.event,
                            ),
                        )
                else:
                    log.error(
                        "event %s dead-lettered after %d deliveries",
                        delivery.event.get("id"),
                        delivery.attempt + 1,
                    )
                    self.dead_lettered.append(delivery.event)
            finally:
                self.latencies.append(time.perf_counter() - started)
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def wait_idle(self, timeout: float = 30.0, *, include_retries: bool = True) -> bool:
        """Block until no event is queued, none is being handled, and (optionally) no retry is due."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                quiet = not self._busy and (not include_retries or not self._retries)
            if quiet and self.arm.pending_events() == 0:
                time.sleep(0.05)
                with self._cond:
                    if not self._busy and self.arm.pending_events() == 0:
                        return True
            with self._cond:
                self._cond.wait(timeout=0.05)
        return False


class LocalStack:
    """Everything `mysql-drift local up`, `make demo` and the tests run against."""

    def __init__(
        self,
        workdir: Path,
        *,
        storage_connection_string: str | None = None,
        table_name: str = "mysqldrift",
        subscription_id: str = LOCAL_SUBSCRIPTION,
    ) -> None:
        self.workdir = workdir
        self.table_name = table_name
        self.subscription_id = subscription_id
        self._external_storage = storage_connection_string
        self.azurite: Azurite | None = None
        self.ca: LocalCA | None = None
        self.arm: ArmStandIn | None = None
        self.teams: TeamsReceiver | None = None
        self.graph: GraphReceiver | None = None
        self.logs: LogsIngestionReceiver | None = None
        self.pump: EventPump | None = None
        self.console: LocalConsole | None = None

    def start(self) -> LocalStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self._external_storage:
            self.azurite = Azurite().start()
        self.ca = LocalCA.create(self.workdir)
        self.arm = ArmStandIn(self.ca.server_context()).start()
        self.teams = TeamsReceiver().start()
        self.graph = GraphReceiver().start()
        self.logs = LogsIngestionReceiver(ssl_context=self.ca.server_context()).start()
        return self

    @property
    def storage_connection_string(self) -> str:
        if self._external_storage:
            return self._external_storage
        assert self.azurite is not None
        return self.azurite.connection_string

    def endpoints(self) -> dict[str, str]:
        assert self.arm and self.ca and self.teams and self.graph and self.logs
        return {
            "arm_endpoint": self.arm.url,
            "ca_bundle": str(self.ca.ca_bundle),
            "subscription_id": self.subscription_id,
            "storage_connection_string": self.storage_connection_string,
            "table_name": self.table_name,
            "teams_webhook_url": self.teams.webhook_url,
            "teams_messages_url": f"{self.teams.url}/messages",
            "graph_endpoint": self.graph.url,
            "logs_ingestion_endpoint": self.logs.endpoint,
            "logs_rule_id": self.logs.rule_id,
            "logs_rows_url": f"{self.logs.url}/messages",
            **({"console_url": self.console.url} if self.console else {}),
        }

    def write_endpoints(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.endpoints(), indent=2) + "\n")

    def settings(self, notifiers: list[str] | None = None) -> Settings:
        endpoints = self.endpoints()
        return Settings(
            arm_endpoint=endpoints["arm_endpoint"],
            arm_ca_bundle=endpoints["ca_bundle"],
            local_credential=True,
            storage_connection_string=endpoints["storage_connection_string"],
            table_name=self.table_name,
            notifiers=notifiers or ["teams"],
            teams_webhook_url=endpoints["teams_webhook_url"],
            logs_endpoint=endpoints["logs_ingestion_endpoint"],
            logs_rule_id=endpoints["logs_rule_id"],
        )

    def start_pump(self, engine: DriftEngine, **kwargs: Any) -> EventPump:
        assert self.arm is not None
        self.pump = EventPump(self.arm, engine, **kwargs).start()
        return self.pump

    def start_console(self, engine: DriftEngine, **kwargs: Any) -> LocalConsole:
        """The web console and the review routes on 127.0.0.1 (drift/local/console_server.py)."""
        self.console = LocalConsole(engine, **kwargs).start()
        return self.console

    def stop(self) -> None:
        for part in (self.console, self.pump, self.arm, self.teams, self.graph, self.logs, self.azurite):
            if part is not None:
                try:
                    part.stop()
                except Exception:  # stopping the rest matters more
                    log.exception("stopping %s failed", type(part).__name__)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
