"""Who the audit log leaves out: `audit_log_exclude_users` and `audit_log_include_users`.

A user excluded while the audit log stays ON acts unrecorded: a weakening, and worse when it is
the server's administrator login (or an Entra administrator), whose actions an audit most needs.
A non-empty include list audits only the users it names (it takes precedence over the exclude
list): everyone else goes unrecorded, so setting or shrinking it weakens.

Azure excludes its own `azure_superuser` by default; that is no finding.

The administrator login comes with the server read and is kept as context only
(`administrator_login`, not judged: it is fixed at creation).
"""

from __future__ import annotations

from typing import Any

from detectors import LEARN, Context, Issue, detector, server_properties
from drift.model import Judgement, Severity, Verdict

CIS_AUDIT = "5.3.3"
# Azure's own maintenance login, excluded by default (the official configuration list shows it).
BUILT_IN_EXCLUDED = {"azure_superuser"}


def users_state(configuration: dict[str, Any] | None) -> list[str]:
    """The users a parameter lists, as written (MySQL user names are case-sensitive), sorted."""
    value = ((configuration or {}).get("properties") or {}).get("value")
    if not isinstance(value, str):
        return []
    return sorted({u.strip() for u in value.split(",") if u.strip()})


def describe(state: list[str] | None) -> str:
    return ", ".join(state) if state else "none"


def _auditing(ctx: Context) -> bool:
    return ctx.other("audit_log_enabled") != "OFF"


def administrators(ctx: Context) -> set[str]:
    """The logins of the server's administrator and its Entra administrators, lower-cased."""
    admins = {str(ctx.other("administrator_login") or "").lower()}
    admins |= {str(a.get("login") or "").lower() for a in ctx.other("entra_admin") or [] if isinstance(a, dict)}
    return admins - {""}


def _user(name: str) -> str:
    """`app@%` and `app` name the same login for this purpose."""
    return name.split("@", 1)[0].strip("`'\"").lower()


@detector(
    "audit_log_exclude_users",
    reads="configuration/audit_log_exclude_users",
    title="Users excluded from the audit log",
    control="LT-4",
    severity_rules="high: the administrator login excluded while auditing; medium: any other user excluded",
    remediation="Remove users from audit_log_exclude_users: every login's actions should be audited.",
    command="az mysql flexible-server parameter set -g {resource_group} -s {server} -n audit_log_exclude_users "
            "--value ''",
    doc_url=LEARN + "concepts-audit-logs",
    state=users_state,
    describe=describe,
    commands={"previous": "az mysql flexible-server parameter set -g {resource_group} -s {server} "
                          "-n audit_log_exclude_users --value <value>"},
    previous=lambda s: ",".join(s or []),
    cis=CIS_AUDIT,
)
def exclude_issues(state: list[str], ctx: Context) -> list[Issue]:
    if not state or not _auditing(ctx):
        return []
    admins = administrators(ctx)
    return [Issue(f"excluded:{user}", Severity.HIGH if _user(user) in admins else Severity.MEDIUM,
                  f"{'the administrator login ' if _user(user) in admins else 'user '}{user} is excluded from "
                  "the audit log while auditing is ON: its actions are not recorded", user)
            for user in state if _user(user) not in BUILT_IN_EXCLUDED]


def include_judge(before: list[str], after: list[str], ctx: Context) -> Judgement:
    if not after and before:
        return Judgement(Verdict.STRENGTHENED, Severity.INFO, "every user is audited again (include list cleared)")
    if not after or not _auditing(ctx):
        return Judgement(Verdict.CHANGED, Severity.INFO, "audit include list changed while the audit log is off"
                         if after else "audit include list unchanged")
    found = include_issues(after, ctx)
    dropped = sorted(set(before) - set(after))
    if not before or (dropped and _auditing(ctx)):
        severity = found[0].severity if found else Severity.MEDIUM
        why = (f"{', '.join(dropped)} no longer audited; " if before and dropped else "") + (
            found[0].why if found else f"only {', '.join(after)} audited")
        return Judgement(Verdict.WEAKENED, severity, why, tuple(dropped))
    if set(after) > set(before):
        added = ", ".join(sorted(set(after) - set(before)))
        return Judgement(Verdict.STRENGTHENED, Severity.INFO, f"now also audited: {added}")
    return Judgement(Verdict.CHANGED, Severity.INFO, "audit include list changed")


@detector(
    "audit_log_include_users",
    reads="configuration/audit_log_include_users",
    title="Users the audit log is limited to",
    control="LT-4",
    severity_rules="high: an include list that leaves the administrator login out; medium: any include list "
                   "(only the users it names are audited)",
    remediation="Clear audit_log_include_users so that every user is audited.",
    command="az mysql flexible-server parameter set -g {resource_group} -s {server} -n audit_log_include_users "
            "--value ''",
    doc_url=LEARN + "concepts-audit-logs",
    state=users_state,
    describe=lambda s: ", ".join(s) if s else "none (every user audited)",
    judge=include_judge,
    commands={"previous": "az mysql flexible-server parameter set -g {resource_group} -s {server} "
                          "-n audit_log_include_users --value <value>"},
    previous=lambda s: ",".join(s or []),
    cis=CIS_AUDIT,
)
def include_issues(state: list[str], ctx: Context) -> list[Issue]:
    if not state or not _auditing(ctx):
        return []
    included = {_user(u) for u in state}
    left_out = sorted(a for a in administrators(ctx) if a not in included)
    if left_out:
        return [Issue("include-only", Severity.HIGH,
                      f"only {', '.join(state)} audited: the administrator login {', '.join(left_out)} and every "
                      "other user are not recorded")]
    return [Issue("include-only", Severity.MEDIUM, f"only {', '.join(state)} audited: every other user is not "
                                                    "recorded")]


@detector(
    "administrator_login",
    reads="server",
    title="Administrator login",
    control="-",
    severity_rules="not judged (context for the audit exclusions)",
    remediation="-",
    command="-",
    doc_url=LEARN + "concepts-security",
    state=lambda server: server_properties(server).get("administratorLogin") or None,
    describe=lambda s: s or "not set",
    judge=lambda _before, _after, _ctx: None,
)
def admin_issues(state: str | None, ctx: Context) -> list[Issue]:
    return []
