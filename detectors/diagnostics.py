"""Diagnostic settings: are the server's audit logs shipped somewhere they can be read?

Audit logs count as shipped by a setting when one of its enabled log entries is the category
`MySqlAuditLogs` or the category group `audit` or `allLogs`, and the setting has at least one
destination. Each destination that stops receiving them is a loss: the workspace a SIEM reads
goes dark even if a storage account still gets a copy.
"""

from __future__ import annotations

from typing import Any

from detectors import LEARN, Context, Issue, detector
from drift.model import Judgement, Severity, Verdict

AUDIT_CATEGORIES = {"mysqlauditlogs"}
AUDIT_GROUPS = {"audit", "alllogs"}
DESTINATIONS = {"workspaceId": "workspace", "storageAccountId": "storage",
                "eventHubAuthorizationRuleId": "event hub", "marketplacePartnerId": "partner"}


def _ships_audit(logs: Any) -> bool:
    for entry in logs if isinstance(logs, list) else []:
        if not isinstance(entry, dict) or entry.get("enabled") is not True:
            continue
        if str(entry.get("category") or "").lower() in AUDIT_CATEGORIES:
            return True
        if str(entry.get("categoryGroup") or "").lower() in AUDIT_GROUPS:
            return True
    return False


def settings_state(settings: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for setting in settings or []:
        props = setting.get("properties") or {}
        destinations = sorted(f"{label}:{props[key]}" for key, label in DESTINATIONS.items()
                              if isinstance(props.get(key), str) and props[key])
        out.append({"name": str(setting.get("name") or ""), "audit": _ships_audit(props.get("logs")),
                    "destinations": destinations})
    return sorted(out, key=lambda s: s["name"].lower())


def _short(destination: str) -> str:
    """`workspace:/subscriptions/.../workspaces/soc` as `workspace soc`."""
    kind, _, target = destination.partition(":")
    return f"{kind} {target.rstrip('/').rsplit('/', 1)[-1]}"


def audit_sinks(state: list[dict[str, Any]]) -> set[str]:
    return {f"{s['name']} -> {_short(d)}" for s in state if s["audit"] for d in s["destinations"]}


def describe(state: list[dict[str, Any]] | None) -> str:
    if not state:
        return "no diagnostic settings"
    parts = []
    for s in state:
        where = ", ".join(map(_short, s["destinations"])) or "no destination"
        parts.append(f"{s['name']} ({'audit' if s['audit'] else 'no audit'} to {where})")
    return "; ".join(parts)


def _recorded_note(ctx: Context) -> str:
    return "; the server records audit events that now go nowhere" if ctx.other("audit_log_enabled") == "ON" else ""


def judge(before: list[dict[str, Any]], after: list[dict[str, Any]], ctx: Context) -> Judgement:
    old, new = audit_sinks(before), audit_sinks(after)
    lost, gained = sorted(old - new), sorted(new - old)
    if lost:
        if new:
            return Judgement(Verdict.WEAKENED, Severity.MEDIUM,
                             f"audit logs no longer reach {', '.join(lost)}; other destinations still receive them",
                             tuple(lost))
        return Judgement(Verdict.WEAKENED, Severity.HIGH,
                         f"audit logs no longer reach {', '.join(lost)}; they are now shipped nowhere"
                         + _recorded_note(ctx), tuple(lost))
    if gained:
        return Judgement(Verdict.STRENGTHENED, Severity.INFO, f"audit logs now reach {', '.join(gained)}")
    return Judgement(Verdict.CHANGED, Severity.INFO, "diagnostic settings changed; audit shipping unchanged")


@detector(
    "diagnostic_settings",
    reads="diagnostic_settings",
    title="Audit log shipping (diagnostic settings)",
    control="LT-4",
    severity_rules="high: audit logs shipped nowhere; medium: one destination of several lost",
    remediation="Send the MySqlAuditLogs category (or the audit category group) to the security workspace.",
    command="az monitor diagnostic-settings create --resource {server_id} -n audit --workspace <workspace-id> "
            "--logs '[{\"categoryGroup\":\"audit\",\"enabled\":true}]'",
    doc_url=LEARN + "tutorial-configure-audit",
    state=settings_state,
    describe=describe,
    judge=judge,
)
def issues(state: list[dict[str, Any]], ctx: Context) -> list[Issue]:
    if audit_sinks(state) or not ctx.policy.desired.audit_shipped:
        return []
    return [Issue("unshipped", Severity.HIGH,
                  "audit logs (MySqlAuditLogs) are sent to no destination" + _recorded_note(ctx))]
