"""`aad_auth_only`: Microsoft Entra authentication only, no MySQL passwords."""

from __future__ import annotations

from detectors import LEARN, Context, Issue, detector, parameter_value
from drift.model import Severity


@detector(
    "aad_auth_only",
    reads="configuration/aad_auth_only",
    title="Entra-only authentication",
    control="IM-1",
    severity_rules="high: OFF (passwords accepted); medium: ON without an Entra admin",
    remediation="Turn Entra-only authentication back on so that MySQL passwords are refused.",
    command="az mysql flexible-server parameter set -g {resource_group} -s {server} -n aad_auth_only --value ON",
    doc_url=LEARN + "concepts-azure-ad-authentication",
    state=parameter_value,
    describe=lambda s: s or "not set",
)
def issues(state: str | None, ctx: Context) -> list[Issue]:
    if ctx.policy.desired.aad_auth_only == "ON" and state != "ON":
        return [Issue("passwords", Severity.HIGH,
                      "Entra-only authentication is off: MySQL password logins are accepted")]
    if state == "ON" and ctx.other("entra_admin") == []:
        return [Issue("locked-out", Severity.MEDIUM,
                      "Entra-only authentication is ON but no Entra administrator is set: nobody can sign in")]
    return []
