"""Diagnostic settings: are the server's audit logs shipped somewhere they can be read?

Audit logs count as shipped by a setting when one of its enabled log entries is the category
`MySqlAuditLogs` or the category group `audit` or `allLogs`, and the setting has at least one
destination. Each destination that stops receiving them is a loss: the workspace a SIEM reads
goes dark even if a storage account still gets a copy.

Destinations are compared by their full resource id, case-insensitively (as Azure Policy does):
a workspace of the same name in another subscription is another destination. The settings'
names play no part: a setting renamed (a new one to the same workspace, then the old one
deleted) still delivers audit logs to the same place and changes nothing. Audit logs sent to a
destination the policy does not list (`[diagnostics] audit_destinations`) leave the team's
control: a weakening.
"""

from __future__ import annotations

from typing import Any

from detectors import LEARN, Context, Issue, detector
from drift.model import Judgement, Severity, Undo, Verdict

AUDIT_CATEGORIES = {"mysqlauditlogs"}
AUDIT_GROUPS = {"audit", "alllogs"}
DESTINATIONS = {"workspaceId": "workspace", "storageAccountId": "storage",
                "eventHubAuthorizationRuleId": "event hub", "marketplacePartnerId": "partner"}
# The undo template's value for each kind of destination (`az monitor diagnostic-settings create` options).
UNDO_VALUES = {"workspace": "workspace-id", "storage": "storage-account-id", "event hub": "event-hub-rule-id",
               "partner": "partner-id"}


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
    """`workspace:/subscriptions/S/resourceGroups/G/.../workspaces/soc` as `workspace soc (S/G)`: the name
    alone would make a workspace of the same name elsewhere look like the same one."""
    kind, _, target = destination.partition(":")
    parts = target.strip("/").split("/")
    where = f" ({parts[1]}/{parts[3]})" if len(parts) > 3 and parts[0].lower() == "subscriptions" else ""
    return f"{kind} {parts[-1]}{where}"


def audit_sinks(state: list[dict[str, Any]]) -> set[str]:
    """Where audit logs arrive: `kind:full id`, lower-cased, whatever setting sends them."""
    return {d.lower() for s in state or [] if s["audit"] for d in s["destinations"]}


def _named(sinks: list[str], state: list[dict[str, Any]]) -> str:
    """The sinks as people read them: `workspace soc (/subscriptions/...)`, with the settings sending there."""
    out = []
    for sink in sinks:
        kind, _, target = sink.partition(":")
        original = next((d.partition(":")[2] for s in state or [] for d in s["destinations"] if d.lower() == sink),
                        target)
        via = sorted(s["name"] for s in state or [] if s["audit"] and sink in {d.lower() for d in s["destinations"]})
        out.append(f"{kind} {original.rstrip('/').rsplit('/', 1)[-1]} ({original})"
                   + (f" via {', '.join(via)}" if via else ""))
    return ", ".join(out)


def unknown_sinks(state: list[dict[str, Any]], ctx: Context) -> list[str]:
    """Audit destinations the policy does not list (none when the policy lists none)."""
    known = {d.lower().rstrip("/") for d in ctx.policy.audit_destinations}
    if not known:
        return []
    return sorted(s for s in audit_sinks(state) if s.partition(":")[2].rstrip("/") not in known)


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


def _targets(sinks: list[str], state: list[dict[str, Any]]) -> list[str]:
    """The settings that used to send audit logs to the lost sinks (what the undo command recreates)."""
    return sorted({s["name"] for s in state or [] if s["audit"]
                   for d in s["destinations"] if d.lower() in sinks})


def _undo(sinks: list[str], state: list[dict[str, Any]]) -> tuple[Undo, ...]:
    """Recreate each setting that used to send audit logs to the lost sinks, with every destination it had
    (the ids as Azure wrote them). The event hub's name is not kept: Azure picks one per category."""
    steps = []
    for name in _targets(sinks, state):
        setting = next(s for s in state if s["name"] == name)
        values = []
        for destination in setting["destinations"]:
            kind, _, target = destination.partition(":")
            if kind in UNDO_VALUES:
                values.append((UNDO_VALUES[kind], target))
        steps.append(Undo(name, tuple(values), "recreate"))
    return tuple(steps)


def judge(before: list[dict[str, Any]], after: list[dict[str, Any]], ctx: Context) -> Judgement:
    old, new = audit_sinks(before), audit_sinks(after)
    lost, gained = sorted(old - new), sorted(new - old)
    foreign = [s for s in unknown_sinks(after, ctx) if s in gained]
    if lost and not new:
        return Judgement(Verdict.WEAKENED, Severity.HIGH,
                         f"audit logs no longer reach {_named(lost, before)}; they are now shipped nowhere"
                         + _recorded_note(ctx), tuple(_targets(lost, before)), _undo(lost, before))
    if lost or foreign:
        why = []
        if lost:
            why.append(f"audit logs no longer reach {_named(lost, before)}; "
                       f"they now go to {_named(sorted(new), after)}")
        if foreign:
            why.append(f"audit logs now also go to {_named(foreign, after)}, "
                       "a destination the policy does not list")
        return Judgement(Verdict.WEAKENED, Severity.HIGH if foreign else Severity.MEDIUM, "; ".join(why),
                         tuple(_targets(lost, before)), _undo(lost, before))
    if gained:
        return Judgement(Verdict.STRENGTHENED, Severity.INFO, f"audit logs now reach {_named(gained, after)}")
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
    commands={"recreate": "az monitor diagnostic-settings create --resource {server_id} -n {target} "
                          "--workspace <workspace-id?> --storage-account <storage-account-id?> "
                          "--event-hub-rule <event-hub-rule-id?> --marketplace-partner-id <partner-id?> "
                          "--logs '[{\"categoryGroup\":\"audit\",\"enabled\":true}]'"},
    doc_url=LEARN + "tutorial-configure-audit",
    state=settings_state,
    describe=describe,
    judge=judge,
)
def issues(state: list[dict[str, Any]], ctx: Context) -> list[Issue]:
    found = [Issue(f"foreign:{sink}", Severity.HIGH,
                   f"audit logs go to {_named([sink], state)}, a destination the policy does not list")
             for sink in unknown_sinks(state, ctx)]
    if audit_sinks(state) or not ctx.policy.desired.audit_shipped:
        return found
    return [Issue("unshipped", Severity.HIGH,
                  "audit logs (MySqlAuditLogs) are sent to no destination" + _recorded_note(ctx))]
