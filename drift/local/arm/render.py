"""How the stand-in renders its resources as ARM bodies: servers, children, configurations, pages.

Bodies follow the official REST examples: ``id``, ``name``, ``type`` and a copy of the stored properties
(private endpoint connections also inside their server's). Lists come in pages with a ``nextLink`` built
from ``$skipToken``. `Rendering` is the part of `ArmStandIn` that does it.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

from drift.local.arm.errors import ArmError, JsonDict
from drift.local.arm.model import DIAGNOSTIC_SETTING_TYPE, MYSQL_API_VERSION, SERVER_TYPE, Child, Server
from drift.local.arm.parameters import Config
from drift.local.arm.routes import Request

PAGE_SIZE = 100


class Rendering:
    """ARM bodies of `ArmStandIn`'s resources (``url`` is where it listens, for ``nextLink``)."""

    url: str

    def _render_server(self, server: Server) -> JsonDict:
        res = server.resource
        properties = copy.deepcopy(res["properties"])
        if server.private_endpoint_connections:
            properties["privateEndpointConnections"] = [
                self._render_child(server, "privateEndpointConnections", child)
                for child in server.private_endpoint_connections.values()
            ]
        body: JsonDict = {
            "name": server.name,
            "type": SERVER_TYPE,
            "id": server.id,
            "location": res["location"],
            "properties": properties,
            "sku": copy.deepcopy(res["sku"]),
            "tags": copy.deepcopy(res["tags"]),
        }
        if "identity" in res:
            body["identity"] = copy.deepcopy(res["identity"])
        return body

    @staticmethod
    def _render_child(server: Server, collection: str, child: Child) -> JsonDict:
        body: JsonDict = {
            "name": child.name,
            "type": f"{SERVER_TYPE}/{collection}",
            "id": f"{server.id}/{collection}/{child.name}",
            "properties": copy.deepcopy(child.properties),
        }
        body.update(copy.deepcopy(child.extra))
        return body

    @staticmethod
    def _render_config(server: Server, config: Config) -> JsonDict:
        return {
            "name": config.spec.name,
            "type": f"{SERVER_TYPE}/configurations",
            "id": f"{server.id}/configurations/{config.spec.name}",
            "properties": config.properties(),
        }

    @staticmethod
    def _render_diag(server: Server, child: Child) -> JsonDict:
        return {
            "id": f"{server.id}/providers/microsoft.insights/diagnosticSettings/{child.name}",
            "type": DIAGNOSTIC_SETTING_TYPE,
            "name": child.name,
            "properties": copy.deepcopy(child.properties),
        }

    @staticmethod
    def _created(body: JsonDict) -> JsonDict:
        """A 201 body that azure-core's BodyContentPolling treats as finished (see module doc)."""
        body["properties"]["provisioningState"] = body["properties"].get("provisioningState") or "Succeeded"
        return body

    def _page(self, request: Request, servers: list[Server]) -> JsonDict:
        body = self._page_of(request, servers, PAGE_SIZE)
        body["value"] = [self._render_server(s) for s in body["value"]]
        return body

    def _page_of(self, request: Request, items: list[Any], size: int) -> JsonDict:
        """One page of ``items`` from ``$skipToken``, with the ``nextLink`` of the next one."""
        try:
            skip = max(0, int(request.query.get("$skiptoken") or 0))
        except ValueError:
            raise ArmError(400, "InvalidSkipToken", "The $skipToken is not valid.") from None
        body: JsonDict = {"value": items[skip : skip + size]}
        if skip + size < len(items):
            others = "".join(f"&{quote(k, safe='$')}={quote(v, safe='')}" for k, v in request.query.items()
                             if k not in ("api-version", "$skiptoken"))
            api_version = quote(request.query.get("api-version", MYSQL_API_VERSION), safe="")
            body["nextLink"] = (
                f"{self.url}{request.raw_path}?api-version={api_version}{others}&$skipToken={skip + size}"
            )
        return body
