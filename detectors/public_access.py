"""Public network access: whether the server has an internet-facing endpoint at all.

Turning it on while broad firewall rules exist opens the server at once: critical, and the
alert names those rules.

Older servers and api-versions may leave `publicNetworkAccess` out. It is then read as Azure
Policy reads it: Enabled, unless the server is VNet-integrated (a delegated subnet), which has
no public endpoint.
"""

from __future__ import annotations

from typing import Any

from detectors import LEARN, Context, Issue, capitalized, detector, server_properties
from detectors.firewall import broad_rules
from drift.model import Severity


def network_state(server: dict[str, Any] | None) -> str | None:
    if server is None:
        return None
    network = server_properties(server).get("network") or {}
    stated = capitalized(network.get("publicNetworkAccess"))
    if stated is not None:
        return stated
    return "Disabled" if network.get("delegatedSubnetResourceId") else "Enabled"


@detector(
    "public_network_access",
    reads="server",
    title="Public network access",
    control="NS-2",
    severity_rules="high: Enabled; critical: Enabled while rules open the internet, all of Azure or a wide range",
    remediation="Disable public network access and reach the server through a private endpoint or its VNet.",
    command="az mysql flexible-server update -g {resource_group} -n {server} --public-access Disabled",
    doc_url=LEARN + "concepts-networking-public",
    state=network_state,
    describe=lambda s: s or "not set",
)
def issues(state: str | None, ctx: Context) -> list[Issue]:
    if state != "Enabled" or ctx.policy.desired.public_network_access == "Enabled":
        return []
    broad = broad_rules(ctx.other("firewall_rules"), ctx)
    if broad:
        names = ", ".join(i.target or "" for i in broad)
        return [Issue("public+rules", Severity.CRITICAL,
                      f"public network access is Enabled while firewall rules {names} admit broad ranges; "
                      + "; ".join(i.why for i in broad))]
    return [Issue("public", Severity.HIGH, "public network access is Enabled: the server has an internet endpoint")]
