"""From an event to the ARM reads it calls for: the routing table, and nothing else.

`ROUTES` is the one list of what the detector handles; the Event Grid subscription's filters
are derived from it (see `handled_operations`). A route matches the structure of the subject
(which child of the server, or which extension resource on it) and the kind of event; its
reads come from the detector registry, so adding a detector for a new parameter needs no
change here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import detectors
from drift.armid import InvalidResourceId, ServerRef, mysql_server_ref
from drift.events import ArmEvent

log = logging.getLogger(__name__)

SERVER_DELETED = "server_deleted"
DIAGNOSTIC_SETTINGS = "microsoft.insights/diagnosticsettings"


@dataclass(frozen=True)
class Route:
    target: str  # child type under the server, "" for the server, or an extension type path
    actions: frozenset[str]
    operations: tuple[str, ...]  # operationName values as Azure writes them
    reads: Callable[[ServerRef], list[str]]


@dataclass(frozen=True)
class Plan:
    """What to do for one relevant event."""

    event: ArmEvent
    server: ServerRef
    reads: list[str]

    @property
    def deletes_server(self) -> bool:
        return self.reads == [SERVER_DELETED]


def _fixed(*reads: str) -> Callable[[ServerRef], list[str]]:
    return lambda _ref: list(reads)


def _one_parameter(ref: ServerRef) -> list[str]:
    name = (ref.child_name or "").lower()
    return [f"{detectors.CONFIGURATION_PREFIX}{name}"] if name in detectors.tracked_parameters() else []


def _all_parameters(_ref: ServerRef) -> list[str]:
    return [f"{detectors.CONFIGURATION_PREFIX}{p}" for p in detectors.tracked_parameters()]


def _static_parameters(_ref: ServerRef) -> list[str]:
    """A restart is what makes a static parameter's stored value the running one."""
    return [f"{detectors.CONFIGURATION_PREFIX}{p}" for p in detectors.tracked_parameters(static=True)]


MYSQL = "Microsoft.DBforMySQL/flexibleServers"
WRITE, DELETE, ACTION = "Write", "Delete", "Action"

ROUTES: tuple[Route, ...] = (
    Route("", frozenset({WRITE}), (f"{MYSQL}/write",), _fixed("server")),
    Route("", frozenset({DELETE}), (f"{MYSQL}/delete",), _fixed(SERVER_DELETED)),
    Route("", frozenset({ACTION}), (f"{MYSQL}/updateConfigurations/action",), _all_parameters),
    Route("", frozenset({ACTION}), (f"{MYSQL}/restart/action",), _static_parameters),
    # POST detachVNet: the server leaves its subnet, and the body may switch public access on.
    Route("", frozenset({ACTION}), (f"{MYSQL}/detachVNet/action",), _fixed("server")),
    Route("firewallrules", frozenset({WRITE, DELETE}),
          (f"{MYSQL}/firewallRules/write", f"{MYSQL}/firewallRules/delete"), _fixed("firewall_rules")),
    Route("configurations", frozenset({WRITE}), (f"{MYSQL}/configurations/write",), _one_parameter),
    Route("administrators", frozenset({WRITE, DELETE}),
          (f"{MYSQL}/administrators/write", f"{MYSQL}/administrators/delete"), _fixed("administrators")),
    Route("privateendpointconnections", frozenset({WRITE, DELETE}),
          (f"{MYSQL}/privateEndpointConnections/write", f"{MYSQL}/privateEndpointConnections/delete"),
          _fixed("private_endpoints")),
    # Private endpoints in another subscription reach the server through its connection proxies.
    Route("privateendpointconnectionproxies", frozenset({WRITE, DELETE}),
          (f"{MYSQL}/privateEndpointConnectionProxies/write", f"{MYSQL}/privateEndpointConnectionProxies/delete"),
          _fixed("private_endpoints")),
    Route("advancedthreatprotectionsettings", frozenset({WRITE}),
          (f"{MYSQL}/advancedThreatProtectionSettings/write",), _fixed("threat_protection")),
    # Which of the two names `operationName` carries is not documented: both are handled.
    Route(DIAGNOSTIC_SETTINGS, frozenset({WRITE, DELETE}),
          ("Microsoft.Insights/diagnosticSettings/write", "Microsoft.Insights/diagnosticSettings/delete",
           f"{MYSQL}/providers/Microsoft.Insights/diagnosticSettings/write",
           f"{MYSQL}/providers/Microsoft.Insights/diagnosticSettings/delete"),
          _fixed("diagnostic_settings")),
)


# Subscription-level settings (the Defender plan): not about a server, handled by drift.subscription.
SUBSCRIPTION_OPERATIONS: tuple[str, ...] = ("Microsoft.Security/pricings/write",)


def handled_operations() -> list[str]:
    """Every operationName some route handles (for the Event Grid subscription's filter)."""
    return sorted({op for route in ROUTES for op in route.operations} | set(SUBSCRIPTION_OPERATIONS))


def _target(ref: ServerRef) -> str | None:
    if ref.extension_type is not None:
        # An extension resource on a child (e.g. on a database) is not about the server.
        return ref.extension_type if ref.child_type is None else None
    return ref.child_type or ""


def plan(event: ArmEvent) -> Plan | None:
    """The reads an event calls for, or None (with a debug line saying why) when it calls for none."""
    if not event.succeeded:
        log.debug("ignored event %s: %s changes nothing", event.id, event.kind)
        return None
    try:
        ref = mysql_server_ref(event.subject)
    except InvalidResourceId as exc:
        log.debug("ignored event %s: %s", event.id, exc)
        return None
    if ref is None:
        log.debug("ignored event %s: %s is not a MySQL flexible server resource", event.id, event.subject)
        return None
    target = _target(ref)
    operation = event.operation_name.lower()
    for route in ROUTES:
        if route.target != target or event.action not in route.actions:
            continue
        if event.action == ACTION and operation not in {op.lower() for op in route.operations}:
            continue
        reads = route.reads(ref)
        if not reads:
            break
        return Plan(event, ref, reads)
    log.debug("ignored event %s: %s %s touches no watched setting", event.id, event.kind,
              event.operation_name or event.subject)
    return None
