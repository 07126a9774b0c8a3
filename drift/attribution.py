"""Who else wrote a change: a write that another event's read already showed, and named its caller.

The state always comes from ARM, so an event handled late reads every write made up to its read,
and its history row names its own caller for all of them. Two ways this hides someone:
- a new server's create is handled after Casey added an allow-all rule: the posture check finds
  the rule and names the creator; Casey's own event then finds the state equal to its baseline;
- Alice and Bob write the same setting (t1 < t2) and Bob's event is handled first: its read shows
  both writes, Bob is named for Alice's part, and Alice's event later finds nothing new.

So a baseline remembers when the read that showed its state began (`read_at`) and whom its last
recorded change named (`attributed`: that event, its time and caller, the state before it, and
`since`, when the state before it was read). A change recorded with that baseline covers every
write made after `since` and before `read_at`. An event whose setting now equals its baseline,
written inside that window by someone the row does not already name, gets a row of its own: same
setting, same before and after, same verdict and severity, naming its caller and IP, saying which
event first recorded the change (`HistoryRecord.first_recorded_under`), so the weakening reads as
possibly shared. Without `since` (a first-seen state) the window opens at the server's creation;
with neither (a baseline written before this module), at the attributed event's time.

Such a row never alerts: the weakening it names was already judged, and alerted (or exempted, or
below the minimum) when it was first recorded, at the same severity, since the row copies it;
a context that made it worse since is recorded, and alerted, by the event that changed the context.

Redelivery records nothing new: the events named so far are kept with the attribution (`also`),
and the commit is conditional on the baseline's ETag, so two deliveries at once record one row.
A caller already named (the same person from the same IP) is not named again: a deployment's
burst of writes by one principal adds no row. No extra ARM read: the state was read for the event.

The window's edges compare ARM's event time with our clock, without a margin: a skew of a few
seconds can misplace a write made within those seconds of a read. Inside, the error is a row naming
a caller whose write may have changed nothing (a re-deployment of the same value), which the row
says ("may be shared") and which alerts nobody; outside, it is the silence there was before. A
margin would miss every write made in the seconds before a late read, the common case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import detectors
from drift.armid import ServerRef
from drift.events import ArmEvent
from drift.judging import canonical
from drift.model import AlertStatus, HistoryRecord
from drift.store import Baseline, Change

log = logging.getLogger(__name__)

MAX_NAMED = 20  # callers one attribution names besides its own (bounds the baseline row; more is not news)


def stamp(changes: Iterable[Change], read_at: dict[str, datetime]) -> None:
    """Give each change the time its state was read and, when it records a row, whom that row names."""
    for change in changes:
        if change.read_at is None and change.setting in read_at:
            change.read_at = read_at[change.setting].isoformat()
        if change.record is None or change.attributed is not None:
            continue
        record, previous = change.record, change.previous
        first_seen = previous is None or previous.closed
        change.attributed = {
            "event_id": record.event_id, "event_time": record.event_time, "changed_by": record.changed_by,
            "client_ip": record.client_ip, "before": record.before, "verdict": record.verdict,
            "severity": record.severity, "why": record.why, "first_seen": first_seen,
            "since": None if first_seen or previous is None else previous.read_at, "also": [],
        }


def folded_changes(event: ArmEvent, ref: ServerRef, states: dict[str, Any], baselines: dict[str, Baseline],
                   changed: set[str], *, who: Callable[[], str], now: datetime) -> list[Change]:
    """A row for each setting the event wrote whose current state another event's row already recorded."""
    if event.kind == "Reconcile":
        return []
    out: list[Change] = []
    name: list[str] = []  # asked once, and only when needed (`who` may ask Graph)
    for setting, state in states.items():
        baseline = baselines.get(setting)
        if setting in changed or baseline is None or not _inside(event, baseline):
            continue
        if canonical(baseline.state) != canonical(state):
            continue
        name = name or [who()]
        change = _folded(event, ref, setting, state, baseline, name[0], now)
        if change is not None:
            out.append(change)
    return out


def _inside(event: ArmEvent, baseline: Baseline) -> bool:
    """Whether the event's write falls inside what the read behind the baseline's last row showed."""
    attributed = baseline.attributed
    if baseline.closed or not attributed or not baseline.read_at:
        return False
    at = _utc(event.time)
    if not at < _utc(datetime.fromisoformat(baseline.read_at)):
        return False
    opened = attributed.get("since") or (None if attributed.get("first_seen") else attributed.get("event_time"))
    return opened is None or at > _utc(datetime.fromisoformat(opened))


def _utc(moment: datetime) -> datetime:
    """Times are stored with their offset; one without (an injected clock's) is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _folded(event: ArmEvent, ref: ServerRef, setting: str, state: Any, baseline: Baseline, who: str,
            now: datetime) -> Change | None:
    attributed = baseline.attributed or {}
    also = [list(entry) for entry in attributed.get("also", [])]
    if event.id == attributed["event_id"] or any(entry[0] == event.id for entry in also):
        return None  # delivered again
    named = {(attributed.get("changed_by"), attributed.get("client_ip"))} | {(e[1], e[2]) for e in also}
    if (who, event.client_ip) in named:
        return None
    if len(also) >= MAX_NAMED:
        log.warning("event %s: %s of %s already names %d other writers; %s not added", event.id, setting,
                    ref.server_id, MAX_NAMED, who)
        return None
    detector = detectors.by_setting(setting)
    first = attributed["event_id"]
    how = "a first-seen posture gap" if attributed.get("first_seen") else f"a {attributed.get('verdict')} change"
    why = (f"also written by {who} at {event.time.isoformat()}: first recorded under event {first} "
           f"by {attributed.get('changed_by')} as {how}, which may be shared ({attributed.get('why')})")
    record = HistoryRecord(
        server_id=ref.server_id, server=ref.name, setting=setting, before=attributed.get("before"),
        after=detector.describe(state), verdict=str(attributed.get("verdict")),
        severity=str(attributed.get("severity")), why=why, event_id=event.id, event_time=event.time.isoformat(),
        detected_at=now.isoformat(), operation=event.operation_name or event.kind, changed_by=who,
        client_ip=event.client_ip, correlation_id=event.correlation_id,
        alert_status=AlertStatus.NOT_REQUIRED.value, control=detector.control, first_recorded_under=first,
    )
    log.info("event %s: %s of %s was first recorded under %s; naming %s too", event.id, setting, ref.server_id,
             first, who)
    return Change(setting, state, baseline, record, None, read_at=baseline.read_at,
                  attributed={**attributed, "also": [*also, [event.id, who, event.client_ip]]})
