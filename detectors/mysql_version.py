"""The MySQL major version (`version`): 5.7 is past the end of its standard support and still
allows TLS 1.0 and 1.1; a major-version upgrade is a strengthening.

`version` is `5.7` or `8.0.21` (8.0) and newer (`8.4`); only the major.minor part is compared.
"""

from __future__ import annotations

from typing import Any

from detectors import LEARN, Context, Issue, detector, server_properties
from drift.model import Judgement, Severity, Verdict


def version_state(server: dict[str, Any] | None) -> str | None:
    version = server_properties(server).get("version")
    return str(version) if version else None


def major(version: str | None) -> tuple[int, ...]:
    """`8.0.21` as (8, 0); an unreadable version as () (older than any)."""
    try:
        return tuple(int(p) for p in (version or "").split(".")[:2])
    except ValueError:
        return ()


def judge(before: str | None, after: str | None, ctx: Context) -> Judgement:
    old, new = major(before), major(after)
    if new > old and old:
        return Judgement(Verdict.STRENGTHENED, Severity.INFO, f"major version upgraded from {before} to {after}")
    found = issues(after, ctx)
    if new < old and found:
        return Judgement(Verdict.WEAKENED, found[0].severity, found[0].why)
    return Judgement(Verdict.CHANGED, Severity.INFO, "version changed within the same major version")


@detector(
    "mysql_version",
    reads="server",
    title="MySQL major version",
    control="",
    severity_rules="medium: a major version older than the policy minimum (5.7: end of standard support, "
                   "TLS 1.0/1.1 still allowed)",
    remediation="Upgrade the server to MySQL 8.0 or later (major version upgrade, in place).",
    command="az mysql flexible-server upgrade -g {resource_group} -n {server} --version 8",
    doc_url=LEARN + "how-to-upgrade",
    state=version_state,
    describe=lambda s: f"MySQL {s}" if s else "not set",
    judge=judge,
)
def issues(state: str | None, ctx: Context) -> list[Issue]:
    minimum = ctx.policy.desired.min_mysql_version
    if state is None or major(state) >= major(minimum):
        return []
    return [Issue("old", Severity.MEDIUM, f"MySQL {state} is older than the policy minimum {minimum}"
                  + (": past the end of standard support, and it still allows TLS 1.0 and 1.1"
                     if major(state) <= (5, 7) else ""))]
