"""The stand-in's server operations: list, get, create or replace, patch and delete flexible servers.

`ServerOperations` also finds a route's server (and refuses a child of a missing one as ARM does). A PATCH
merges into a copy; with ``defer_server_updates`` the server shows ``Updating`` and its old values until
``finish_updates()``, as a long-running update does. A new server gets the parameter catalogue and a
disabled Defender setting.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from drift.local.arm.errors import (
    ArmError,
    JsonDict,
    json_object,
    method_not_allowed,
    not_found,
    properties_of,
    require_method,
)
from drift.local.arm.model import (
    SERVER_TYPE,
    Child,
    Server,
    iso,
    merge_patch,
    normalise_server,
    server_defaults,
    utc_now,
    writable_server_properties,
)
from drift.local.arm.parameters import Config, parameter_catalogue
from drift.local.arm.routes import Request, Route


class ServerOperations:
    """`ArmStandIn`'s operations on servers (the caller holds the lock)."""

    _servers: dict[tuple[str, str, str], Server]
    defer_server_updates: bool
    _pending_updates: list[tuple[Server, JsonDict]]

    def _find(self, route: Route) -> Server | None:
        key = (route.subscription_id.lower(), route.resource_group.lower(), route.server.lower())
        return self._servers.get(key)

    def _parent(self, route: Route) -> Server:
        server = self._find(route)
        if server is None:
            raise ArmError(
                404,
                "ParentResourceNotFound",
                f"Failed to perform the requested operation on nested resource. Parent resource "
                f"'{route.server}' not found.",
            )
        return server

    def _create_or_replace_server(
        self, subscription_id: str, resource_group: str, name: str, body: Any
    ) -> tuple[bool, Server]:
        body = json_object(body)
        location = body.get("location")
        if not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        props_in = writable_server_properties(properties_of(body))
        key = (subscription_id.lower(), resource_group.lower(), name.lower())
        existing = self._servers.get(key)
        now = utc_now()
        previous = existing.resource["properties"]["version"] if existing else None
        version = str(props_in.get("version") or previous or "8.0.21")
        resource: JsonDict = {
            "location": location,
            "properties": merge_patch(
                server_defaults(existing.name if existing else name, version, now), props_in
            ),
            "sku": copy.deepcopy(body.get("sku") or {"name": "Standard_B1ms", "tier": "Burstable"}),
            "tags": copy.deepcopy(body.get("tags") or {}),
        }
        if body.get("identity"):
            resource["identity"] = copy.deepcopy(body["identity"])
        normalise_server(resource)
        if existing is not None:
            existing.resource = resource
            return False, existing
        server = Server(subscription_id, resource_group, name, resource)
        for spec in parameter_catalogue(version):
            server.configurations[spec.name] = Config(spec, spec.default, spec.default)
        created = iso(now)
        server.threat_protection["default"] = Child(
            "Default",
            {"creationTime": created, "provisioningState": "Succeeded", "state": "Disabled"},
            {"systemData": {"createdAt": created, "lastModifiedAt": created}},
        )
        self._servers[key] = server
        return True, server

    def _op_list_sub(self, request: Request, route: Route) -> tuple[int, Any]:
        require_method(request, "GET")
        servers = [
            s for s in self._servers.values() if s.subscription_id.lower() == route.subscription_id.lower()
        ]
        return 200, self._page(request, servers)

    def _op_list_rg(self, request: Request, route: Route) -> tuple[int, Any]:
        require_method(request, "GET")
        sub, rg = route.subscription_id.lower(), route.resource_group.lower()
        servers = [
            s
            for s in self._servers.values()
            if s.subscription_id.lower() == sub and s.resource_group.lower() == rg
        ]
        return 200, self._page(request, servers)

    def _op_server(self, request: Request, route: Route) -> tuple[int, Any]:
        method = request.method
        if method == "GET":
            server = self._find(route)
            if server is None:
                raise not_found(SERVER_TYPE, route.server, route.resource_group)
            return 200, self._render_server(server)
        if method == "PUT":
            created, server = self._create_or_replace_server(
                route.subscription_id, route.resource_group, route.server, request.body
            )
            self._emit_mysql(request, route, "write", "Write", created)
            body = self._render_server(server)
            return (201, body) if created else (200, body)
        if method == "PATCH":
            server = self._find(route)
            if server is None:
                raise not_found(SERVER_TYPE, route.server, route.resource_group)
            patch = json_object(request.body)
            resource = copy.deepcopy(server.resource)
            merge_patch(resource["properties"], writable_server_properties(properties_of(patch)))
            for key in ("tags", "sku", "identity"):
                value = patch.get(key)
                if isinstance(value, Mapping):
                    merge_patch(resource.setdefault(key, {}), value)
            normalise_server(resource)
            if self.defer_server_updates:
                # As a long-running update does: the event fires while the old state still shows, `Updating`.
                self._pending_updates.append((server, resource))
                server.resource = copy.deepcopy(server.resource)
                server.resource["properties"]["state"] = "Updating"
            else:
                server.resource = resource
            self._emit_mysql(request, route, "write", "Write")
            return 200, self._render_server(server)
        if method == "DELETE":
            key = (route.subscription_id.lower(), route.resource_group.lower(), route.server.lower())
            existed = self._servers.pop(key, None) is not None
            self._emit_mysql(request, route, "delete", "Delete")
            return (200 if existed else 204), None
        raise method_not_allowed(request)
