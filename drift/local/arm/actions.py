"""The stand-in's server actions (POSTs): restart, start, stop, detachVNet and updateConfigurations.

A restart makes every configuration's running value its set value; start and stop set the server's state;
detachVNet takes the server out of its delegated subnet and may open public access. Each emits its
``.../action`` event.
"""

from __future__ import annotations

from typing import Any

from drift.local.arm.errors import ArmError, json_object, require_method
from drift.local.arm.model import Server
from drift.local.arm.routes import Request, Route


class ActionOperations:
    """`ArmStandIn`'s POST actions on a server (the caller holds the lock)."""

    def _op_action(self, request: Request, route: Route) -> tuple[int, Any]:
        require_method(request, "POST")
        server = self._parent(route)
        if route.collection == "updateConfigurations":
            return self._update_configurations(request, route, server)
        if route.collection == "detachVNet":
            return self._detach_vnet(request, route, server)
        if route.collection == "restart":
            for config in server.configurations.values():
                config.current_value = config.value
            server.resource["properties"]["state"] = "Ready"
        elif route.collection == "start":
            server.resource["properties"]["state"] = "Ready"
        elif route.collection == "stop":
            server.resource["properties"]["state"] = "Stopped"
        self._emit_mysql(request, route, f"{route.collection}/action", "Action")
        return 200, None

    def _detach_vnet(self, request: Request, route: Route, server: Server) -> tuple[int, Any]:
        """`Servers_DetachVNet`: the server leaves its delegated subnet; the body may open public access.

        Answers 200 with the server, as the official example `ServerDetachVNet.json` does.
        """
        body = json_object(request.body) if request.body is not None else {}
        access = body.get("publicNetworkAccess")
        if access is not None and str(access).lower() not in ("enabled", "disabled"):
            raise ArmError(400, "InvalidParameterValue", "publicNetworkAccess must be 'Enabled' or 'Disabled'.")
        network = server.resource["properties"].setdefault("network", {})
        if not network.get("delegatedSubnetResourceId"):
            raise ArmError(400, "ServerNotInVnet", f"Server '{server.name}' is not integrated with a virtual network.")
        network.pop("delegatedSubnetResourceId", None)
        network.pop("privateDnsZoneResourceId", None)
        network["publicNetworkAccess"] = "Enabled" if str(access or "").lower() == "enabled" else "Disabled"
        self._emit_mysql(request, route, "detachVNet/action", "Action")
        return 200, self._render_server(server)
