"""Deferred re-checks: an Azure Storage queue whose visibility timeout is the delay.

A long-running write can fire its event before the new state is visible: the server still says
`Updating` and shows the old values. Rather than record "nothing changed", the engine puts the
event back on this queue to be read again later, a bounded number of times.

The queue client is built on the first defer or receive, not with the engine: importing
`azure.storage.queue` pulls in aiohttp (~19 MB, ~0.2 s), which an event that is ignored, or
judged at once, has no use for.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any


class RecheckQueue:
    def __init__(self, queue_client: Callable[[], Any]) -> None:
        """`queue_client` builds the `QueueClient` when the queue is first used."""
        self._build = queue_client
        self._client: Any = None
        self._lock = threading.Lock()
        self._ready = False

    @staticmethod
    def _codec() -> dict[str, Any]:
        """Base64, as the Functions queue trigger expects by default (plain text fails to decode there)."""
        from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy

        return {"message_encode_policy": TextBase64EncodePolicy(), "message_decode_policy": TextBase64DecodePolicy()}

    @classmethod
    def from_connection_string(cls, connection_string: str, name: str) -> RecheckQueue:
        def build() -> Any:
            from azure.storage.queue import QueueClient

            return QueueClient.from_connection_string(connection_string, name, **cls._codec())

        return cls(build)

    @classmethod
    def from_endpoint(cls, endpoint: str, name: str, credential: Any) -> RecheckQueue:
        def build() -> Any:
            from azure.storage.queue import QueueClient

            return QueueClient(endpoint, name, credential=credential, **cls._codec())

        return cls(build)

    @property
    def _queue(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _ensure(self) -> None:
        if not self._ready:
            from azure.core.exceptions import ResourceExistsError

            with contextlib.suppress(ResourceExistsError):
                self._queue.create_queue()
            self._ready = True

    def defer(self, raw_event: dict[str, Any], attempt: int, delay: float) -> None:
        """Deliver `raw_event` again after `delay` seconds, as re-check number `attempt`."""
        self._ensure()
        self._queue.send_message(json.dumps({"event": raw_event, "attempt": attempt}),
                                 visibility_timeout=max(0, round(delay)))

    def defer_group(self, server_id: str, correlation_id: str, delay: float) -> None:
        """Send the alerts of one operation on one server as one card after `delay` (the grouping window)."""
        self._ensure()
        self._queue.send_message(json.dumps({"send_group": {"server_id": server_id, "correlation_id": correlation_id}}),
                                 visibility_timeout=max(0, round(delay + 0.5)))

    def due(self, limit: int = 32, lease: int = 60) -> list[tuple[Any, dict[str, Any]]]:
        """Messages whose delay has passed, each hidden for `lease` seconds while it is handled."""
        self._ensure()
        return [(m, json.loads(m.content)) for m in self._queue.receive_messages(
            messages_per_page=limit, visibility_timeout=lease, max_messages=limit)]

    def done(self, message: Any) -> None:
        self._queue.delete_message(message)
