"""How an alert leaves: claims, grouping by operation, the rate limit and its digest, the sweep.

The event path (`drift.engine`) writes an alert into the server's outbox in the same transaction
as the history row it is about; from there this module delivers it. Every delivery works under an
*owner*: one id per invocation (an Event Grid delivery, a sweep run, a queue message), never one per
process, so two threads of one Function host never both believe they hold the same lease.

Delivery is at least once. An alert leaves the outbox only after every notifier took it; the
outbox row remembers which notifiers already have it, so a retry posts only where it is missing.
The one window for a second card is a post that Teams accepted but whose answer was lost (or a
crash between the post and the `delivered` write): the card then comes again with the same alert
id, which is what a reader uses to tell it is the same alert.

Alerts of one operation (one correlation id) on one server become one card: the event path
leaves them leased to `GROUPING` for the grouping window instead of waiting in the handler, and a
delayed queue message (or the sweep) claims the whole group in one transaction when the window
has passed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from drift.errors import RetryableFailure
from drift.keys import GROUPING
from drift.model import Alert, AlertStatus, Severity
from drift.store import BaselineStore, OutboxItem

log = logging.getLogger(__name__)

UNLIMITED = Severity.HIGH  # alerts this bad are never held back by the rate limit


class Notifier(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


def new_owner() -> str:
    """The lease owner of one invocation."""
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


def digest_of(members: list[OutboxItem], row_key: str) -> Alert:
    """One digest alert over rate-limited alerts: worst first, so nothing severe hides at the end."""
    records = [r for m in members for r in m.alert.records]
    records.sort(key=lambda r: (-Severity(r.severity).rank, r.detected_at))
    return Alert("digest", records, id=row_key)


class AlertOutbox:
    def __init__(self, store: BaselineStore, notifiers: Sequence[Notifier], *, alerts_per_minute: int = 0,
                 clock: Callable[[], datetime] = _now, max_attempts: int = 6) -> None:
        self.store = store
        self.notifiers = list(notifiers)
        self.alerts_per_minute = alerts_per_minute
        self.clock = clock
        self.max_attempts = max_attempts

    def deliver(self, server_id: str, queued: list[OutboxItem], leftovers: list[OutboxItem], owner: str) -> set[str]:
        """Send what this invocation queued, and any leftover of the server it can claim.

        Returns the row keys of the alerts delivered; raises RetryableFailure if some could not be.
        """
        now = self.clock()
        items = list(queued)
        for item in leftovers:
            if item.digest or item.lease_owner == GROUPING:
                continue  # the digest's or the group's, which the sweep looks after
            if item.claimable(owner, now):
                if self.store.claim(server_id, item, owner=owner, now=now):
                    items.append(item)
            elif not item.marked:
                # Leased to an invocation that may have died after its commit: if it did, nobody else
                # would ever send this alert, so the sweep gets it once the lease has run out.
                self.store.hand_to_sweep(server_id, item)
        groups: dict[str, list[OutboxItem]] = {}
        for item in items:
            groups.setdefault(item.correlation_id or item.row_key, []).append(item)
        errors, sent = [], set()
        for members in groups.values():
            error = self._deliver_group(server_id, members)
            if error:
                errors.append(error)
            else:
                sent |= {m.row_key for m in members}
        if errors:
            raise RetryableFailure("alert delivery failed: " + "; ".join(errors))
        return sent

    def deliver_committed(self, server_id: str, queued: list[OutboxItem], leftovers: list[OutboxItem],
                          owner: str) -> int:
        """`deliver` for what a commit just queued: the records of each alert sent are marked `sent` (as
        the `delivered` write marked their rows). Returns the number of cards sent for `queued`."""
        sent = self.deliver(server_id, queued, leftovers, owner)
        delivered = [i for i in queued if i.row_key in sent]
        for item in delivered:
            for record in item.alert.records:
                record.alert_status = AlertStatus.SENT.value
        return len({i.correlation_id or i.row_key for i in delivered})

    def send_group(self, server_id: str, correlation_id: str, owner: str) -> int:
        """Claim, in one transaction, every pending alert of this server from one operation, and send them
        as one card. Siblings that come a moment later find the rows taken and send nothing."""
        for _attempt in range(self.max_attempts):
            now = self.clock()
            group = [i for i in self.store.load(server_id).outbox
                     if i.correlation_id == correlation_id and not i.digest and i.claimable(owner, now)]
            if not group:
                return 0
            if self.store.claim_all(server_id, group, owner=owner, now=now):
                error = self._deliver_group(server_id, group)
                if error:
                    raise RetryableFailure(f"alert delivery failed: {error}")
                return 1
        return 0

    def _deliver_group(self, server_id: str, members: list[OutboxItem], kind: str | None = None) -> str | None:
        """Send claimed alerts as one card; None when delivered (or deferred to the digest), else the error."""
        if kind == "digest":
            alert = digest_of(members, members[0].row_key)
        elif len(members) == 1:
            alert = members[0].alert
        else:
            alert = Alert("group", [r for m in members for r in m.alert.records], id=members[0].row_key)
        if (kind != "digest" and self.alerts_per_minute and alert.severity.rank < UNLIMITED.rank
                and not self.store.take_slot("alerts", self.clock(), self.alerts_per_minute)):
            for member in members:
                self.store.mark_digest(server_id, member)
            log.info("alert rate limit reached: %s goes into the next digest", alert.id)
            return None
        try:
            self._send(server_id, members[0], alert)
        except Exception as exc:
            log.warning("alert for %s not delivered, kept pending: %s", alert.server, exc)
            for member in members:
                self.store.release(server_id, member, error=str(exc))
            return f"{', '.join(sorted({r.setting for r in alert.records}))}: {exc}"
        for member in members:
            self.store.delivered(server_id, member, now=self.clock())
        return None

    def _send(self, server_id: str, item: OutboxItem, alert: Alert) -> None:
        """Every notifier that does not have the alert yet; each success is noted before the next."""
        waiting = [n for n in self.notifiers if n.name not in item.delivered_to]
        for index, notifier in enumerate(waiting):
            notifier.send(alert)
            if index < len(waiting) - 1:  # the last one is noted by `delivered` itself
                self.store.delivered_to(server_id, item, notifier.name)

    def sweep(self, owner: str | None = None) -> dict[str, int]:
        """Deliver what events could not: failed or orphaned alerts, groups whose window has passed, and
        the digest of rate-limited ones. Run by a timer; raises RetryableFailure when some alert is still
        not sent."""
        owner = owner or new_owner()
        now = self.clock()
        pending = self.store.pending_alerts(now)
        claimed = [i for i in pending if i.claimable(owner, now)
                   and self.store.claim("", i, owner=owner, now=now)]
        digest = [i for i in claimed if i.digest]
        errors, sent = [], 0
        groups: dict[tuple[str, str], list[OutboxItem]] = {}
        for item in claimed:
            if not item.digest:
                groups.setdefault((item.partition, item.correlation_id or item.row_key), []).append(item)
        for members in groups.values():
            error = self._deliver_group("", members)
            errors += [error] if error else []
            sent += 0 if error else 1
        if digest:
            error = self._deliver_group("", digest, kind="digest")
            errors += [error] if error else []
            sent += 0 if error else 1
        if errors:
            raise RetryableFailure("sweep: alert delivery failed: " + "; ".join(errors))
        return {"pending": len(pending), "claimed": len(claimed), "sent": sent, "digested": len(digest)}
