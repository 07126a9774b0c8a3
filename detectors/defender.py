"""Microsoft Defender for open-source databases (`advancedThreatProtectionSettings/Default`)."""

from __future__ import annotations

from typing import Any

from detectors import Context, Issue, capitalized, detector
from drift.model import Severity


def defender_state(setting: dict[str, Any] | None) -> str | None:
    return capitalized(((setting or {}).get("properties") or {}).get("state"))


@detector(
    "defender",
    reads="threat_protection",
    title="Microsoft Defender for open-source databases",
    control="LT-1",
    severity_rules="medium: threat protection off",
    remediation="Turn Advanced Threat Protection on for the server.",
    command="az mysql flexible-server advanced-threat-protection-setting update -g {resource_group} "
            "-n {server} --state Enabled",
    doc_url="https://learn.microsoft.com/azure/defender-for-cloud/defender-for-databases-introduction",
    state=defender_state,
    describe=lambda s: s or "not set",
)
def issues(state: str | None, ctx: Context) -> list[Issue]:
    if ctx.policy.desired.defender == "Enabled" and state != "Enabled":
        return [Issue("off", Severity.MEDIUM, "Defender threat protection is not enabled")]
    return []
