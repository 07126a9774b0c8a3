"""`ArmStandIn`: the ARM stand-in itself, its state, lifecycle, seeding and the request entry point.

It holds the in-memory servers, event queue, faults and statistics under one lock, serves them over HTTPS
on loopback (handler.py), and puts together the parts that work on that state: operations per resource
family (servers.py, children.py, configurations.py, actions.py, diagnostics.py), rendering, events,
traffic controls and the admin surface. `_handle` routes a request, checks path names against the spec,
runs the operation under the lock and answers long-running operations as lro.py says.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any, Self

from drift.local import security
from drift.local.arm.actions import ActionOperations
from drift.local.arm.admin import AdminSurface
from drift.local.arm.children import ChildOperations
from drift.local.arm.configurations import ConfigurationOperations
from drift.local.arm.diagnostics import DiagnosticSettingOperations
from drift.local.arm.errors import ArmError, JsonDict, require_method
from drift.local.arm.events import EventEmitter
from drift.local.arm.handler import ArmHandler
from drift.local.arm.limits import Fault, ReadBucket, TrafficControls
from drift.local.arm.model import Child, Server
from drift.local.arm.render import PAGE_SIZE, Rendering
from drift.local.arm.routes import Request, Route, resolve
from drift.local.arm.servers import ServerOperations
from drift.local.httpd import ServerThread
from drift.local.lro import LongRunningOperations, SpecFacts
from drift.local.variation import EventVariation

log = logging.getLogger(__name__)


DEFAULT_TENANT_ID = "72f988bf-0000-0000-0000-000000000000"


class ArmStandIn(
    ServerOperations,
    ChildOperations,
    ConfigurationOperations,
    ActionOperations,
    DiagnosticSettingOperations,
    Rendering,
    EventEmitter,
    TrafficControls,
    AdminSurface,
):
    """In-memory ARM for MySQL flexible servers + diagnostic settings, over HTTPS on loopback.

    Use ``MySQLManagementClient(LocalCredential(), sub, base_url=standin.url,
    connection_verify=str(ca.ca_bundle))``. Any subscription id is accepted.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tenant_id: str = DEFAULT_TENANT_ID,
        child_page_size: int = PAGE_SIZE,
    ) -> None:
        self.tenant_id = tenant_id
        self.child_page_size = child_page_size  # configurations, firewall rules, administrators
        self.lro = LongRunningOperations()
        self.event_variation = EventVariation()
        self._facts = SpecFacts.load()
        self._event_sequence = 0
        self.emit_events: bool = True
        self.latency: float = 0.0
        self._ssl_context = ssl_context
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._events_ready = threading.Condition(self._lock)
        self._events: deque[JsonDict] = deque()
        self._servers: dict[tuple[str, str, str], Server] = {}
        self._faults: list[Fault] = []
        self._reads = 0
        self._writes = 0
        self._throttled = 0
        self._polls = 0
        self._bucket: ReadBucket | None = None
        self.defer_server_updates = False  # PATCH shows `Updating` and the old values until finish_updates()
        self._pending_updates: list[tuple[Server, JsonDict]] = []
        # Defender and private endpoint connection writes show their provisioningState in flight
        # (and the old values) until finish_updates().
        self.defer_subresource_updates = False
        self._pending_children: list[tuple[Child, JsonDict]] = []
        self._by_path: Counter[str] = Counter()
        self._server: ServerThread | None = None
        self._stopping = False
        self.url = ""

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; ``url`` is set once this returns."""
        if self._server is not None:
            return self
        handler = type("ArmHandler", (ArmHandler,), {"standin": self})
        self._stopping = False
        self._server = ServerThread((self._host, self._port), handler, self._ssl_context, "arm-standin")
        self.url = self._server.origin
        log.info("ARM stand-in listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wake anyone blocked in :meth:`next_event`."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._events_ready:
            self._stopping = True
            self._events_ready.notify_all()
        server.stop()
        log.info("ARM stand-in on %s stopped", self.url)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every resource, event, fault and statistic; latency 0; events on."""
        with self._lock:
            self._servers.clear()
            security.forget(self)
            self._events.clear()
            self._faults.clear()
            self._reads = self._writes = self._throttled = self._polls = 0
            self._by_path.clear()
            self.latency = 0.0
            self.emit_events = True
            self._bucket = None
            self.defer_server_updates = False
            self._pending_updates = []
            self.defer_subresource_updates = False
            self._pending_children = []
            self.lro.reset()
            self.event_variation = EventVariation()
            self._event_sequence = 0

    def seed_server(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        location: str = "eastus",
        properties: Mapping[str, Any] | None = None,
        sku: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> JsonDict:
        """Create a server directly in memory: no HTTP, no event, no stats. Returns its GET body."""
        body: JsonDict = {"location": location, "properties": dict(properties or {})}
        if sku is not None:
            body["sku"] = dict(sku)
        if tags is not None:
            body["tags"] = dict(tags)
        with self._lock:
            server = self._create_or_replace_server(subscription_id, resource_group, name, body)[1]
            return self._render_server(server)

    def seed_firewall_rules(self, subscription_id: str, resource_group: str, name: str,
                            rules: list[tuple[str, str, str]]) -> None:
        """Add (name, start, end) firewall rules to an existing server in memory: no HTTP, no event.

        For states at Azure's maxima (hundreds of rules) without hundreds of SDK round trips.
        """
        with self._lock:
            server = self._servers[(subscription_id.lower(), resource_group.lower(), name.lower())]
            for rule, start, end in rules:
                server.firewall_rules[rule.lower()] = Child(rule, {"endIpAddress": end, "startIpAddress": start})

    # ---- request entry point (called by the handler) -------------------------------------

    def finish_updates(self) -> int:
        """Complete the updates held back by `defer_server_updates` and `defer_subresource_updates`:
        new values, server state `Ready`, provisioningState `Succeeded`."""
        with self._lock:
            done, self._pending_updates = self._pending_updates, []
            for server, resource in done:
                resource["properties"]["state"] = "Ready"
                server.resource = resource
            children, self._pending_children = self._pending_children, []
            for child, properties in children:
                child.properties = properties
            return len(done) + len(children)

    def _handle(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        route = resolve(request.segments)
        if route is None:
            with self._lock:  # subscription-level Defender plans: drift/local/security.py
                answer = security.handle(self, request, ArmError)
            if answer is not None:
                return answer[0], answer[1], {}
            raise ArmError(
                404, "InvalidResourceType", f"The resource type for '{request.raw_path}' could not be found."
            )
        if route.kind == "operation":
            status, body, headers, request.poll_of = self._op_operation(request, route)
            return status, body, headers
        api_version = request.query.get("api-version", "")
        found = self._facts.match(request.method, request.raw_path, api_version)
        if found is not None and request.method == "PUT":
            for name, value, pattern in self._facts.bad_path_values(*found):
                raise ArmError(400, "InvalidResourceName",
                               f"Resource name '{value}' ({name}) is invalid: it must match '{pattern}'.")
        operation = getattr(self, f"_op_{route.kind}")
        with self._lock:
            status, body = operation(request, route)
            if found is not None:
                server = self._find(route) if route.server else None
                location = server.resource["location"] if server else "eastus"
                accepted = self.lro.accept(found[0], self.url, route.subscription_id, location, status, body,
                                           api_version)
                if accepted is not None:
                    return accepted
            if status == 201 and isinstance(body, dict) and "properties" in body:
                body = self._created(body)
            return status, body, {}

    def _op_operation(self, request: Request, route: Route) -> tuple[int, Any, dict[str, str], str]:
        require_method(request, "GET")
        url = f"{self.url}{request.raw_path}" + (f"?{request.raw_query}" if request.raw_query else "")
        try:
            return self.lro.poll(route.collection, route.name, url)
        except LookupError:
            raise ArmError(404, "OperationNotFound", f"The operation '{route.name}' was not found.") from None
