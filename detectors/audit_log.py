"""Audit logging inside the server: `audit_log_enabled` and the events `audit_log_events` records.

Recording is half of it; diagnostic settings ship the records out. Each side is judged with the
other in view: audit logs recorded but shipped nowhere, or shipped but not recorded (an empty
stream that looks healthy), are both gaps.
"""

from __future__ import annotations

from detectors import LEARN, Context, Issue, detector, parameter_value
from drift.model import Severity


def audit_events(value: str | None) -> list[str]:
    return sorted({t.strip() for t in (value or "").split(",") if t.strip()})


def _shipped(ctx: Context) -> bool | None:
    from detectors.diagnostics import audit_sinks

    settings = ctx.other("diagnostic_settings")
    return None if settings is None else bool(audit_sinks(settings))


@detector(
    "audit_log_enabled",
    reads="configuration/audit_log_enabled",
    title="Audit log recording",
    control="LT-4",
    severity_rules="high: audit log off",
    remediation="Turn the audit log on so that connections and administrative actions are recorded.",
    command="az mysql flexible-server parameter set -g {resource_group} -s {server} -n audit_log_enabled --value ON",
    doc_url=LEARN + "concepts-audit-logs",
    state=parameter_value,
    describe=lambda s: s or "not set",
    cis="5.3.3",
    prowler="mysql_flexible_server_audit_log_enabled",
)
def enabled_issues(state: str | None, ctx: Context) -> list[Issue]:
    if state == "ON" or ctx.policy.desired.audit_log_enabled == "OFF":
        return []
    why = "the audit log is not recorded (audit_log_enabled is not ON)"
    if _shipped(ctx):
        why += "; diagnostic settings ship an audit stream that stays empty"
    return [Issue("off", Severity.HIGH, why)]


@detector(
    "audit_log_events",
    reads="configuration/audit_log_events",
    title="Audited events",
    control="LT-4",
    severity_rules="medium: neither CONNECTION nor CONNECTION_V2 audited",
    remediation="Audit connections (CONNECTION or CONNECTION_V2) along with the other events you need.",
    command="az mysql flexible-server parameter set -g {resource_group} -s {server} -n audit_log_events "
            "--value CONNECTION,ADMIN,DDL,DCL",
    doc_url=LEARN + "concepts-audit-logs",
    state=parameter_value,
    describe=lambda s: s or "not set",
    commands={"previous": "az mysql flexible-server parameter set -g {resource_group} -s {server} "
                          "-n audit_log_events --value <value>"},
    previous=lambda s: s or None,
    cis="5.3.4",
    prowler="mysql_flexible_server_audit_log_connection_activated",
)
def events_issues(state: str | None, ctx: Context) -> list[Issue]:
    wanted = set(ctx.policy.desired.audit_log_events)
    if not wanted or wanted & set(audit_events(state)):
        return []
    return [Issue("no-connections", Severity.MEDIUM,
                  f"audit_log_events records none of {', '.join(sorted(wanted))}: logins are not audited")]
