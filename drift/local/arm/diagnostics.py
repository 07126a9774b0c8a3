"""The stand-in's ``Microsoft.Insights/diagnosticSettings`` on a server (api-version 2021-05-01-preview).

List, get, create or replace and delete, with the Monitor spec's own error shape (errors.py) and
``Microsoft.Insights`` write and delete events.
"""

from __future__ import annotations

import copy
from typing import Any

from drift.local.arm.errors import ArmError, method_not_allowed, not_found, properties_of, require_method
from drift.local.arm.model import DIAGNOSTIC_SETTING_TYPE, INSIGHTS_PROVIDER, SERVER_TYPE, Child, Server
from drift.local.arm.routes import Request, Route


class DiagnosticSettingOperations:
    """`ArmStandIn`'s operations on a server's diagnostic settings (the caller holds the lock)."""

    def _op_diag_list(self, request: Request, route: Route) -> tuple[int, Any]:
        require_method(request, "GET")
        server = self._diag_target(route)
        return 200, {"value": [self._render_diag(server, c) for c in server.diagnostic_settings.values()]}

    def _op_diag(self, request: Request, route: Route) -> tuple[int, Any]:
        server = self._diag_target(route)
        key = route.name.lower()
        method = request.method
        if method == "GET":
            child = server.diagnostic_settings.get(key)
            if child is None:
                raise ArmError(
                    404, "ResourceNotFound", f"The diagnostic setting '{route.name}' doesn't exist."
                )
            return 200, self._render_diag(server, child)
        if method == "PUT":
            props = copy.deepcopy(properties_of(request.body))
            for list_key in ("logs", "metrics"):
                value = props.setdefault(list_key, [])
                if not isinstance(value, list):
                    raise ArmError(400, "InvalidRequestContent", f"'properties.{list_key}' must be an array.")
            existing = server.diagnostic_settings.get(key)
            server.diagnostic_settings[key] = Child(existing.name if existing else route.name, props)
            self._emit(request, route, f"{DIAGNOSTIC_SETTING_TYPE}/write", "Write", INSIGHTS_PROVIDER,
                       existing is None)
            return 200, self._render_diag(server, server.diagnostic_settings[key])
        if method == "DELETE":
            existed = server.diagnostic_settings.pop(key, None) is not None
            self._emit(request, route, f"{DIAGNOSTIC_SETTING_TYPE}/delete", "Delete", INSIGHTS_PROVIDER)
            return (200 if existed else 204), None
        raise method_not_allowed(request)

    def _diag_target(self, route: Route) -> Server:
        server = self._find(route)
        if server is None:
            raise not_found(SERVER_TYPE, route.server, route.resource_group)
        return server
