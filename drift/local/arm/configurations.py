"""The stand-in's operations on server parameters (configurations): get, update, and the batch update.

A configuration always exists (the catalogue is fixed per server), so a write answers 200, never 201;
a value Azure would refuse is a 400 and changes nothing, in a batch too. Listing is in children.py's
collection operation, rendering in render.py.
"""

from __future__ import annotations

import copy
from typing import Any

from drift.local.arm.errors import ArmError, json_object, method_not_allowed, properties_of
from drift.local.arm.model import Server
from drift.local.arm.parameters import Config
from drift.local.arm.routes import Request, Route


class ConfigurationOperations:
    """`ArmStandIn`'s operations on configurations (the caller holds the lock)."""

    def _config(self, server: Server, name: str) -> Config:
        config = server.configurations.get(name.lower())
        if config is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The configuration '{name}' does not exist for server '{server.name}'.",
            )
        return config

    def _configuration(self, request: Request, route: Route, server: Server) -> tuple[int, Any]:
        config = self._config(server, route.name)
        if request.method == "GET":
            return 200, self._render_config(server, config)
        if request.method in ("PUT", "PATCH"):
            props = properties_of(request.body)
            value = props.get("value")
            config.set(None if value is None else str(value), props.get("source"))
            self._emit_mysql(request, route, "configurations/write", "Write")
            # The SDK accepts only 200/202 here: a configuration always exists, so never 201.
            return 200, self._render_config(server, config)
        raise method_not_allowed(request)

    def _update_configurations(self, request: Request, route: Route, server: Server) -> tuple[int, Any]:
        """`Configurations_BatchUpdate` (the ``updateConfigurations`` action): all items or none."""
        body = json_object(request.body)
        items = body.get("value") or []
        if not isinstance(items, list):
            raise ArmError(400, "InvalidRequestContent", "'value' must be an array.")
        reset_all = str(body.get("resetAllToDefault") or "False").lower() == "true"
        # Validate everything first so a bad item changes nothing.
        planned: list[tuple[Config, str | None, str | None]] = []
        for item in items:
            item = json_object(item, "configuration")
            config = self._config(server, str(item.get("name") or ""))
            props = properties_of(item)
            value = props.get("value")
            trial = copy.copy(config)
            trial.set(None if value is None else str(value), props.get("source"))
            planned.append((config, None if value is None else str(value), props.get("source")))
        touched: dict[str, Config] = {}
        if reset_all:
            for config in server.configurations.values():
                config.set(None, "system-default")
                touched[config.spec.name] = config
        for config, value, source in planned:
            config.set(value, source)
            touched[config.spec.name] = config
        self._emit_mysql(request, route, "updateConfigurations/action", "Action")
        return 200, {"value": [self._render_config(server, c) for c in touched.values()]}
