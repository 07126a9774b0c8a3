"""`aad_auth_only`: Microsoft Entra authentication only, no MySQL passwords."""

from __future__ import annotations

from detectors import Issue, detector, parameter_value
from drift.model import Severity


@detector(
    "aad_auth_only",
    reads="configuration/aad_auth_only",
    title="Entra-only authentication",
    remediation="az mysql flexible-server parameter set -g {resource_group} -s {server} -n aad_auth_only --value ON",
    state=parameter_value,
    describe=lambda s: s or "not set",
)
def issues(state: str | None) -> list[Issue]:
    if state != "ON":
        return [Issue("passwords", Severity.HIGH,
                      "Entra-only authentication is off: MySQL password logins are accepted")]
    return []
