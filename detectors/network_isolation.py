"""VNet integration (`network.delegatedSubnetResourceId`): a server in a VNet has no public endpoint.

The network mode is chosen at creation; leaving the VNet (`detachVNet`) moves the server to
public access networking, which is a weakening in itself.
"""

from __future__ import annotations

from typing import Any

from detectors import LEARN, Context, Issue, detector, server_properties
from drift.model import Judgement, Severity, Undo, Verdict


def isolation_state(server: dict[str, Any] | None) -> dict[str, str | None]:
    network = server_properties(server).get("network") or {}
    return {"delegated_subnet": network.get("delegatedSubnetResourceId") or None,
            "private_dns_zone": network.get("privateDnsZoneResourceId") or None}


def describe(state: dict[str, Any] | None) -> str:
    subnet = (state or {}).get("delegated_subnet")
    return f"VNet integrated ({subnet.rsplit('/', 1)[-1]})" if subnet else "not VNet integrated"


def judge(before: dict[str, Any], after: dict[str, Any], ctx: Context) -> Judgement:
    had, has = bool(before.get("delegated_subnet")), bool(after.get("delegated_subnet"))
    if had and not has:
        return Judgement(Verdict.WEAKENED, Severity.MEDIUM,
                         "the server left its VNet: it now depends on public access and firewall rules",
                         undo=(Undo(values=(("delegated-subnet-id", before["delegated_subnet"]),)),))
    if has and not had:
        return Judgement(Verdict.STRENGTHENED, Severity.INFO, "the server is now VNet integrated")
    return Judgement(Verdict.CHANGED, Severity.LOW, "VNet subnet or private DNS zone changed")


@detector(
    "network_isolation",
    reads="server",
    title="VNet integration",
    control="NS-1",
    severity_rules="medium: VNet integration removed; low: subnet or DNS zone changed",
    remediation="VNet integration is set at creation: restore the server into a delegated subnet.",
    command="az mysql flexible-server restore -g {resource_group} --source-server {server} -n {server}-vnet "
            "--subnet <delegated-subnet-id>",
    doc_url=LEARN + "concepts-networking-vnet",
    state=isolation_state,
    describe=describe,
    judge=judge,
)
def issues(state: dict[str, Any], ctx: Context) -> list[Issue]:
    return []
