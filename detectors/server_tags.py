"""The server's tags: not judged, kept so that tag-based exemptions can be applied to any event."""

from __future__ import annotations

from typing import Any

from detectors import Context, Issue, detector
from drift.model import Judgement


def tags_state(server: dict[str, Any] | None) -> dict[str, str]:
    tags = (server or {}).get("tags") or {}
    return {str(k): str(v) for k, v in sorted(tags.items())}


def judge(before: Any, after: Any, ctx: Context) -> Judgement | None:
    return None


@detector(
    "server_tags",
    reads="server",
    title="Server tags",
    control="-",
    severity_rules="not judged (used for exemptions)",
    remediation="-",
    command="-",
    doc_url="https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources",
    state=tags_state,
    describe=lambda s: ", ".join(f"{k}={v}" for k, v in s.items()) if s else "none",
    judge=judge,
)
def issues(state: dict[str, str], ctx: Context) -> list[Issue]:
    return []
