"""What a commit's changes do to the findings of its server (`drift.findings` keeps them).

- A weakening (above info; alerted, below the alert threshold or exempted alike) opens a finding for
  its setting, or updates the one open: worst severity, the latest who/where/why/after, its alert
  (an acknowledged finding is open again: the acknowledgement note stays).
- Any other change of a setting with an open finding resolves it when the new state is no weaker
  than the state the finding started from (the setting's own detector judges the two), and else
  (a partial restore) updates it. A resolved finding that had an alert sends a "resolved" card,
  unless the policy turns them off (`[alerts] resolved_cards = false`).
- An accepted change closes the setting's finding as `accepted`; a deleted server closes all of them.

Every function here only plans: the writes go into the same transaction as the changes
(`BaselineStore.commit(findings=...)`), and each history row gets the id of the finding it touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import detectors
from detectors import Context
from drift.findings import Finding, FindingWrite, Slot, finding_id
from drift.model import AlertStatus, HistoryRecord, Severity, Verdict
from drift.store import Change

RESOLVED = "~resolved|"  # the alert group of a resolved card (one card per finding)


def plan(changes: list[Change], open_: dict[str, Slot], *, context: Callable[[], Context], via: str,
         now: datetime, resolved_cards: bool = True) -> list[FindingWrite]:
    """The finding writes of one event's changes (`via`: "event" or "reconcile")."""
    writes = []
    for change in changes:
        record = change.record
        if record is None:
            continue
        current = open_.get(change.setting)
        if record.verdict == Verdict.WEAKENED.value and record.severity != Severity.INFO.value:
            writes.append(_weakened(change, record, current, now))
        elif current is not None:
            write = _restored(change, record, current, context(), via, now)
            if write.closes and resolved_cards and current.finding.alert_keys and change.alert_group is None:
                change.alert_group, change.resolves = f"{RESOLVED}{change.setting}", current.finding.alert_keys[0]
                record.alert_status = AlertStatus.PENDING.value
            writes.append(write)
    return writes


def _weakened(change: Change, record: HistoryRecord, current: Slot | None, now: datetime) -> FindingWrite:
    latest = {"why": record.why, "after": record.after, "changed_by": record.changed_by,
              "client_ip": record.client_ip, "event_id": record.event_id, "correlation_id": record.correlation_id,
              "remediation": record.remediation, "exemption": record.exemption, "updated_at": now.isoformat()}
    if current is None:
        previous = change.previous if change.previous is not None and not change.previous.closed else None
        finding = Finding(id=finding_id(record.server_id, change.setting, record.event_id),
                          server_id=record.server_id, server=record.server, setting=change.setting, status="open",
                          severity=record.severity, opened_at=now.isoformat(), before=record.before,
                          control=record.control, **latest)
        record.finding_id = finding.id
        return FindingWrite(finding, None, record, previous.state if previous else None, previous is not None)
    finding = current.finding
    for name, value in latest.items():
        setattr(finding, name, value)
    finding.status = "open"  # acknowledged before this weakening: it asks for a look again (the note stays)
    if Severity(record.severity).rank > finding.rank:
        finding.severity = record.severity
    record.finding_id = finding.id
    return FindingWrite(finding, current.etag, record, current.origin, current.has_origin)


def _restored(change: Change, record: HistoryRecord, current: Slot, ctx: Context, via: str,
              now: datetime) -> FindingWrite:
    detector = detectors.by_setting(change.setting)
    judged = (detector.judge(current.origin, change.state, ctx) if current.has_origin
              else detector.first_seen(change.state, ctx))
    finding = current.finding
    finding.after, finding.updated_at = record.after, now.isoformat()
    record.finding_id = finding.id
    if judged is None or judged.verdict != Verdict.WEAKENED:
        finding.status, finding.closed_by, finding.closed_at = "resolved", record.changed_by, now.isoformat()
        finding.closed_via, finding.close_reason = via, record.why
    return FindingWrite(finding, current.etag, record, current.origin, current.has_origin)


def accepted(changes: Iterable[Change], open_: dict[str, Slot], *, by: str, reason: str,
             now: datetime) -> list[FindingWrite]:
    """Close the open finding of every accepted setting as `accepted` (by whom, why)."""
    writes = []
    for change in changes:
        current = open_.get(change.setting)
        if current is None or change.record is None:
            continue
        finding = current.finding
        finding.status, finding.closed_by, finding.closed_at = "accepted", by, now.isoformat()
        finding.closed_via, finding.close_reason = "accept", reason
        finding.after, finding.updated_at = change.record.after, now.isoformat()
        change.record.finding_id = finding.id
        writes.append(FindingWrite(finding, current.etag, change.record, current.origin, current.has_origin))
    return writes


def server_deleted(open_: dict[str, Slot], record: HistoryRecord, *, via: str, now: datetime) -> list[FindingWrite]:
    """Close every open finding of a deleted server as resolved, with the reason "server deleted"."""
    writes = []
    for current in open_.values():
        finding = current.finding
        finding.status, finding.closed_by, finding.closed_at = "resolved", record.changed_by, now.isoformat()
        finding.closed_via, finding.close_reason, finding.updated_at = via, "server deleted", now.isoformat()
        writes.append(FindingWrite(finding, current.etag, None, current.origin, current.has_origin))
    return writes


def via(event: Any) -> str:
    """How a change was found: "reconcile" for a scan's, else "event"."""
    return "reconcile" if getattr(event, "kind", "") == "Reconcile" or getattr(event, "schema", "") == "reconcile" \
        else "event"
