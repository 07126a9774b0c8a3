"""The on-call engineer's answers to an alert: "this change was intended" and "I have seen this".

`accept` re-reads the setting(s) from ARM and makes the current state the baseline, in one
transaction with a history row that says who accepted it and why; an alert still waiting in the
outbox for that setting is dropped. The next event or reconcile scan then has nothing to report
until the state moves again.

`ack` marks the history rows of one event as reviewed, without touching any baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import detectors
from drift import lifecycle
from drift.armid import ServerRef, mysql_server_ref
from drift.engine import DriftEngine, remediation
from drift.findings import FindingStore
from drift.model import AlertStatus, HistoryRecord, Severity, Verdict
from drift.outbox import new_owner
from drift.store import Change, ConcurrentUpdate


class ReviewError(ValueError):
    """The request names something that does not exist or is ambiguous."""


@dataclass
class Accepted:
    server_id: str
    records: list[HistoryRecord]
    dropped_alerts: int


def resolve_server(engine: DriftEngine, server: str) -> ServerRef:
    """A server by full ARM id, or by name when exactly one watched server has it."""
    if server.startswith("/"):
        ref = mysql_server_ref(server)
        if ref is None:
            raise ReviewError(f"{server} is not a MySQL flexible server id")
        return ref
    ids = engine.store.server_ids(server)
    if not ids:
        raise ReviewError(f"no watched server is named {server!r}")
    if len(ids) > 1:
        raise ReviewError(f"several servers are named {server!r}; give the full id: {', '.join(sorted(ids))}")
    ref = mysql_server_ref(ids[0])
    assert ref is not None
    return ref


def _reviewed(engine: DriftEngine, ref: ServerRef, setting: str | None, alert: str | None,
              expect: str | None) -> dict[str, str]:
    """What the reviewer saw, per setting: the states an alert showed, or the one they typed."""
    if alert:
        records = engine.store.alert_records(ref.server_id, alert.strip())
        if not records:
            raise ReviewError(f"no alert or event {alert!r} on {ref.name}")
        seen: dict[str, str] = {}
        for record in sorted(records, key=lambda r: r.detected_at):  # the latest state of each setting wins
            if record.setting in {d.setting for d in detectors.all_detectors()}:
                seen[record.setting] = record.after or ""
        if setting is not None:
            if setting not in seen:
                raise ReviewError(f"alert {alert} is not about {setting} (it is about {', '.join(sorted(seen))})")
            return {setting: seen[setting]}
        return seen
    if setting is not None and expect is not None:
        return {setting: expect}
    raise ReviewError("name what you accept: the alert id the card shows (--alert), or --setting with the "
                      "state you reviewed (--expect, as `mysql-drift history` shows it)")


def _same(shown: str, now: str) -> bool:
    """The state as reviewed is the state now (a static parameter's value may still await its restart)."""
    shown, now = " ".join(shown.split()).casefold(), " ".join(now.split()).casefold()
    return now == shown or now.startswith(f"{shown} (running ")


def accept(engine: DriftEngine, server: str, *, reason: str, by: str, setting: str | None = None,
           alert: str | None = None, expect: str | None = None, now: datetime | None = None) -> Accepted:
    """Make the state the reviewer saw the baseline, and only that state.

    The reviewer names what they looked at: an alert (its key, or the event id) or, for a change no
    alert showed, the state itself. When ARM now shows something else (an allow-all rule added
    while they were reading a LOW alert), nothing is accepted and the error says what changed.
    """
    if not reason.strip():
        raise ReviewError("say why the change is accepted (--reason)")
    ref = resolve_server(engine, server)
    known = {d.setting for d in detectors.all_detectors()}
    if setting is not None and setting not in known:
        raise ReviewError(f"unknown setting {setting!r} (known: {', '.join(sorted(known))})")
    if setting is not None and detectors.by_setting(setting).scope != "server":
        raise ReviewError(f"{setting} is a setting of the subscription, not of a server: "
                          "it cannot be accepted per server (use an exemption in the policy)")
    seen = _reviewed(engine, ref, setting, alert, expect)
    wanted = [detectors.by_setting(s) for s in sorted(seen)]
    named = f" (alert {alert.strip()})" if alert else ""
    for _attempt in range(engine.max_attempts):
        rows = engine.store.load(ref.server_id)
        states: dict[str, Any] = {}
        for read in detectors.reads_of(wanted):
            data = engine.reader.read(ref, read)
            states.update({d.setting: d.state(data) for d in detectors.watching(read) if d in wanted})
        moved = [f"{name} is now {detectors.by_setting(name).describe(state)!r}, not {seen[name]!r}"
                 for name, state in states.items() if not _same(seen[name], detectors.by_setting(name).describe(state))]
        if moved:
            raise ReviewError("ARM shows something else than what you reviewed, so nothing was accepted: "
                              + "; ".join(moved) + ". Look at the current state (and its alert) first.")
        when = now or engine.clock()
        changes = []
        for name, state in states.items():
            detector = detectors.by_setting(name)
            baseline = rows.baselines.get(name)
            before = detector.describe(baseline.state) if baseline else None
            record = HistoryRecord(
                server_id=ref.server_id, server=ref.name, setting=name, before=before, after=detector.describe(state),
                verdict=Verdict.CHANGED.value, severity=Severity.INFO.value,
                why=f"accepted as the baseline{named}: {reason.strip()}", event_id=f"accept-{when.isoformat()}-{name}",
                event_time=when.isoformat(), detected_at=when.isoformat(), operation="accept", changed_by=by,
                client_ip=None, correlation_id=None, alert_status=AlertStatus.NOT_REQUIRED.value,
                remediation=remediation(detector.command, ref), control=detector.control,
            )
            changes.append(Change(name, state, baseline, record))
        closing = lifecycle.accepted(changes, rows.findings, by=by, reason=reason.strip(), now=when)
        try:
            engine.store.commit(ref.server_id, ref.name, changes, owner=new_owner(), now=when, findings=closing)
        except ConcurrentUpdate:
            continue
        dropped = engine.store.drop_alerts(ref.server_id, {c.setting for c in changes})
        return Accepted(ref.server_id, [c.record for c in changes if c.record], dropped)
    raise ReviewError(f"{ref.server_id} kept changing; try again")


def ack(engine: DriftEngine, event_id: str, *, reason: str, by: str, now: datetime | None = None) -> int:
    if not reason.strip():
        raise ReviewError("say why (--reason)")
    at = (now or engine.clock()).isoformat()
    count = engine.store.acknowledge(event_id, f"{by}: {reason.strip()}", at)
    if count == 0:
        raise ReviewError(f"no history row has event id {event_id!r}")
    FindingStore(engine.store).acknowledge_event(event_id, f"{by}: {reason.strip()} ({at})")
    return count
