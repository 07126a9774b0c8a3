"""Private endpoint connections.

An approved connection from a subscription that is neither the server's own nor trusted by the
policy is a path into the server from someone else's network: an alert. A connection removed
while public access is Disabled can cut the application off: recorded (it does not weaken
security, but the on-call engineer will want to know).
"""

from __future__ import annotations

from typing import Any

from detectors import LEARN, Context, Issue, detector
from drift.model import Judgement, Severity, Verdict, worst


def _subscription(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    return parts[1].lower() if len(parts) > 1 and parts[0].lower() == "subscriptions" else ""


def connections_state(connections: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    out = []
    for conn in connections or []:
        props = conn.get("properties") or {}
        link = props.get("privateLinkServiceConnectionState") or {}
        endpoint = str((props.get("privateEndpoint") or {}).get("id") or "")
        out.append({"name": str(conn.get("name") or ""), "endpoint": endpoint,
                    "subscription": _subscription(endpoint), "status": str(link.get("status") or "")})
    return sorted(out, key=lambda c: c["name"].lower())


def describe(state: list[dict[str, str]] | None) -> str:
    return ", ".join(f"{c['name']} [{c['status']}]" for c in state) if state else "none"


def _foreign(conn: dict[str, str], ctx: Context) -> bool:
    trusted = {ctx.subscription_id, *ctx.policy.trusted_subscriptions}
    return conn["status"].lower() == "approved" and conn["subscription"] not in trusted


def judge(before: list[dict[str, str]], after: list[dict[str, str]], ctx: Context) -> Judgement:
    old = {c["name"]: c for c in before}
    new = {c["name"]: c for c in after}
    opened = [c for name, c in new.items() if _foreign(c, ctx) and not (name in old and _foreign(old[name], ctx))]
    if opened:
        return Judgement(Verdict.WEAKENED, Severity.HIGH,
                         "approved private endpoint from an unknown subscription: "
                         + ", ".join(f"{c['name']} (subscription {c['subscription']})" for c in opened),
                         tuple(c["name"] for c in opened))
    removed = [c for name, c in old.items() if c["status"].lower() == "approved"
               and (name not in new or new[name]["status"].lower() != "approved")]
    if removed:
        cut_off = ctx.other("public_network_access") == "Disabled"
        return Judgement(Verdict.CHANGED, worst([Severity.MEDIUM if cut_off else Severity.LOW]),
                         "private endpoint connection removed: " + ", ".join(c["name"] for c in removed)
                         + ("; public access is Disabled, so clients that used it may be cut off" if cut_off else ""))
    return Judgement(Verdict.CHANGED, Severity.INFO, "private endpoint connections changed")


@detector(
    "private_endpoints",
    reads="private_endpoints",
    title="Private endpoint connections",
    control="NS-2",
    severity_rules="high: approved connection from an unknown subscription; medium: one removed while public "
                   "access is Disabled (recorded, not alerted)",
    remediation="Reject private endpoint connections that come from subscriptions you do not trust.",
    command="az network private-endpoint-connection reject --id {server_id}/privateEndpointConnections/{target}",
    doc_url=LEARN + "concepts-networking-private-link",
    state=connections_state,
    describe=describe,
    judge=judge,
)
def issues(state: list[dict[str, str]], ctx: Context) -> list[Issue]:
    return [Issue(f"foreign:{c['name']}", Severity.HIGH,
                  f"approved private endpoint {c['name']} from unknown subscription {c['subscription']}", c["name"])
            for c in state if _foreign(c, ctx)]
