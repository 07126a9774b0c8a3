"""Microsoft Defender for open-source databases (`advancedThreatProtectionSettings/Default`)."""

from __future__ import annotations

from typing import Any

from detectors import Issue, detector
from drift.model import Severity


def defender_state(setting: dict[str, Any] | None) -> str | None:
    value = ((setting or {}).get("properties") or {}).get("state")
    return value.capitalize() if isinstance(value, str) else None


@detector(
    "defender",
    reads="threat_protection",
    title="Microsoft Defender for open-source databases",
    remediation="az mysql flexible-server advanced-threat-protection-setting update -g {resource_group} "
                "-n {server} --state Enabled",
    state=defender_state,
    describe=lambda s: s or "not set",
)
def issues(state: str | None) -> list[Issue]:
    if state != "Enabled":
        return [Issue("off", Severity.MEDIUM, "Defender threat protection is not enabled")]
    return []
