"""Microsoft Entra administrator (`administrators/ActiveDirectory`)."""

from __future__ import annotations

from typing import Any

from detectors import Issue, detector
from drift.model import Severity


def admins_state(admins: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    out = []
    for admin in admins or []:
        props = admin.get("properties") or {}
        out.append({"login": str(props.get("login") or ""), "sid": str(props.get("sid") or ""),
                    "tenant_id": str(props.get("tenantId") or "")})
    return sorted(out, key=lambda a: (a["login"].lower(), a["sid"]))


@detector(
    "entra_admin",
    reads="administrators",
    title="Entra administrator",
    remediation="az mysql flexible-server ad-admin create -g {resource_group} -s {server} "
                "--display-name <group> --object-id <id> --identity <uami>",
    state=admins_state,
    describe=lambda s: ", ".join(f"{a['login']} ({a['sid']})" for a in s) if s else "none",
)
def issues(state: list[dict[str, str]]) -> list[Issue]:
    if not state:
        return [Issue("none", Severity.MEDIUM, "no Microsoft Entra administrator is set")]
    return []
