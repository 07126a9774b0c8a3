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
a re-check. A verdict that weakens because of another setting (public access on while an
allow-all rule exists) reads that setting fresh from ARM before it is committed: the baseline of
the other setting may be behind an event still in flight.

Delivery of the alerts is `drift.outbox`'s work; every invocation there has its own lease owner.

Failures that a retry can fix (ARM or storage unavailable, an alert not delivered) raise, so the
Function invocation fails and Event Grid delivers the event again; the retry finds the alert
still in the outbox and does not record the change twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import detectors
from detectors import Context
from drift import lifecycle, routing, subscription
from drift.armid import ServerRef, mysql_server_ref
from drift.errors import RetryableFailure
from drift.events import ArmEvent, Caller, MalformedEvent, parse_event
from drift.findings import FindingWrite, Slot
from drift.judging import canonical, judged_change
from drift.model import AlertStatus, HistoryRecord, Severity, Verdict
from drift.outbox import GROUPING, AlertOutbox, Notifier, new_owner
from drift.policy import Policy
from drift.principals import PrincipalNames
from drift.readers import ServerGone, deadline, unsettled
from drift.recent import RecentReads
from drift.rechecks import RecheckQueue
from drift.routing import Plan
from drift.store import POSTURE, Baseline, BaselineStore, Change, ConcurrentUpdate
from drift.undo import remediation

log = logging.getLogger(__name__)


class StateReader(Protocol):
    def read(self, ref: Any, read: str) -> Any: ...




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
    in_flight: str | None = None  # a sub-resource still provisioning, e.g. "Defender setting Updating"


LEASE = timedelta(seconds=60)


def _now() -> datetime:
    return datetime.now(UTC)


class DriftEngine:
    def __init__(self, reader: StateReader, store: BaselineStore, notifiers: Sequence[Notifier], *,
                 policy: Policy | None = None, principal_names: PrincipalNames | None = None,
                 group_window: float = 0.0, alerts_per_minute: int = 0,
                 subscriptions: Iterable[str] = (), tenant_id: str | None = None,
                 rechecks: RecheckQueue | None = None, recheck_delays: Sequence[float] = (15, 30, 60, 120, 300),
                 clock: Callable[[], datetime] = _now, max_attempts: int = 6) -> None:
        self.reader = reader
        self.store = store
        self.outbox = AlertOutbox(store, notifiers, alerts_per_minute=alerts_per_minute, clock=clock,
                                  max_attempts=max_attempts)
        self.policy = policy or Policy()
        self.principal_names = principal_names
        self.group_window = group_window
        self.rechecks = rechecks
        self.recheck_delays = tuple(recheck_delays)
        self.subscriptions = {s.lower() for s in subscriptions}
        self.tenant_id = tenant_id.lower() if tenant_id else None
        self.clock = clock
        self.max_attempts = max_attempts
        self.arm_budget = 15.0
        self.recent: RecentReads | None = RecentReads()

    @property
    def notifiers(self) -> list[Notifier]:
        return self.outbox.notifiers

    @notifiers.setter
    def notifiers(self, value: Sequence[Notifier]) -> None:
        self.outbox.notifiers = list(value)

    def sweep(self) -> dict[str, int]:
        """The alert sweep (a timer): see `AlertOutbox.sweep`."""
        return self.outbox.sweep(new_owner())

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

        `attempt` counts deferred re-checks of the same event (0 for a delivery by Event Grid). ARM's
        waits (429 `Retry-After`) stay inside `arm_budget` seconds: past it the event fails retryable
        rather than hold Event Grid's delivery past its 30 s.
        """
        with deadline(self.arm_budget):
            return self._handle(raw, attempt)

    def _handle(self, raw: Any, attempt: int) -> Outcome:
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
            done = subscription.handle(event, reader=self.reader, store=self.store, outbox=self.outbox,
                                       policy=self.policy, clock=self.clock, owner=new_owner())
            return Outcome(event.id, done.status, done.records, done.alerts_sent, done.reads) if done else Outcome(
                event.id, "ignored")
        if plan.deletes_server:
            return self._close(plan)
        return self._recheck(plan, attempt=attempt)

    def handle_queued(self, payload: dict[str, Any]) -> Outcome:
        """One message of the re-check queue: a deferred re-check, or a group of alerts whose window passed."""
        group = payload.get("send_group")
        if isinstance(group, dict):
            sent = self.outbox.send_group(str(group["server_id"]), str(group["correlation_id"]), new_owner())
            return Outcome(None, "recorded" if sent else "unchanged", alerts_sent=sent)
        return self.handle(payload["event"], attempt=int(payload["attempt"]))

    def handle_many_rechecks(self, payloads: Iterable[dict[str, Any]]) -> list[Outcome]:
        """Queue messages delivered by the queue trigger (the Functions host deletes them on success)."""
        return [self.handle_queued(p) for p in payloads]

    def process_rechecks(self) -> list[Outcome]:
        """Handle the queue messages that are due (the queue trigger's work, or the local pump's)."""
        if self.rechecks is None:
            return []
        outcomes = []
        for message, payload in self.rechecks.due():
            outcomes.append(self.handle_queued(payload))
            self.rechecks.done(message)
        return outcomes

    def _refusal(self, event: ArmEvent) -> str | None:
        """Why an event from outside the configured subscriptions or tenant is not acted on."""
        if self.tenant_id and event.tenant_id is None and not self.subscriptions:
            return "the event names no tenant and no watched subscription vouches for it"
        if self.tenant_id and event.tenant_id is not None and event.tenant_id.lower() != self.tenant_id:
            return f"tenant {event.tenant_id!r} is not the configured tenant"
        if self.subscriptions:
            # The subject decides: it names the resource that would be read. `data.subscriptionId` is only a claim.
            parts = event.subject.strip("/").split("/")
            sub = parts[1] if len(parts) > 1 and parts[0].lower() == "subscriptions" else ""
            if sub.lower() not in self.subscriptions:
                return f"subscription {sub[:100]!r} of the subject is not watched (DRIFT_WATCHED_SUBSCRIPTIONS)"
            if event.subscription_id and event.subscription_id.lower() != sub.lower():
                log.warning("event %s: data.subscriptionId %r differs from the subject's %r; the subject decides",
                            event.id, event.subscription_id[:100], sub)
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
        return self._close(Plan(event, ref, [routing.SERVER_DELETED]), confirm=False)

    def _recheck(self, plan: Plan, read: Callable[[ServerRef, str], Any] | None = None, attempt: int = 0) -> Outcome:
        event, ref = plan.event, plan.server
        outcome = Outcome(event.id, "unchanged")
        owner = new_owner()
        for _attempt in range(self.max_attempts):
            rows = self.store.load(ref.server_id)
            baselines = {s: b for s, b in rows.baselines.items() if not b.closed}
            posture = not baselines
            try:
                states = self._read(plan, detectors.all_reads() if posture else plan.reads, outcome, read,
                                    rows.baselines)
                if self._defer(plan, outcome, attempt):
                    return outcome
                changes, guards, findings = self._judge(plan, states, rows.baselines, outcome, read, posture=posture,
                                                        open_findings=rows.findings)
            except ServerGone:
                log.info("event %s: server %s no longer exists; nothing to re-check", event.id, ref.server_id)
                outcome.status = "server_gone"
                return outcome
            grouping = self.group_window > 0 and bool(event.correlation_id)
            try:
                # Grouped alerts are leased to nobody for the window: a delayed message or the sweep sends them.
                queued = self.store.commit(ref.server_id, ref.name, changes, guards=guards,
                                           owner=GROUPING if grouping else owner, now=self.clock(),
                                           lease=timedelta(seconds=self.group_window) if grouping else LEASE,
                                           findings=findings)
            except ConcurrentUpdate:
                log.info("event %s: %s changed under us; re-reading", event.id, ref.server_id)
                continue
            outcome.records = [c.record for c in changes if c.record]
            if outcome.records:
                outcome.status = "recorded"
            elif any(b.event_id == event.id for b in baselines.values()):
                # Delivered again after its changes were committed: its index rows may not have been.
                self.store.reindex(ref.server_id, event.id, rows.outbox, now=self.clock(),
                                   findings=list(rows.findings.values()))
            for record in outcome.records:
                log.info("drift %s %s on %s: %s -> %s (%s; %s)", record.verdict, record.setting, record.server,
                         record.before, record.after, record.severity, record.why)
            if grouping and queued:
                if self.rechecks is not None:
                    self.rechecks.defer_group(ref.server_id, str(event.correlation_id), self.group_window)
                queued = []
            outcome.alerts_sent = self.outbox.deliver_committed(
                ref.server_id, queued, [i for i in rows.outbox if i.row_key not in {q.row_key for q in queued}], owner)
            return outcome
        raise RetryableFailure(f"event {event.id}: {ref.server_id} kept changing over {self.max_attempts} attempts")

    def _judge(self, plan: Plan, states: dict[str, Any], baselines: dict[str, Baseline], outcome: Outcome,
               read: Callable[[ServerRef, str], Any] | None, *, posture: bool,
               open_findings: dict[str, Slot]) -> tuple[list[Change], list[Baseline], list[FindingWrite]]:
        """The changes of the settings just read, each judged in the context of the server's other settings,
        the baselines of the other settings those verdicts rest on (the commit is conditional on them),
        and what the changes do to the server's findings (`drift.lifecycle`).

        The context comes from the baselines, which may be behind ARM while another event of the same
        server is in flight (public access and an allow-all rule switched at the same moment). Two rules
        keep the verdicts true:
        - the commit is conditional on the ETags of the context rows a verdict consulted, so of two
          racing events the second to commit is judged again on the first one's state (a context that
          only softened a verdict is then corrected by the later commit, at no extra read);
        - a weakening that the context made *worse* than it is on its own (Entra-only auth "without an
          admin") is judged again with that context read fresh from ARM before it is committed, so no
          card rests on a state that was already gone.
        """
        event, ref = plan.event, plan.server
        known = {s: b.state for s, b in baselines.items() if not b.closed} | states
        now = self.clock()
        changes, consulted, worsened = self._changes(event, ref, states, baselines, known, now, posture)
        stale = sorted(worsened - set(states)) if not posture else []
        if stale:
            reads = detectors.reads_of(detectors.by_setting(s) for s in stale)
            log.info("event %s: a weakening rests on %s; reading %s fresh", event.id, ", ".join(stale),
                     ", ".join(reads))
            fresh = self._read(plan, reads, Outcome(event.id, "context"), read)
            outcome.reads += len(reads)
            known = known | fresh
            changes, consulted, _ = self._changes(event, ref, states, baselines, known, now, posture)
        if any(c.record for c in changes):
            who = self._who(event)
            for change in changes:
                if change.record:
                    change.record.changed_by = who
                    if change.setting in outcome.pending_restart:
                        change.record.why += PENDING_RESTART
        guards = [baselines[s] for s in sorted(consulted - set(states))
                  if s in baselines and baselines[s].etag and not baselines[s].closed]
        findings = lifecycle.plan(changes, open_findings, context=lambda: Context(self.policy, known, ref.server_id),
                                  via=lifecycle.via(event), now=now, resolved_cards=self.policy.resolved_cards)
        return changes, guards, findings

    def _changes(self, event: ArmEvent, ref: ServerRef, states: dict[str, Any], baselines: dict[str, Baseline],
                 known: dict[str, Any], now: datetime, posture: bool) -> tuple[list[Change], set[str], set[str]]:
        """Every change among `states`; the other settings the recorded verdicts consulted; and those
        that made a weakening worse than it is without them."""
        changes, consulted, worsened = [], set(), set()
        for setting, state in states.items():
            change = self._change(event, ref, setting, state, baselines.get(setting),
                                  Context(self.policy, known, ref.server_id), now, posture)
            if change is None:
                continue
            changes.append(change)
            if change.record is None:
                continue
            # What the new state's own findings depend on (the old state's were judged when it came).
            detector = detectors.by_setting(setting)
            probe = Context(self.policy, known, ref.server_id)
            detector.issues(state, probe)
            consulted |= probe.consulted
            if change.record.verdict == Verdict.WEAKENED.value and probe.consulted:
                alone = Context(self.policy, {k: v for k, v in known.items() if k not in probe.consulted},
                                ref.server_id)
                baseline = baselines.get(setting)
                without = (detector.first_seen(state, alone) if baseline is None or baseline.closed
                           else detector.judge(baseline.state, state, alone))
                if without is None or without.verdict != Verdict.WEAKENED or (
                        without.severity.rank < Severity(change.record.severity).rank):
                    worsened |= probe.consulted
        return changes, consulted, worsened

    def _who(self, event: ArmEvent) -> str:
        """The caller as a person reads it: a service principal by its display name where Graph knows it."""
        caller = event.caller
        if caller.upn or caller.name or not caller.app_id or self.principal_names is None:
            return caller.display
        name = self.principal_names.display_name(caller.app_id)
        return f"{name} (app {caller.app_id})" if name else caller.display

    def _read(self, plan: Plan, reads: list[str], outcome: Outcome,
              read_fn: Callable[[ServerRef, str], Any] | None = None,
              baselines: dict[str, Baseline] | None = None) -> dict[str, Any]:
        """The states the reads carry. With `baselines` (the event's own reads), a read this process began
        after the event's time, and after those baselines were committed, covers the event (`RecentReads`)."""
        states: dict[str, Any] = {}
        for read in reads:
            data = self._recent(plan, read, baselines) if read_fn is None and baselines is not None else None
            if data is None:
                started = self.clock()
                data = (read_fn or self.reader.read)(plan.server, read)
                outcome.reads += 1
                if read_fn is None and self.recent is not None:
                    self.recent.remember(plan.server.server_id, read, started, data)
            properties = (data or {}).get("properties") or {} if isinstance(data, dict) else {}
            if read == "server":
                outcome.server_state = properties.get("state")
            elif (provisioning := unsettled(read, data)) is not None:
                outcome.in_flight = provisioning
            for detector in detectors.watching(read):
                states[detector.setting] = detector.state(data)
                if str(properties.get("isConfigPendingRestart", "")).lower() == "true":
                    outcome.pending_restart.add(detector.setting)
        return states

    def _recent(self, plan: Plan, read: str, baselines: dict[str, Baseline]) -> Any | None:
        if self.recent is None or plan.event.kind == "Reconcile":
            return None
        watching = [(d, b) for d in detectors.watching(read) if (b := baselines.get(d.setting)) is not None]
        committed = [datetime.fromisoformat(b.observed_at) for _, b in watching if b.observed_at]

        def shows_baseline(data: Any) -> bool:
            return all(canonical(d.state(data)) == canonical(b.state) for d, b in watching)

        return self.recent.covering(plan.server.server_id, read, event_time=plan.event.time,
                                    baseline_at=max(committed, default=None), now=self.clock(),
                                    shows_baseline=shows_baseline)

    def _defer(self, plan: Plan, outcome: Outcome, attempt: int) -> bool:
        """Put the event back for later when the server or a sub-resource is mid-update; True when deferred."""
        state = (outcome.server_state or "ready").lower()
        busy = outcome.server_state if state not in IN_FLIGHT_OK else outcome.in_flight
        if busy is None or self.rechecks is None or plan.event.kind == "Reconcile":
            return False
        if attempt >= len(self.recheck_delays):
            log.warning("event %s: %s still %s after %d re-checks; judging what it shows now", plan.event.id,
                        plan.server.server_id, busy, attempt)
            return False
        delay = self.recheck_delays[attempt]
        self.rechecks.defer(plan.event.raw, attempt + 1, delay)
        log.info("event %s: %s is %s; re-check %d in %.0fs", plan.event.id, plan.server.server_id,
                 busy, attempt + 1, delay)
        what = f"server {busy}" if busy == outcome.server_state else busy
        outcome.status, outcome.detail = "deferred", f"{what}; re-check {attempt + 1} queued"
        return True

    def _change(self, event: ArmEvent, ref: ServerRef, setting: str, state: Any, baseline: Baseline | None,
                ctx: Context, now: datetime, posture: bool) -> Change | None:
        detector = detectors.by_setting(setting)
        return judged_change(detector, state, baseline, ctx, event=event, now=now, policy=self.policy,
                             server_id=ref.server_id, server=ref.name, resource_group=ref.server.resource_group or "",
                             tags=ctx.others.get("server_tags"),
                             undo=lambda targets: remediation(detector.command, ref, targets),
                             alert_group=POSTURE if posture else setting)

    def _close(self, plan: Plan, *, confirm: bool = True) -> Outcome:
        """Close a deleted server's baselines, once ARM confirms it is gone (`confirm`).

        A delete event can come again after the server was recreated under the same name; closing
        then would make the new server's next weakening look like a new server's posture check.
        """
        event, ref = plan.event, plan.server
        if confirm:
            if not any(not b.closed for b in self.store.load(ref.server_id).baselines.values()):
                return Outcome(event.id, "unchanged", detail="nothing open to close")
            try:
                self.reader.read(ref, "server")
            except ServerGone:
                pass
            else:
                log.warning("event %s: delete of %s, but ARM still has the server (recreated?); baselines kept",
                            event.id, ref.server_id)
                return Outcome(event.id, "unchanged", reads=1, detail="server exists: not closed")
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
                closed = self.store.close_server(ref.server_id, ref.name, record, now=now, via=lifecycle.via(event))
            except ConcurrentUpdate:
                continue
            return Outcome(event.id, "recorded" if closed else "unchanged", [record] if closed else [])
        raise RetryableFailure(f"event {event.id}: could not close {ref.server_id}")
