"""Who did it, in words: a service principal's or managed identity's display name, not a GUID.

The event's claims name a person (`name`, `upn`) but only give an `appid` for a service
principal or a managed identity. Its display name comes from Microsoft Graph
(`/servicePrincipals(appId='...')`, which needs `Application.Read.All`), cached per process.
Resolution never blocks detection: on any failure the id is shown, and the failure is cached
for a while too, so a missing permission does not cost a Graph call per event.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

GRAPH = "https://graph.microsoft.com"


class PrincipalNames:
    def __init__(self, credential: Any, *, graph_endpoint: str = GRAPH, ttl: float = 3600.0,
                 failure_ttl: float = 300.0) -> None:
        self._credential = credential
        self._endpoint = graph_endpoint.rstrip("/")
        self._ttl, self._failure_ttl = ttl, failure_ttl
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()
        self._client: Any = None
        self.lookups = 0

    def _graph(self) -> Any:
        if self._client is None:
            from notifiers.graph import graph_client

            self._client = graph_client(self._credential, self._endpoint)
        return self._client

    def display_name(self, app_id: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(app_id.lower())
            if cached and cached[1] > now:
                return cached[0]
        name: str | None = None
        ttl = self._failure_ttl
        try:
            self.lookups += 1
            from notifiers.graph import run

            principal = run(self._graph().service_principals_with_app_id(app_id).get())
            name = getattr(principal, "display_name", None) or None
            ttl = self._ttl
        except Exception as exc:  # a name is a nicety: detection goes on without it
            log.info("no display name for app %s: %s", app_id, type(exc).__name__)
        with self._lock:
            self._cache[app_id.lower()] = (name, now + ttl)
        return name
