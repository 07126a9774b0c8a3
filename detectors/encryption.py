"""Encryption at rest with a customer-managed key (`dataEncryption`).

Going back to a service-managed key weakens; a new key URI is worth a record even when both
are customer-managed (a key from an unexpected vault is how a takeover would look).

With geo-redundant backup on, the backup copy in the paired region needs its own key and
identity there (`geoBackupKeyURI`, `geoBackupUserAssignedIdentityId`); without them the
customer-managed key does not cover the geo backup: a gap.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from detectors import LEARN, Context, Issue, compare_issues, detector, server_properties
from drift.model import Judgement, Severity, Undo, Verdict

TYPES = {"azurekeyvault": "AzureKeyVault", "systemmanaged": "SystemManaged"}


def encryption_state(server: dict[str, Any] | None) -> dict[str, str | None]:
    data = server_properties(server).get("dataEncryption") or {}
    kind = data.get("type")
    return {"type": TYPES.get(str(kind).lower(), kind) if kind else "SystemManaged",
            "primary_key_uri": data.get("primaryKeyURI") or None,
            "geo_backup_key_uri": data.get("geoBackupKeyURI") or None,
            "geo_backup_identity": data.get("geoBackupUserAssignedIdentityId") or None}


def describe(state: dict[str, Any] | None) -> str:
    state = state or {}
    if state.get("type") == "AzureKeyVault":
        return f"customer-managed key {state.get('primary_key_uri') or '(no key URI)'}"
    return "service-managed key"


def judge(before: dict[str, Any], after: dict[str, Any], ctx: Context) -> Judgement:
    verdict = compare_issues(issues)(before, after, ctx)
    if verdict.verdict == Verdict.CHANGED and (before.get("primary_key_uri") != after.get("primary_key_uri")
                                               or before.get("geo_backup_key_uri") != after.get("geo_backup_key_uri")):
        return Judgement(Verdict.CHANGED, Severity.LOW,
                         f"customer-managed key changed from {before.get('primary_key_uri')} "
                         f"to {after.get('primary_key_uri')}")
    if verdict.verdict == Verdict.WEAKENED and before.get("primary_key_uri"):  # the key it had before
        return replace(verdict, undo=(Undo(values=(("key-uri", str(before["primary_key_uri"])),)),))
    return verdict


@detector(
    "data_encryption",
    reads="server",
    title="Encryption at rest (customer-managed key)",
    control="DP-5",
    severity_rules="high: AzureKeyVault without a key URI; medium: service-managed key, or geo-redundant backup "
                   "without the geo backup key and identity; low: key changed",
    remediation="Encrypt with a customer-managed key from your Key Vault, through a user-assigned identity.",
    command="az mysql flexible-server update -g {resource_group} -n {server} --key <key-uri> "
            "--identity <user-assigned-identity>",
    doc_url=LEARN + "concepts-customer-managed-key",
    state=encryption_state,
    describe=describe,
    judge=judge,
)
def issues(state: dict[str, Any], ctx: Context) -> list[Issue]:
    if state.get("type") == "AzureKeyVault":
        if not state.get("primary_key_uri"):
            return [Issue("no-key", Severity.HIGH, "customer-managed key encryption has no key URI")]
        geo = (ctx.other("backup") or {}).get("geo_redundant") == "Enabled"
        missing = [name for name, key in (("geoBackupKeyURI", "geo_backup_key_uri"),
                                          ("geoBackupUserAssignedIdentityId", "geo_backup_identity"))
                   if not state.get(key)]
        if geo and missing:
            return [Issue("no-geo-key", Severity.MEDIUM,
                          f"geo-redundant backup with a customer-managed key but no {' or '.join(missing)}: "
                          "the geo backup is not covered by the customer-managed key")]
        return []
    if ctx.policy.desired.data_encryption == "AzureKeyVault":
        return [Issue("service-managed", Severity.MEDIUM,
                      "data is encrypted with a service-managed key, not a customer-managed key")]
    return []
