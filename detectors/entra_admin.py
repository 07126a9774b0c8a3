"""Microsoft Entra administrator (`administrators/ActiveDirectory`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from detectors import LEARN, Context, Issue, compare_issues, detector
from drift.model import Judgement, Severity, Undo, Verdict


def admins_state(admins: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    out = []
    for admin in admins or []:
        props = admin.get("properties") or {}
        out.append({"login": str(props.get("login") or ""), "sid": str(props.get("sid") or ""),
                    "tenant_id": str(props.get("tenantId") or "")})
    return sorted(out, key=lambda a: (a["login"].lower(), a["sid"]))


def describe(state: list[dict[str, str]] | None) -> str:
    return ", ".join(f"{a['login']} ({a['sid']})" for a in state) if state else "none"


def judge(before: list[dict[str, str]], after: list[dict[str, str]], ctx: Context) -> Judgement:
    verdict = compare_issues(issues)(before, after, ctx)
    if verdict.verdict == Verdict.CHANGED:
        return Judgement(Verdict.CHANGED, Severity.LOW, f"Entra administrator changed: {describe(after)}")
    removed = [a for a in before or [] if a["sid"] not in {b["sid"] for b in after or []}]
    if verdict.verdict == Verdict.WEAKENED and removed:  # the administrator that was there before, back
        return replace(verdict, undo=(Undo(values=(("group", removed[0]["login"]),
                                                   ("group-object-id", removed[0]["sid"]))),))
    return verdict


@detector(
    "entra_admin",
    reads="administrators",
    title="Entra administrator",
    control="IM-1",
    severity_rules="high: removed while Entra-only auth is ON; medium: none set; low: replaced",
    remediation="Set a Microsoft Entra group as the server's Entra administrator.",
    command="az mysql flexible-server ad-admin create -g {resource_group} -s {server} "
            "--display-name <group> --object-id <group-object-id> --identity <user-assigned-identity>",
    doc_url=LEARN + "how-to-azure-ad",
    state=admins_state,
    describe=describe,
    judge=judge,
)
def issues(state: list[dict[str, str]], ctx: Context) -> list[Issue]:
    if state or not ctx.policy.desired.entra_admin:
        return []
    if ctx.other("aad_auth_only") == "ON":
        return [Issue("none", Severity.HIGH,
                      "no Entra administrator while Entra-only authentication is ON: nobody can sign in")]
    return [Issue("none", Severity.MEDIUM, "no Microsoft Entra administrator is set")]
