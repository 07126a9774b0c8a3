"""Collecting: the ARM reads the detector makes, through the real Azure SDK, as plain JSON.

Each read returns the REST shape of the official examples (camelCase, `properties` nested), so
detectors are tested on those examples verbatim and never see an SDK object. A read of a
resource that does not exist returns None; a server that does not exist raises `ServerGone`.
The SDK's retry policy handles 429 (honouring `Retry-After`) and 5xx; what is still failing
after it raises, so the invocation fails and Event Grid delivers the event again.

The SDK is imported on first use, not at import time: a cold start that only routes an
irrelevant event never pays for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from drift.armid import ServerRef

log = logging.getLogger(__name__)

MYSQL_API_VERSION = "2024-12-30"
DIAGNOSTIC_SETTINGS_API_VERSION = "2021-05-01-preview"

# What each read costs in ARM permissions: the custom role is built from this table.
READ_ACTIONS: dict[str, str] = {
    "server": "Microsoft.DBforMySQL/flexibleServers/read",
    "firewall_rules": "Microsoft.DBforMySQL/flexibleServers/firewallRules/read",
    "configuration": "Microsoft.DBforMySQL/flexibleServers/configurations/read",
    "administrators": "Microsoft.DBforMySQL/flexibleServers/administrators/read",
    "private_endpoints": "Microsoft.DBforMySQL/flexibleServers/privateEndpointConnections/read",
    "threat_protection": "Microsoft.DBforMySQL/flexibleServers/advancedThreatProtectionSettings/read",
    "diagnostic_settings": "Microsoft.Insights/diagnosticSettings/read",
}


class ServerGone(Exception):
    """The server no longer exists (deleted after the event was sent)."""


class ArmReader:
    """Reads one setting of one server per call; counts the ARM requests it makes."""

    def __init__(self, credential: Any, *, base_url: str | None = None, connection_verify: str | bool = True,
                 retry_total: int = 3) -> None:
        self._credential = credential
        self._base_url = base_url
        self._verify = connection_verify
        self._retry_total = retry_total
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def _client(self, subscription_id: str) -> Any:
        with self._lock:
            client = self._clients.get(subscription_id)
            if client is None:
                from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

                client = MySQLManagementClient(
                    self._credential, subscription_id, base_url=self._base_url,
                    connection_verify=self._verify, retry_total=self._retry_total,
                    raw_response_hook=self._count,
                )
                self._clients[subscription_id] = client
            return client

    def _count(self, _response: Any) -> None:
        with self._lock:
            self.requests += 1

    def read(self, ref: ServerRef, read: str) -> Any:
        """The plain JSON of one read (`server`, `firewall_rules`, `configuration/tls_version`, ...)."""
        from azure.core.exceptions import ResourceNotFoundError

        kind, _, arg = read.partition("/")
        handler = self._handlers().get(kind)
        if handler is None:
            raise ValueError(f"unknown read {read!r}")
        client = self._client(ref.server.subscription_id)
        group, name = ref.server.resource_group or "", ref.name
        try:
            return handler(client, group, name, arg)
        except ResourceNotFoundError:
            if kind in ("configuration", "threat_protection"):
                # The parameter or setting itself may be absent; tell that apart from a gone server.
                try:
                    client.servers.get(group, name)
                except ResourceNotFoundError:
                    raise ServerGone(ref.server_id) from None
                return None
            raise ServerGone(ref.server_id) from None

    def _handlers(self) -> dict[str, Callable[[Any, str, str, str], Any]]:
        return {
            "server": lambda c, g, n, _a: c.servers.get(g, n).serialize(keep_readonly=True),
            "firewall_rules": lambda c, g, n, _a: [r.serialize(keep_readonly=True)
                                                   for r in c.firewall_rules.list_by_server(g, n)],
            "configuration": lambda c, g, n, a: c.configurations.get(g, n, a).serialize(keep_readonly=True),
            "administrators": lambda c, g, n, _a: [r.serialize(keep_readonly=True)
                                                   for r in c.azure_ad_administrators.list_by_server(g, n)],
            "private_endpoints": lambda c, g, n, _a: [  # not paged: one result with a `value` list
                r.serialize(keep_readonly=True)
                for r in c.private_endpoint_connections.list_by_server(g, n).value or []],
            "threat_protection": lambda c, g, n, _a: c.advanced_threat_protection_settings.get(
                g, n, "Default").serialize(keep_readonly=True),
            "diagnostic_settings": self._diagnostic_settings,
        }

    def _diagnostic_settings(self, client: Any, group: str, name: str, _arg: str) -> list[dict[str, Any]]:
        """`azure-mgmt-monitor` 7 dropped diagnostic settings; one GET through the same pipeline does it."""
        from azure.core.exceptions import ResourceNotFoundError, map_error
        from azure.core.rest import HttpRequest

        sub = client._config.subscription_id
        url = (f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.DBforMySQL/flexibleServers/"
               f"{name}/providers/Microsoft.Insights/diagnosticSettings")
        request = HttpRequest("GET", url, params={"api-version": DIAGNOSTIC_SETTINGS_API_VERSION},
                              headers={"Accept": "application/json"})
        response = client._send_request(request)
        if response.status_code == 404:
            raise ResourceNotFoundError(response=response)
        if response.status_code != 200:
            map_error(response.status_code, response, {})
            from azure.core.exceptions import HttpResponseError

            raise HttpResponseError(response=response)
        return list(response.json().get("value") or [])
