"""Microsoft Defender for open-source relational databases, the plan at the subscription
(`Microsoft.Security/pricings/OpenSourceRelationalDatabases`, tier Standard).

One setting covers every MySQL flexible server of the subscription: a downgrade to Free removes
threat detection from all of them at once. It is judged once per subscription
(`drift.subscription`), and the alert names the servers affected.
"""

from __future__ import annotations

from typing import Any

from detectors import Context, Issue, capitalized, detector
from drift.model import Severity


def plan_state(pricing: dict[str, Any] | None) -> str | None:
    return capitalized(((pricing or {}).get("properties") or {}).get("pricingTier"))


@detector(
    "defender_plan",
    reads="defender_plan",
    title="Defender for open-source relational databases plan (subscription)",
    control="LT-1",
    severity_rules="high: the plan is Free (no threat detection on any server of the subscription)",
    remediation="Turn the Defender for open-source relational databases plan back on (Standard) for the "
                "subscription.",
    command="az security pricing create -n OpenSourceRelationalDatabases --tier Standard "
            "--subscription {subscription}",
    doc_url="https://learn.microsoft.com/azure/defender-for-cloud/defender-for-databases-introduction",
    state=plan_state,
    describe=lambda s: s or "not set",
    cis="3.1.7.2",
    prowler="defender_ensure_defender_for_os_relational_databases_is_on",
    scope="subscription",
)
def issues(state: str | None, ctx: Context) -> list[Issue]:
    if ctx.policy.desired.defender_plan != "Standard" or state == "Standard":
        return []
    return [Issue("free", Severity.HIGH, f"the Defender for open-source relational databases plan is "
                                         f"{state or 'not set'}: no threat detection on any MySQL server of "
                                         "the subscription")]
