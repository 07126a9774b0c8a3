"""Private endpoint connections: recorded for the history; judged further by the policy work."""

from __future__ import annotations

from typing import Any

from detectors import Issue, detector


def connections_state(connections: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    out = []
    for conn in connections or []:
        props = conn.get("properties") or {}
        link = props.get("privateLinkServiceConnectionState") or {}
        endpoint = (props.get("privateEndpoint") or {}).get("id") or ""
        out.append({"name": str(conn.get("name") or ""), "endpoint": str(endpoint),
                    "status": str(link.get("status") or "")})
    return sorted(out, key=lambda c: c["name"].lower())


@detector(
    "private_endpoints",
    reads="private_endpoints",
    title="Private endpoint connections",
    remediation="az network private-endpoint-connection list --id {server_id}",
    state=connections_state,
    describe=lambda s: ", ".join(f"{c['name']} [{c['status']}]" for c in s) if s else "none",
)
def issues(state: list[dict[str, str]]) -> list[Issue]:
    return []
