"""Settings of the subscription rather than of a server: the Defender plan for open-source
relational databases (`Microsoft.Security/pricings/OpenSourceRelationalDatabases`).

Its events come through the same system topic as the servers', with the setting's id as subject
(`/subscriptions/{sub}/providers/Microsoft.Security/pricings/OpenSourceRelationalDatabases`).
The per-server engine does not know them: `handle` takes such an event end to end with the same
parts (reader, store, detectors, notifiers) and the same guarantees: the state is re-read from
ARM, the baseline, history row and outbox row are committed in one transaction conditional on
the baseline's ETag (a concurrent writer makes it start over), and the alert is sent from the
outbox, released for the next delivery or the sweep when it cannot be.

Each setting has its own partition, `~subscription|{sub}|{setting}`: outside every server's
partition range, so a scan never mistakes it for a server. One change concerns every server of
the subscription, so a weakening costs one more read (the server listing) and its alert names
them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import detectors
from detectors import Context
from drift import lifecycle
from drift.errors import RetryableFailure
from drift.events import ArmEvent, Caller
from drift.judging import judged_change
from drift.model import HistoryRecord, Verdict
from drift.outbox import AlertOutbox, new_owner
from drift.policy import Policy
from drift.readers import SUBSCRIPTION_READS
from drift.store import Change, ConcurrentUpdate

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Target:
    """One subscription-level setting an event is about."""

    subscription_id: str
    read: str  # a key of drift.readers.SUBSCRIPTION_READS
    resource_id: str  # as the event spelled it

    @property
    def partition(self) -> str:
        return f"~subscription/{self.subscription_id.lower()}/{self.read}"

    @property
    def label(self) -> str:
        return f"subscription {self.subscription_id}"


@dataclass
class Handled:
    status: str  # ignored | recorded | unchanged
    records: list[HistoryRecord] = field(default_factory=list)
    alerts_sent: int = 0
    reads: int = 0


def target(subject: str) -> Target | None:
    """The subscription-level setting a subject names, or None."""
    parts = subject.strip("/").split("/")
    if len(parts) < 3 or parts[0].lower() != "subscriptions":
        return None
    path = "/".join(parts[2:]).lower()
    for read, setting_path in SUBSCRIPTION_READS.items():
        if path == setting_path.lower():
            return Target(parts[1], read, subject)
    return None


def _servers(reader: Any, subscription_id: str) -> list[str]:
    return sorted(str(s.get("name") or "") for s in reader.list_servers(subscription_id))


def handle(event: ArmEvent, *, reader: Any, store: Any, outbox: AlertOutbox, policy: Policy,
           clock: Callable[[], datetime], owner: str, max_attempts: int = 6) -> Handled | None:
    """Take an event about a subscription-level setting end to end; None when it is not about one."""
    found = target(event.subject)
    if found is None:
        return None
    if not event.succeeded or event.action != "Write":
        log.debug("ignored event %s: %s on %s changes nothing watched", event.id, event.kind, event.subject)
        return Handled("ignored")
    return check(found, event, reader=reader, store=store, outbox=outbox, policy=policy, clock=clock,
                 owner=owner, max_attempts=max_attempts)


def reconcile(engine: Any, subscription_id: str, run_id: str, servers: list[str]) -> list[Handled]:
    """Check every subscription-level setting of a subscription a scan covers (source `reconcile`);
    `servers` are the names the scan listed (named in an alert without another read)."""
    out = []
    for read, path in SUBSCRIPTION_READS.items():
        found = Target(subscription_id, read, f"/subscriptions/{subscription_id}/{path}")
        event = ArmEvent(id=f"reconcile-{run_id}-{read}", kind="Reconcile", subject=found.resource_id,
                         time=engine.clock(), operation_name="reconcile", subscription_id=subscription_id,
                         tenant_id=None, correlation_id=None, caller=Caller(name="reconcile (no caller known)"),
                         client_ip=None, schema="reconcile")
        out.append(check(found, event, reader=engine.reader, store=engine.store, outbox=engine.outbox,
                         policy=engine.policy, clock=engine.clock, owner=new_owner(), servers=sorted(servers)))
    return out


def check(found: Target, event: ArmEvent, *, reader: Any, store: Any, outbox: AlertOutbox, policy: Policy,
          clock: Callable[[], datetime], owner: str, max_attempts: int = 6,
          servers: list[str] | None = None) -> Handled:
    """Re-read one subscription-level setting, judge it against its baseline, commit, alert."""
    result = Handled("unchanged")
    for _attempt in range(max_attempts):
        rows = store.load(found.partition)
        data = reader.read_subscription(found.subscription_id, found.read)
        result.reads += 1
        changes: list[Change] = []
        now = clock()
        for detector in detectors.watching(found.read):
            ctx = Context(policy, {}, found.resource_id)
            change = judged_change(
                detector, detector.state(data), rows.baselines.get(detector.setting), ctx, event=event, now=now,
                policy=policy, server_id=found.resource_id, server=found.label,
                undo=lambda _targets, d=detector: d.command.replace("{subscription}", found.subscription_id),
                alert_group=detector.setting)
            if change is None:
                continue
            if change.record is not None and change.record.verdict == Verdict.WEAKENED.value:
                if servers is None:
                    servers = _servers(reader, found.subscription_id)
                    result.reads += 1
                change.record.why += (f"; servers affected: {', '.join(servers)}" if servers
                                      else "; no MySQL flexible server in the subscription yet")
            changes.append(change)
        if not changes:
            return result
        findings = lifecycle.plan(changes, rows.findings, context=lambda: Context(policy, {}, found.resource_id),
                                  via=lifecycle.via(event), now=now, resolved_cards=policy.resolved_cards)
        try:
            queued = store.commit(found.partition, found.label, changes, owner=owner, now=now, lease=LEASE,
                                  findings=findings)
        except ConcurrentUpdate:
            log.info("event %s: %s changed under us; re-reading", event.id, found.resource_id)
            continue
        result.records = [c.record for c in changes if c.record]
        result.status = "recorded" if result.records else "unchanged"
        result.alerts_sent = outbox.deliver_committed(found.partition, queued, rows.outbox, owner)
        return result
    raise RetryableFailure(f"event {event.id}: {found.resource_id} kept changing over {max_attempts} attempts")
