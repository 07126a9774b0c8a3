"""Routing of ARM paths: which resource or operation a request's path names, and the parsed request.

`resolve` maps the path segments to a `Route` (server lists, a server, a child collection or child, an
action, diagnostic settings, or a long-running operation's polling URL); None means a path the
MySQL and Insights handlers do not serve. `Request` is what the HTTP handler parsed, as handlers see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import unquote

from drift.local.arm.errors import JsonDict


@dataclass
class Request:
    method: str
    raw_path: str
    raw_query: str
    segments: list[str]
    query: dict[str, str]  # lower-cased names
    headers: Message
    body: Any
    claims: JsonDict
    client_ip: str
    correlation_id: str
    poll_of: str | None = None  # a polling URL's: the operationId of the write it follows

    def path_prefix(self, count: int) -> str:
        """The first ``count`` path segments, as the caller spelled them (Azure's event subject)."""
        return "/" + "/".join(self.segments[:count])


@dataclass(frozen=True)
class Route:
    kind: str  # list_sub | list_rg | server | collection | child | action | diag_list | diag
    subscription_id: str
    resource_group: str = ""
    server: str = ""
    collection: str = ""  # canonical collection or action name
    name: str = ""
    depth: int = 0  # how many path segments make up the target resource id


COLLECTIONS = {
    "firewallrules": "firewallRules",
    "configurations": "configurations",
    "administrators": "administrators",
    "privateendpointconnections": "privateEndpointConnections",
    "advancedthreatprotectionsettings": "advancedThreatProtectionSettings",
}
POLLS = {"azureasyncoperation": "azureAsyncOperation", "operationresults": "operationResults"}
ACTIONS = {
    "updateconfigurations": "updateConfigurations",
    "detachvnet": "detachVNet",
    "restart": "restart",
    "start": "start",
    "stop": "stop",
}


def resolve(segments: list[str]) -> Route | None:
    low = [s.lower() for s in segments]
    if len(low) < 2 or low[0] != "subscriptions":
        return None
    sub = segments[1]
    provider = ["providers", "microsoft.dbformysql", "flexibleservers"]
    if low[2:] == provider:
        return Route("list_sub", sub)
    if len(low) == 8 and low[2:5] == ["providers", "microsoft.dbformysql", "locations"] and low[6] in POLLS:
        return Route("operation", sub, collection=POLLS[low[6]], name=segments[7])
    if len(low) < 7 or low[2] != "resourcegroups" or low[4:7] != provider:
        return None
    rg = segments[3]
    if len(low) == 7:
        return Route("list_rg", sub, rg)
    server = segments[7]
    rest, rest_low = segments[8:], low[8:]
    if not rest:
        return Route("server", sub, rg, server, depth=8)
    if len(rest) == 1 and rest_low[0] in COLLECTIONS:
        return Route("collection", sub, rg, server, COLLECTIONS[rest_low[0]], depth=8)
    if len(rest) == 1 and rest_low[0] in ACTIONS:
        return Route("action", sub, rg, server, ACTIONS[rest_low[0]], depth=8)
    if len(rest) == 2 and rest_low[0] in COLLECTIONS:
        return Route("child", sub, rg, server, COLLECTIONS[rest_low[0]], rest[1], depth=10)
    if rest_low[:3] == ["providers", "microsoft.insights", "diagnosticsettings"]:
        if len(rest) == 3:
            return Route("diag_list", sub, rg, server, depth=8)
        if len(rest) == 4:
            return Route("diag", sub, rg, server, name=rest[3], depth=12)
    return None


def is_poll(raw_path: str) -> bool:
    route = resolve([unquote(s) for s in raw_path.split("/") if s])
    return route is not None and route.kind == "operation"
