"""High availability (`highAvailability.mode`): a standby the server fails over to.

Disabled leaves one zone's outage, or one host's, as downtime; SameZone survives a host but not
a zone; ZoneRedundant survives both. Going down that order weakens, going up strengthens. The
policy sets the least mode it accepts (Azure Policy's zone-resilience audit wants ZoneRedundant).
"""

from __future__ import annotations

from typing import Any

from detectors import LEARN, Context, Issue, detector, server_properties
from drift.model import Judgement, Severity, Undo, Verdict

MODES = ("Disabled", "SameZone", "ZoneRedundant")  # weakest first
_BY_LOWER = {m.lower(): m for m in MODES}


def ha_state(server: dict[str, Any] | None) -> dict[str, str | None]:
    ha = server_properties(server).get("highAvailability") or {}
    mode = ha.get("mode")
    return {"mode": _BY_LOWER.get(str(mode).lower(), str(mode)) if mode else "Disabled",
            "standby_zone": ha.get("standbyAvailabilityZone") or None}


def _rank(mode: str | None) -> int:
    return MODES.index(mode) if mode in MODES else 0


def describe(state: dict[str, Any] | None) -> str:
    state = state or {}
    mode = state.get("mode") or "Disabled"
    return mode + (f" (standby in zone {state['standby_zone']})" if state.get("standby_zone") else "")


def _severity(mode: str | None) -> Severity:
    return Severity.MEDIUM if _rank(mode) == 0 else Severity.LOW


def judge(before: dict[str, Any], after: dict[str, Any], ctx: Context) -> Judgement:
    old, new = before.get("mode"), after.get("mode")
    if _rank(new) < _rank(old):
        values = (("mode", str(old)),) + ((("standby-zone", str(before["standby_zone"])),)
                                          if before.get("standby_zone") else ())
        return Judgement(Verdict.WEAKENED, _severity(new),
                         f"high availability lowered from {old} to {new}"
                         + ("" if new != "Disabled" else ": no standby to fail over to"),
                         undo=(Undo(values=values, command="restore"),))
    if _rank(new) > _rank(old):
        return Judgement(Verdict.STRENGTHENED, Severity.INFO, f"high availability raised from {old} to {new}")
    return Judgement(Verdict.CHANGED, Severity.INFO, "high availability settings changed; mode unchanged")


@detector(
    "high_availability",
    reads="server",
    title="High availability",
    control="",
    severity_rules="medium: Disabled; low: SameZone where the policy wants ZoneRedundant, or ZoneRedundant "
                   "lowered to SameZone",
    remediation="Turn zone-redundant high availability on (General Purpose or Business Critical tier).",
    command="az mysql flexible-server update -g {resource_group} -n {server} --high-availability ZoneRedundant",
    commands={"restore": "az mysql flexible-server update -g {resource_group} -n {server} --high-availability <mode> "
                         "--standby-zone <standby-zone?>"},
    doc_url=LEARN + "concepts-high-availability",
    state=ha_state,
    describe=describe,
    judge=judge,
    prowler="mysql_flexible_server_high_availability_enabled",
)
def issues(state: dict[str, Any], ctx: Context) -> list[Issue]:
    wanted = ctx.policy.desired.high_availability
    mode = state.get("mode")
    if _rank(mode) >= _rank(wanted):
        return []
    return [Issue("below", _severity(mode), f"high availability is {mode}; the policy wants {wanted} or better")]
