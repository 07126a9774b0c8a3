"""The stand-in's operations on a server's child resources, firewall rules to Defender settings.

Firewall rules, Entra administrators, private endpoint connections and Advanced Threat Protection
(Defender) settings: `ChildOperations` lists (paged where the spec pages), gets, writes and deletes
them, checks what Azure checks (IPv4 ranges, the one ``ActiveDirectory`` administrator, the ``Default``
Defender setting), and with ``defer_subresource_updates`` shows a write still provisioning until
``finish_updates()``.
"""

from __future__ import annotations

import copy
from typing import Any

from drift.local.arm.errors import ArmError, JsonDict, ipv4, method_not_allowed, properties_of, require_method
from drift.local.arm.model import Child, Server, iso, merge_patch, utc_now
from drift.local.arm.routes import Request, Route
from drift.local.credential import CLAIM_UPN


class ChildOperations:
    """`ArmStandIn`'s operations on servers' child resources (the caller holds the lock)."""

    tenant_id: str
    child_page_size: int
    defer_subresource_updates: bool
    _pending_children: list[tuple[Child, JsonDict]]

    def _hold_back(self, child: Child, final: JsonDict, in_flight: str) -> None:
        """Show ``child`` still provisioning (``in_flight``) until finish_updates() gives it ``final``."""
        self._pending_children.append((child, final))
        child.properties = {**copy.deepcopy(child.properties), "provisioningState": in_flight}

    def _op_collection(self, request: Request, route: Route) -> tuple[int, Any]:
        require_method(request, "GET")
        server = self._parent(route)
        if route.collection == "configurations":
            keyword = (request.query.get("keyword") or "").lower()
            items = [
                self._render_config(server, c) for name, c in server.configurations.items() if keyword in name
            ]
        else:
            children = self._children(server, route.collection)
            items = [self._render_child(server, route.collection, c) for c in children.values()]
        if route.collection in ("configurations", "firewallRules", "administrators"):
            return 200, self._page_of(request, items, self.child_page_size)
        return 200, {"value": items}

    @staticmethod
    def _children(server: Server, collection: str) -> dict[str, Child]:
        return {
            "firewallRules": server.firewall_rules,
            "administrators": server.administrators,
            "privateEndpointConnections": server.private_endpoint_connections,
            "advancedThreatProtectionSettings": server.threat_protection,
        }[collection]

    def _op_child(self, request: Request, route: Route) -> tuple[int, Any]:
        server = self._parent(route)
        if route.collection == "configurations":
            return self._configuration(request, route, server)
        children = self._children(server, route.collection)
        key = route.name.lower()
        method = request.method
        if method == "GET":
            child = children.get(key)
            if child is None:
                raise ArmError(
                    404,
                    "ResourceNotFound",
                    f"The resource '{route.collection}/{route.name}' of server '{server.name}' "
                    "was not found.",
                )
            return 200, self._render_child(server, route.collection, child)
        if method == "DELETE" and route.collection != "advancedThreatProtectionSettings":
            existed = children.pop(key, None) is not None
            self._emit_mysql(request, route, f"{route.collection}/delete", "Delete")
            return (200 if existed else 204), None
        if method == "PUT" or (method == "PATCH" and route.collection == "advancedThreatProtectionSettings"):
            writer = {
                "firewallRules": self._write_firewall_rule,
                "administrators": self._write_administrator,
                "privateEndpointConnections": self._write_private_endpoint_connection,
                "advancedThreatProtectionSettings": self._write_threat_protection,
            }[route.collection]
            created = writer(request, route, server, children)
            self._emit_mysql(request, route, f"{route.collection}/write", "Write", created)
            body = self._render_child(server, route.collection, children[key])
            return (201, body) if created else (200, body)
        raise method_not_allowed(request)

    def _write_firewall_rule(
        self, request: Request, route: Route, server: Server, children: dict[str, Child]
    ) -> bool:
        props = properties_of(request.body)
        start = ipv4(props.get("startIpAddress"), "startIpAddress")
        end = ipv4(props.get("endIpAddress"), "endIpAddress")
        if start > end:
            raise ArmError(
                400,
                "InvalidParameterValue",
                "The start IP address must not be greater than the end IP address.",
            )
        existing = children.get(route.name.lower())
        name = existing.name if existing else route.name
        children[route.name.lower()] = Child(name, {"endIpAddress": str(end), "startIpAddress": str(start)})
        return existing is None

    def _write_administrator(
        self, request: Request, route: Route, server: Server, children: dict[str, Child]
    ) -> bool:
        if route.name.lower() != "activedirectory":
            raise ArmError(400, "InvalidParameterValue", "The administrator name must be 'ActiveDirectory'.")
        props = properties_of(request.body)
        stored = {
            "administratorType": props.get("administratorType") or "ActiveDirectory",
            "identityResourceId": props.get("identityResourceId"),
            "login": props.get("login"),
            "sid": props.get("sid"),
            "tenantId": props.get("tenantId") or self.tenant_id,
        }
        existed = "activedirectory" in children
        children["activedirectory"] = Child(
            "ActiveDirectory", {k: v for k, v in stored.items() if v is not None}
        )
        return not existed

    def _write_private_endpoint_connection(
        self, request: Request, route: Route, server: Server, children: dict[str, Child]
    ) -> bool:
        props = properties_of(request.body)
        existing = children.get(route.name.lower())
        if existing is None:
            base: JsonDict = {
                "privateEndpoint": {
                    "id": f"/subscriptions/{server.subscription_id}/resourceGroups/{server.resource_group}"
                    f"/providers/Microsoft.Network/privateEndpoints/{route.name}"
                },
                "privateLinkServiceConnectionState": {
                    "description": "Auto-approved",
                    "actionsRequired": "None",
                    "status": "Approved",
                },
            }
        else:
            base = copy.deepcopy(existing.properties)
        props = {k: v for k, v in props.items() if k != "provisioningState"}
        merged = merge_patch(base, props)
        merged["provisioningState"] = "Succeeded"
        if self.defer_subresource_updates:
            child = existing or Child(route.name, copy.deepcopy(merged))
            children[route.name.lower()] = child
            self._hold_back(child, merged, "Updating" if existing else "Creating")
            return existing is None
        children[route.name.lower()] = Child(existing.name if existing else route.name, merged)
        return existing is None

    def _write_threat_protection(
        self, request: Request, route: Route, server: Server, children: dict[str, Child]
    ) -> bool:
        if route.name.lower() != "default":
            raise ArmError(
                404, "ResourceNotFound", f"Advanced Threat Protection setting '{route.name}' not found."
            )
        state = str(properties_of(request.body).get("state") or "")
        if state.lower() not in ("enabled", "disabled"):
            raise ArmError(400, "InvalidParameterValue", "properties.state must be 'Enabled' or 'Disabled'.")
        child = children["default"]
        if self.defer_subresource_updates:
            final = {**copy.deepcopy(child.properties), "provisioningState": "Succeeded",
                     "state": "Enabled" if state.lower() == "enabled" else "Disabled"}
            self._hold_back(child, final, "Updating")
            return False
        child.properties["state"] = "Enabled" if state.lower() == "enabled" else "Disabled"
        child.properties["provisioningState"] = "Succeeded"
        claims = request.claims
        who = claims.get("upn") or claims.get(CLAIM_UPN) or claims.get("appid") or ""
        system_data = child.extra.setdefault("systemData", {})
        system_data.update(
            {
                "lastModifiedAt": iso(utc_now()),
                "lastModifiedBy": str(who),
                "lastModifiedByType": "User"
                if (claims.get("upn") or claims.get(CLAIM_UPN))
                else "Application",
            }
        )
        return False
