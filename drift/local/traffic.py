"""What the ARM stand-in answers and emits, for whoever listens (the test session's contract check).

The stand-in reports every exchange it answers (admin calls excepted) and every Event Grid event it
queues to the observers registered here; with none registered, reporting costs nothing.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Exchange:
    """One request and the stand-in's answer."""

    method: str
    path: str
    query: dict[str, str]  # lower-cased names
    request_body: Any
    status: int
    response_body: Any
    response_headers: dict[str, str] = field(default_factory=dict)
    poll_of: str | None = None  # for a polling URL: the spec's operationId of the write it follows

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")


_exchange_observers: list[Callable[[Exchange], None]] = []
_event_observers: list[Callable[[JsonDict], None]] = []
_lock = threading.Lock()


def observe(on_exchange: Callable[[Exchange], None] | None = None,
            on_event: Callable[[JsonDict], None] | None = None) -> Callable[[], None]:
    """Register observers; returns the function that unregisters them."""
    with _lock:
        if on_exchange:
            _exchange_observers.append(on_exchange)
        if on_event:
            _event_observers.append(on_event)

    def stop() -> None:
        with _lock:
            if on_exchange in _exchange_observers:
                _exchange_observers.remove(on_exchange)
            if on_event in _event_observers:
                _event_observers.remove(on_event)

    return stop


def report_exchange(exchange: Exchange) -> None:
    for observer in list(_exchange_observers):
        observer(exchange)


def report_event(event: JsonDict) -> None:
    """Each observer gets its own copy: a test that then mutates the emitted event (to play a hostile
    sender) changes what the engine receives, not what the stand-in is judged on."""
    for observer in list(_event_observers):
        observer(copy.deepcopy(event))


def observed() -> bool:
    return bool(_exchange_observers or _event_observers)


__all__ = ["Exchange", "observe", "observed", "report_event", "report_exchange"]
