"""Backups: geo-redundant backup and the retention period (shorter retention weakens)."""

from __future__ import annotations

from typing import Any

from detectors import LEARN, Context, Issue, capitalized, detector, server_properties
from drift.model import Judgement, Severity, Undo, Verdict, worst


def backup_state(server: dict[str, Any] | None) -> dict[str, Any]:
    backup = server_properties(server).get("backup") or {}
    days = backup.get("backupRetentionDays")
    return {"geo_redundant": capitalized(backup.get("geoRedundantBackup")) or "Disabled",
            "retention_days": days if isinstance(days, int) else None}


def describe(state: dict[str, Any] | None) -> str:
    state = state or {}
    geo = "geo-redundant" if state.get("geo_redundant") == "Enabled" else "not geo-redundant"
    return f"{geo}, {state.get('retention_days') or '?'} days retention"


def judge(before: dict[str, Any], after: dict[str, Any], ctx: Context) -> Judgement:
    weaker, stronger, severities = [], [], []
    minimum = ctx.policy.desired.min_backup_retention_days
    old_days, new_days = before.get("retention_days") or 0, after.get("retention_days") or 0
    if new_days < old_days:
        below = new_days < minimum
        severities.append(Severity.MEDIUM if below else Severity.LOW)
        weaker.append(f"backup retention cut from {old_days} to {new_days} days"
                      + (f" (policy minimum {minimum})" if below else ""))
    elif new_days > old_days:
        stronger.append(f"backup retention raised from {old_days} to {new_days} days")
    if before.get("geo_redundant") == "Enabled" and after.get("geo_redundant") != "Enabled":
        severities.append(Severity.MEDIUM)
        weaker.append("geo-redundant backup turned off: a regional outage can lose the backups")
    elif after.get("geo_redundant") == "Enabled" and before.get("geo_redundant") != "Enabled":
        stronger.append("geo-redundant backup turned on")
    if weaker:
        undo = (Undo(values=(("days", str(old_days)),)),) if new_days < old_days else ()
        return Judgement(Verdict.WEAKENED, worst(severities), "; ".join(weaker), undo=undo)
    if stronger:
        return Judgement(Verdict.STRENGTHENED, Severity.INFO, "; ".join(stronger))
    return Judgement(Verdict.CHANGED, Severity.INFO, "backup settings changed")


@detector(
    "backup",
    reads="server",
    title="Backup: geo-redundancy and retention",
    control="BR-1",
    severity_rules="medium: no geo-redundant backup, or retention below the policy minimum; low: retention shortened",
    remediation="Keep retention at or above the policy minimum; geo-redundant backup is chosen at creation "
                "(geo-restore to a new server to get it).",
    command="az mysql flexible-server update -g {resource_group} -n {server} --backup-retention <days>",
    doc_url=LEARN + "concepts-backup-restore",
    state=backup_state,
    describe=describe,
    judge=judge,
    prowler="mysql_flexible_server_geo_redundant_backup_enabled",
)
def issues(state: dict[str, Any], ctx: Context) -> list[Issue]:
    found = []
    desired = ctx.policy.desired
    if desired.geo_redundant_backup == "Enabled" and state.get("geo_redundant") != "Enabled":
        found.append(Issue("no-geo", Severity.MEDIUM, "backups are not geo-redundant"))
    days = state.get("retention_days")
    if days is not None and days < desired.min_backup_retention_days:
        found.append(Issue("short", Severity.MEDIUM,
                           f"backup retention {days} days is below the policy minimum of "
                           f"{desired.min_backup_retention_days}"))
    return found
