"""The event-to-alert path: route, re-read, judge, record, alert.

For one event: load the server's baselines (one table query), re-read only the settings the
event touched (one ARM read per setting), let each setting's detector judge the difference,
commit baselines + history + outbox in one transaction, then deliver the outbox.

A server with no open baseline (new, or seen for the first time) gets a full posture check
instead: every watched setting is read once, every gap against the policy is recorded, and
the gaps go out as one alert, not one per setting.

Why the order matters. Baselines are read *before* ARM, and the commit is conditional on their
ETags. If another invocation commits in between, ours fails and starts over with a fresh read
of both; so a state read earlier can never overwrite one read later, whatever order the events
arrive in. The state always comes from ARM, never from the event, so an old event only causes
a re-check.

Failures that a retry can fix (ARM or storage unavailable, an alert not delivered) raise, so the
Function invocation fails and Event Grid delivers the event again; the retry finds the alert
still in the outbox and does not record the change twice.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import detectors
from detectors import Context
from drift import routing, subscription
from drift.armid import ServerRef, mysql_server_ref
from drift.events import ArmEvent, Caller, MalformedEvent, parse_event
from drift.model import Alert, AlertStatus, HistoryRecord, Judgement, Severity, Verdict
from drift.policy import Policy
from drift.principals import PrincipalNames
from drift.readers import ServerGone
from drift.rechecks import RecheckQueue
from drift.routing import Plan
from drift.store import POSTURE, Baseline, BaselineStore, Change, ConcurrentUpdate, OutboxItem

log = logging.getLogger(__name__)


class StateReader(Protocol):
    def read(self, ref: Any, read: str) -> Any: ...


class Notifier(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


class RetryableFailure(Exception):
    """Some work could not be finished now; delivering the event(s) again will finish it."""


PENDING_RESTART = " (pending restart: the new value takes effect when the server restarts)"
IN_FLIGHT_OK = {"ready", "stopped", "disabled", "dropping"}  # server states whose settings can be trusted


@dataclass
class Outcome:
    event_id: str | None
    status: str  # malformed | refused | ignored | recorded | unchanged | deferred | server_gone | failed
    records: list[HistoryRecord] = field(default_factory=list)
    alerts_sent: int = 0
    reads: int = 0
    detail: str = ""
    server_state: str | None = None
    pending_restart: set[str] = field(default_factory=set)


def remediation(template: str, ref: ServerRef, targets: tuple[str, ...] = ()) -> str:
    """The detector's undo command for this server, once per target (`{target}`) where it has any."""
    values = {"{server}": ref.name, "{resource_group}": ref.server.resource_group or "", "{server_id}": ref.server_id}
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    if "{target}" not in template:
        return template
    return " ; ".join(template.replace("{target}", t) for t in targets) if targets else template.replace(
        "{target}", "<name>")


GROUPING = "~grouping"
LEASE = timedelta(seconds=60)


def _canonical(state: Any) -> str:
    return json.dumps(state, sort_keys=True)


def _now() -> datetime:
    return datetime.now(UTC)


class DriftEngine:
    def __init__(self, reader: StateReader, store: BaselineStore, notifiers: Sequence[Notifier], *,
                 policy: Policy | None = None, principal_names: PrincipalNames | None = None,
                 group_window: float = 0.0, alerts_per_minute: int = 0,
                 subscriptions: Iterable[str] = (), tenant_id: str | None = None,
                 rechecks: RecheckQueue | None = None, recheck_delays: Sequence[float] = (15, 30, 60, 120, 300),
                 clock: Callable[[], datetime] = _now, sleep: Callable[[float], None] = time.sleep,
                 max_attempts: int = 6) -> None:
        self.reader = reader
        self.store = store
        self.notifiers = list(notifiers)
        self.policy = policy or Policy()
        self.principal_names = principal_names
        self.group_window = group_window
        self.rechecks = rechecks
        self.recheck_delays = tuple(recheck_delays)
        self.subscriptions = {s.lower() for s in subscriptions}
        self.tenant_id = tenant_id.lower() if tenant_id else None
        self.alerts_per_minute = alerts_per_minute
        self.sleep = sleep
        self.clock = clock
        self.max_attempts = max_attempts
        self.owner = uuid.uuid4().hex

    # -- entry points -------------------------------------------------------------------------

    def handle_many(self, raw_events: Iterable[Any]) -> list[Outcome]:
        """Every event of a batch, each on its own; raises RetryableFailure at the end if any must be retried."""
        outcomes = []
        for raw in raw_events:
            try:
                outcomes.append(self.handle(raw))
            except Exception as exc:  # one event's failure must not stop the batch
                event_id = raw.get("id") if isinstance(raw, dict) else None
                log.exception("event %s failed and should be delivered again: %s", event_id, exc)
                outcomes.append(Outcome(event_id, "failed", detail=f"{type(exc).__name__}: {exc}"))
        failed = [f"{o.event_id} ({o.detail})" for o in outcomes if o.status == "failed"]
        if failed:
            raise RetryableFailure(f"{len(failed)} event(s) failed: {'; '.join(failed)}")
        return outcomes

    def handle(self, raw: Any, attempt: int = 0) -> Outcome:
        """One raw event (either schema). Malformed or irrelevant events are logged and skipped.

        `attempt` counts deferred re-checks of the same event (0 for a delivery by Event Grid).
        """
        try:
            event = parse_event(raw)
        except MalformedEvent as exc:
            log.warning("malformed event skipped: %s", exc)
            return Outcome(raw.get("id") if isinstance(raw, dict) else None, "malformed", detail=str(exc))
        refusal = self._refusal(event)
        if refusal:
            log.warning("refused event %s: %s", event.id, refusal)
            return Outcome(event.id, "refused", detail=refusal)
        plan = routing.plan(event)
        if plan is None:
            done = subscription.handle(event, reader=self.reader, store=self.store, notifiers=self.notifiers,
                                       policy=self.policy, clock=self.clock, owner=self.owner)
            return Outcome(event.id, done.status, done.records, done.alerts_sent, done.reads) if done else Outcome(
                event.id, "ignored")
        if plan.deletes_server:
            return self._close(plan)
        return self._recheck(plan, attempt=attempt)

    def handle_many_rechecks(self, payloads: Iterable[dict[str, Any]]) -> list[Outcome]:
        """Deferred re-checks delivered by the queue trigger (the Functions host deletes them on success)."""
        return [self.handle(p["event"], attempt=int(p["attempt"])) for p in payloads]

    def process_rechecks(self) -> list[Outcome]:
        """Handle the deferred re-checks that are due (the queue trigger's work, or the local pump's)."""
        if self.rechecks is None:
            return []
        outcomes = []
        for message, payload in self.rechecks.due():
            outcomes.append(self.handle(payload["event"], attempt=int(payload["attempt"])))
            self.rechecks.done(message)
        return outcomes

    def _refusal(self, event: ArmEvent) -> str | None:
        """Why an event from outside the configured subscriptions or tenant is not acted on."""
        if self.tenant_id and (event.tenant_id or "").lower() != self.tenant_id:
            return f"tenant {event.tenant_id!r} is not the configured tenant"
        if self.subscriptions:
            parts = event.subject.strip("/").split("/")
            sub = event.subscription_id or (parts[1] if len(parts) > 1 else "")
            if sub.lower() not in self.subscriptions:
                return f"subscription {sub!r} is not watched (DRIFT_WATCHED_SUBSCRIPTIONS)"
        return None

    # -- the path -----------------------------------------------------------------------------

    def reconcile(self, ref: ServerRef, read: Callable[[ServerRef, str], Any], run_id: str) -> Outcome:
        """Check every watched setting of one server found by a scan, as an event would (source `reconcile`)."""
        now = self.clock()
        event = ArmEvent(id=f"reconcile-{run_id}-{ref.name}", kind="Reconcile", subject=ref.server_id, time=now,
                         operation_name="reconcile", subscription_id=ref.server.subscription_id, tenant_id=None,
                         correlation_id=None, caller=Caller(name="reconcile (no caller known)"), client_ip=None,
                         schema="reconcile")
        return self._recheck(Plan(event, ref, detectors.all_reads()), read)

    def close_gone(self, server_id: str, run_id: str) -> Outcome:
        """A server the scan no longer finds: its baselines are closed, as a delete event would."""
        ref = mysql_server_ref(server_id)
        assert ref is not None
        event = ArmEvent(id=f"reconcile-{run_id}-{ref.name}-gone", kind="ResourceDeleteSuccess", subject=server_id,
                         time=self.clock(), operation_name="reconcile", subscription_id=ref.server.subscription_id,
                         tenant_id=None, correlation_id=None, caller=Caller(name="reconcile (no caller known)"),
                         client_ip=None, schema="reconcile")
        return self._close(Plan(event, ref, [routing.SERVER_DELETED]))

    def _recheck(self, plan: Plan, read: Callable[[ServerRef, str], Any] | None = None, attempt: int = 0) -> Outcome:
        event, ref = plan.event, plan.server
        outcome = Outcome(event.id, "unchanged")
        for _attempt in range(self.max_attempts):
            rows = self.store.load(ref.server_id)
            baselines = {s: b for s, b in rows.baselines.items() if not b.closed}
            posture = not baselines
            try:
                states = self._read(plan, detectors.all_reads() if posture else plan.reads, outcome, read)
            except ServerGone:
                log.info("event %s: server %s no longer exists; nothing to re-check", event.id, ref.server_id)
                outcome.status = "server_gone"
                return outcome
            if self._defer(plan, outcome, attempt):
                return outcome
            ctx = Context(self.policy, {s: b.state for s, b in baselines.items()} | states, ref.server_id)
            now = self.clock()
            changes = [c for setting, state in states.items()
                       if (c := self._change(event, ref, setting, state, rows.baselines.get(setting), ctx, now,
                                             posture))]
            if any(c.record for c in changes):
                who = self._who(event)
                for change in changes:
                    if change.record:
                        change.record.changed_by = who
                        if change.setting in outcome.pending_restart:
                            change.record.why += PENDING_RESTART
            grouping = self.group_window > 0 and bool(event.correlation_id)
            try:
                # Grouped alerts are leased to nobody for the window: whichever sibling wakes first sends them all.
                queued = self.store.commit(ref.server_id, ref.name, changes,
                                           owner=GROUPING if grouping else self.owner, now=now,
                                           lease=timedelta(seconds=self.group_window) if grouping else LEASE)
            except ConcurrentUpdate:
                log.info("event %s: %s changed under us; re-reading", event.id, ref.server_id)
                continue
            outcome.records = [c.record for c in changes if c.record]
            if outcome.records:
                outcome.status = "recorded"
            for record in outcome.records:
                log.info("drift %s %s on %s: %s -> %s (%s; %s)", record.verdict, record.setting, record.server,
                         record.before, record.after, record.severity, record.why)
            leftovers = [i for i in rows.outbox if i.row_key not in {q.row_key for q in queued}]
            if grouping and queued:
                self.sleep(self.group_window)  # let the other changes of the same operation land
                queued, leftovers = self._siblings(ref.server_id, event.correlation_id), []
            self._deliver(ref.server_id, queued, leftovers, outcome)
            return outcome
        raise RetryableFailure(f"event {event.id}: {ref.server_id} kept changing over {self.max_attempts} attempts")

    def _who(self, event: ArmEvent) -> str:
        """The caller as a person reads it: a service principal by its display name where Graph knows it."""
        caller = event.caller
        if caller.upn or caller.name or not caller.app_id or self.principal_names is None:
            return caller.display
        name = self.principal_names.display_name(caller.app_id)
        return f"{name} (app {caller.app_id})" if name else caller.display

    def _read(self, plan: Plan, reads: list[str], outcome: Outcome,
              read_fn: Callable[[ServerRef, str], Any] | None = None) -> dict[str, Any]:
        states: dict[str, Any] = {}
        for read in reads:
            data = (read_fn or self.reader.read)(plan.server, read)
            outcome.reads += 1
            properties = (data or {}).get("properties") or {} if isinstance(data, dict) else {}
            if read == "server":
                outcome.server_state = properties.get("state")
            for detector in detectors.watching(read):
                states[detector.setting] = detector.state(data)
                if str(properties.get("isConfigPendingRestart", "")).lower() == "true":
                    outcome.pending_restart.add(detector.setting)
        return states

    def _defer(self, plan: Plan, outcome: Outcome, attempt: int) -> bool:
        """Put the event back for later when the server is mid-update; True when it was deferred."""
        state = (outcome.server_state or "ready").lower()
        if state in IN_FLIGHT_OK or self.rechecks is None or plan.event.kind == "Reconcile":
            return False
        if attempt >= len(self.recheck_delays):
            log.warning("event %s: %s still %s after %d re-checks; judging what it shows now", plan.event.id,
                        plan.server.server_id, outcome.server_state, attempt)
            return False
        delay = self.recheck_delays[attempt]
        self.rechecks.defer(plan.event.raw, attempt + 1, delay)
        log.info("event %s: %s is %s; re-check %d in %.0fs", plan.event.id, plan.server.server_id,
                 outcome.server_state, attempt + 1, delay)
        outcome.status, outcome.detail = "deferred", f"server {outcome.server_state}; re-check {attempt + 1} queued"
        return True

    def _change(self, event: ArmEvent, ref: ServerRef, setting: str, state: Any, baseline: Baseline | None,
                ctx: Context, now: datetime, posture: bool) -> Change | None:
        detector = detectors.by_setting(setting)
        judgement: Judgement | None
        if baseline is None or baseline.closed:
            judgement, before = detector.first_seen(state, ctx), None
        elif _canonical(baseline.state) == _canonical(state):
            return None
        else:
            judgement, before = detector.judge(baseline.state, state, ctx), detector.describe(baseline.state)
        if judgement is None:
            return Change(setting, state, baseline, None)
        exemption = self.policy.exemption(
            server_id=ref.server_id, server_name=ref.name, resource_group=ref.server.resource_group or "",
            tags=ctx.other("server_tags") or {}, setting=setting, now=now)
        alert = (judgement.verdict == Verdict.WEAKENED and judgement.severity != Severity.INFO
                 and judgement.severity.rank >= Severity(self.policy.min_alert_severity).rank)
        status = AlertStatus.PENDING if alert else AlertStatus.NOT_REQUIRED
        if alert and exemption is not None:
            alert, status = False, AlertStatus.SUPPRESSED
        record = HistoryRecord(
            server_id=ref.server_id, server=ref.name, setting=setting, before=before,
            after=detector.describe(state), verdict=judgement.verdict.value, severity=judgement.severity.value,
            why=judgement.why, event_id=event.id, event_time=event.time.isoformat(), detected_at=now.isoformat(),
            operation=event.operation_name or event.kind, changed_by=event.caller.display,
            client_ip=event.client_ip, correlation_id=event.correlation_id, alert_status=status.value,
            remediation=remediation(detector.command, ref, judgement.targets), control=detector.control,
            exemption=(f"{exemption.reason} (until {exemption.expires.date().isoformat()})"
                       if exemption is not None else None),
        )
        return Change(setting, state, baseline, record, (POSTURE if posture else setting) if alert else None)

    def _close(self, plan: Plan) -> Outcome:
        event, ref = plan.event, plan.server
        now = self.clock()
        record = HistoryRecord(
            server_id=ref.server_id, server=ref.name, setting="server", before="exists", after="deleted",
            verdict=Verdict.CHANGED.value, severity=Severity.INFO.value,
            why="server deleted; its baselines are closed", event_id=event.id, event_time=event.time.isoformat(),
            detected_at=now.isoformat(), operation=event.operation_name or event.kind,
            changed_by=event.caller.display, client_ip=event.client_ip, correlation_id=event.correlation_id,
            alert_status=AlertStatus.NOT_REQUIRED.value,
        )
        for _attempt in range(self.max_attempts):
            try:
                closed = self.store.close_server(ref.server_id, ref.name, record, now=now)
            except ConcurrentUpdate:
                continue
            return Outcome(event.id, "recorded" if closed else "unchanged", [record] if closed else [])
        raise RetryableFailure(f"event {event.id}: could not close {ref.server_id}")

    # -- alerts -------------------------------------------------------------------------------

    def _siblings(self, server_id: str, correlation_id: str | None) -> list[OutboxItem]:
        """Claim, in one transaction, every pending alert of this server from the same operation.

        Siblings that wake a moment later find the rows taken and send nothing.
        """
        for _attempt in range(self.max_attempts):
            now = self.clock()
            group = [i for i in self.store.load(server_id).outbox
                     if i.correlation_id == correlation_id and not i.digest
                     and (i.lease_owner == GROUPING or i.claimable(self.owner, now))]
            if not group or self.store.claim_all(server_id, group, owner=self.owner, now=now):
                return group
        return []

    def _deliver(self, server_id: str, queued: list[OutboxItem], leftovers: list[OutboxItem],
                 outcome: Outcome) -> None:
        now = self.clock()
        items = list(queued)
        for item in leftovers:
            if not item.digest and item.claimable(self.owner, now) and self.store.claim(server_id, item,
                                                                                        owner=self.owner, now=now):
                items.append(item)
        groups: dict[str, list[OutboxItem]] = {}
        for item in items:
            groups.setdefault(item.correlation_id or item.row_key, []).append(item)
        errors = []
        for members in groups.values():
            error = self._deliver_group(server_id, members)
            if error:
                errors.append(error)
                continue
            outcome.alerts_sent += 1
            sent = {(r.event_id, r.setting) for m in members for r in m.alert.records}
            for record in outcome.records:
                if (record.event_id, record.setting) in sent:
                    record.alert_status = AlertStatus.SENT.value
        if errors:
            raise RetryableFailure("alert delivery failed: " + "; ".join(errors))

    def _deliver_group(self, server_id: str, members: list[OutboxItem], kind: str | None = None) -> str | None:
        """Send claimed alerts as one card; None when delivered (or deferred to the digest), else the error."""
        if len(members) == 1 and kind is None:
            alert = members[0].alert
        else:
            records = [r for m in members for r in m.alert.records]
            alert = Alert(kind or "group", records, id=members[0].row_key)
        if kind != "digest" and self.alerts_per_minute and not self.store.take_slot(
                "alerts", self.clock(), self.alerts_per_minute):
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

    # -- the sweep ----------------------------------------------------------------------------

    def sweep(self) -> dict[str, int]:
        """Deliver what events could not: failed or orphaned alerts, and the digest of rate-limited ones.

        Run by a timer. Raises RetryableFailure when some alert still could not be sent.
        """
        now = self.clock()
        pending = self.store.pending_alerts()
        claimed = [i for i in pending if i.claimable(self.owner, now)
                   and self.store.claim("", i, owner=self.owner, now=now)]
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
