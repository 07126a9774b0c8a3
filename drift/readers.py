"""Collecting: the ARM reads the detector makes, through the real Azure SDK, as plain JSON.

Each read returns the REST shape of the official examples (camelCase, `properties` nested), so
detectors are tested on those examples verbatim and never see an SDK object. A read of a
server that does not exist raises `ServerGone`; a setting of a server that exists answering 404
(ARM not consistent yet) is read once more and then raises `ChildNotFound`, a retryable failure.
The SDK's retry policy handles 429 (honouring `Retry-After`) and 5xx; what is still failing
after it raises, so the invocation fails and Event Grid delivers the event again.

The SDK is imported on first use, not at import time: a cold start that only routes an
irrelevant event never pays for it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

from drift.armid import ServerRef

log = logging.getLogger(__name__)

MYSQL_API_VERSION = "2024-12-30"
DIAGNOSTIC_SETTINGS_API_VERSION = "2021-05-01-preview"
SECURITY_PRICINGS_API_VERSION = "2024-01-01"

# What each read costs in ARM permissions: the custom role is built from this table.
READ_ACTIONS: dict[str, str] = {
    "server": "Microsoft.DBforMySQL/flexibleServers/read",
    "firewall_rules": "Microsoft.DBforMySQL/flexibleServers/firewallRules/read",
    "configuration": "Microsoft.DBforMySQL/flexibleServers/configurations/read",
    "administrators": "Microsoft.DBforMySQL/flexibleServers/administrators/read",
    "private_endpoints": "Microsoft.DBforMySQL/flexibleServers/privateEndpointConnections/read",
    "threat_protection": "Microsoft.DBforMySQL/flexibleServers/advancedThreatProtectionSettings/read",
    "diagnostic_settings": "Microsoft.Insights/diagnosticSettings/read",
    "defender_plan": "Microsoft.Security/pricings/read",
}

# Subscription-level reads (drift.subscription): read -> the setting's path under the subscription.
SUBSCRIPTION_READS: dict[str, str] = {
    "defender_plan": "providers/Microsoft.Security/pricings/OpenSourceRelationalDatabases",
}
# The same read under another published name: the provider also lists diagnostic settings on a
# server as `flexibleServers/providers/Microsoft.Insights/diagnosticSettings/read`, and which of
# the two ARM checks is not documented, so the role carries both.
READ_ACTION_ALIASES: dict[str, tuple[str, ...]] = {
    "diagnostic_settings": (
        "Microsoft.DBforMySQL/flexibleServers/providers/Microsoft.Insights/diagnosticSettings/read",),
}


def role_actions() -> list[str]:
    """Every action the reader role needs: one per read, and the aliases of a read."""
    return sorted({*READ_ACTIONS.values(), *(a for aliases in READ_ACTION_ALIASES.values() for a in aliases)})


class ServerGone(Exception):
    """The server no longer exists (deleted after the event was sent)."""


class ChildNotFound(Exception):
    """A setting of a server that exists answered 404: ARM was not consistent yet (a retry finds it).

    Every setting the detectors read exists on every server (a parameter has a default, a list is
    empty, threat protection is `Default`), so reading it as "not set" would record a weakening
    that never happened.
    """


class ArmBudgetExceeded(Exception):
    """ARM asked us to wait (429 `Retry-After`, or backoff) past what this invocation may spend.

    Retryable: Event Grid delivers the event again later, when ARM's budget has refilled, instead of
    an invocation held past Event Grid's 30 s and then retried anyway.
    """


_deadline = threading.local()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every ARM wait in this thread (and its SDK retries) must end within `seconds` from now."""
    previous = getattr(_deadline, "at", None)
    _deadline.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _deadline.at = previous


def _retry_policy(retry_total: int, request_budget: float) -> Any:
    """azure-core's retry policy (Retry-After honoured), with its waits bounded by the invocation's deadline
    (`deadline`), or by `request_budget` seconds per request outside one."""
    from azure.core.pipeline.policies import RetryPolicy

    class BudgetedRetryPolicy(RetryPolicy):
        def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
            settings = super().configure_retries(options)
            settings["deadline"] = getattr(_deadline, "at", None) or time.monotonic() + request_budget
            return settings

        def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
            wait = (self.get_retry_after(response) if response is not None else None)
            if wait is None:
                wait = self.get_backoff_time(settings)
            if time.monotonic() + wait > settings["deadline"]:
                raise ArmBudgetExceeded(f"ARM asks to wait {wait:.0f}s, past this invocation's budget")
            super().sleep(settings, transport, response)

    return BudgetedRetryPolicy(retry_total=retry_total)


# Provisioning states of a sub-resource whose settings can be trusted. The spec's enums say
# `Succeeded`; the official private endpoint connection example says `Ready`.
SETTLED = {"succeeded", "ready"}


def unsettled(read: str, data: Any) -> str | None:
    """What in a read's result is still being provisioned (not yet showing the write), or None.

    Defender settings and private endpoint connections carry a `provisioningState`; while it is
    anything but settled, a re-read later is worth more than a judgement now.
    """
    if read == "threat_protection":
        items = [("Defender setting", data)]
    elif read == "private_endpoints":
        items = [(f"private endpoint connection {c.get('name')}", c) for c in data or [] if isinstance(c, dict)]
    else:
        return None
    for what, item in items:
        state = ((item or {}).get("properties") or {}).get("provisioningState")
        if isinstance(state, str) and state.lower() not in SETTLED:
            return f"{what} {state}"
    return None


class TokenBucket:
    """The client side of ARM's read limit: `burst` requests at once, then `rate` a second, per subscription.

    Every request through the SDK takes a token first (retries and next pages included), so a
    scan of hundreds of servers slows itself down instead of drawing 429s. The defaults keep 10%
    below ARM's 250 burst and 25/s: requests reach ARM in a slightly different order and moment
    than they took their tokens, and event handlers read from the same budget.
    """

    def __init__(self, burst: float = 225, rate: float = 22.5, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.burst, self.rate = burst, rate
        self._clock, self._sleep = clock, sleep
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self, key: str) -> None:
        while True:
            with self._lock:
                now = self._clock()
                tokens = min(self.burst, self._tokens.get(key, self.burst)
                             + (now - self._stamp.get(key, now)) * self.rate)
                self._stamp[key] = now
                if tokens >= 1:
                    self._tokens[key] = tokens - 1
                    return
                self._tokens[key] = tokens
                wait = (1 - tokens) / self.rate
                self.waited += wait
            self._sleep(wait)


class ArmReader:
    """Reads one setting of one server per call; counts the ARM requests it makes."""

    def __init__(self, credential: Any, *, base_url: str | None = None, connection_verify: str | bool = True,
                 retry_total: int = 3, bucket: TokenBucket | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.bucket = bucket or TokenBucket()
        self._credential = credential
        self._base_url = base_url
        self._verify = connection_verify
        self._retry_total = retry_total
        self._sleep = sleep
        self.child_retry_delay = 0.5
        self.request_budget = 20.0  # seconds one read may wait on ARM outside an invocation's deadline
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def _client(self, subscription_id: str) -> Any:
        with self._lock:
            client = self._clients.get(subscription_id)
            if client is None:
                from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

                from drift.transport import client_options

                client = MySQLManagementClient(
                    self._credential, subscription_id, base_url=self._base_url,
                    connection_verify=self._verify,
                    retry_policy=_retry_policy(self._retry_total, self.request_budget), **client_options(),
                    raw_request_hook=self._take_token, raw_response_hook=self._count,
                )
                self._clients[subscription_id] = client
            return client

    def _take_token(self, request: Any) -> None:
        """Runs before every attempt (the hook sits after the retry policy)."""
        parts = urlparse(request.http_request.url).path.strip("/").split("/")
        self.bucket.acquire(parts[1].lower() if len(parts) > 1 and parts[0].lower() == "subscriptions" else "")

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
        for attempt in range(2):
            try:
                return handler(client, group, name, arg)
            except ResourceNotFoundError:
                if kind == "server":
                    raise ServerGone(ref.server_id) from None
                self._server_exists(client, ref)
                if attempt == 0:
                    log.info("%s of %s answered 404 while the server exists; reading it once more", read,
                             ref.server_id)
                    self._sleep(self.child_retry_delay)
        raise ChildNotFound(f"{read} of {ref.server_id} answered 404 twice while the server exists")

    def _server_exists(self, client: Any, ref: ServerRef) -> None:
        """Raises ServerGone unless ARM still has the server."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            client.servers.get(ref.server.resource_group or "", ref.name)
        except ResourceNotFoundError:
            raise ServerGone(ref.server_id) from None

    def list_servers(self, subscription_id: str) -> list[dict[str, Any]]:
        """Every MySQL flexible server of a subscription (their full GET bodies; paged)."""
        return [s.serialize(keep_readonly=True) for s in self._client(subscription_id).servers.list()]

    def scan_reads(self, ref: ServerRef, server: dict[str, Any]) -> Callable[[ServerRef, str], Any]:
        """A read function for a reconcile scan: the server body from the listing, and one listing of
        all parameters instead of one GET per tracked parameter."""
        parameters: dict[str, Any] | None = None

        def read(target: ServerRef, what: str) -> Any:
            nonlocal parameters
            kind, _, name = what.partition("/")
            if kind == "server":
                return server
            if kind != "configuration":
                return self.read(target, what)
            if parameters is None:
                from azure.core.exceptions import ResourceNotFoundError

                client = self._client(ref.server.subscription_id)
                try:
                    parameters = {c.name.lower(): c.serialize(keep_readonly=True) for c in
                                  client.configurations.list_by_server(ref.server.resource_group or "", ref.name)}
                except ResourceNotFoundError:
                    self._server_exists(client, ref)
                    raise ChildNotFound(f"the parameters of {ref.server_id} answered 404 while it exists") from None
            return parameters.get(name.lower())

        return read

    def read_subscription(self, subscription_id: str, read: str) -> dict[str, Any] | None:
        """A subscription-level setting (`defender_plan`): one GET through the same client's pipeline,
        as `azure-mgmt-security` would be a heavy dependency for one call. None when it does not exist."""
        from azure.core.exceptions import HttpResponseError, map_error
        from azure.core.rest import HttpRequest

        path = SUBSCRIPTION_READS.get(read)
        if path is None:
            raise ValueError(f"unknown subscription read {read!r}")
        request = HttpRequest("GET", f"/subscriptions/{subscription_id}/{path}",
                              params={"api-version": SECURITY_PRICINGS_API_VERSION},
                              headers={"Accept": "application/json"})
        response = self._client(subscription_id)._send_request(request)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            map_error(response.status_code, response, {})
            raise HttpResponseError(response=response)
        body = response.json()
        return body if isinstance(body, dict) else None

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
