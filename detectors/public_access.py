"""Public network access: whether the server has an internet-facing endpoint at all."""

from __future__ import annotations

from typing import Any

from detectors import Issue, detector
from drift.model import Severity


def network_state(server: dict[str, Any] | None) -> str | None:
    network = ((server or {}).get("properties") or {}).get("network") or {}
    value = network.get("publicNetworkAccess")
    return value.capitalize() if isinstance(value, str) else None


@detector(
    "public_network_access",
    reads="server",
    title="Public network access",
    remediation="az mysql flexible-server update -g {resource_group} -n {server} --public-access Disabled",
    state=network_state,
    describe=lambda s: s or "not set",
)
def issues(state: str | None) -> list[Issue]:
    if state == "Enabled":
        return [Issue("public", Severity.HIGH, "public network access is Enabled: the server has an internet endpoint")]
    return []
