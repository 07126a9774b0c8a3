"""From a state and its baseline to the change to commit: the verdict, whether it alerts, its history row.

Shared by the per-server event path (`drift.engine`) and the subscription-level settings
(`drift.subscription`), so that both judge, exempt and record a change the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from detectors import Context, Detector
from drift.events import ArmEvent
from drift.model import AlertStatus, HistoryRecord, Judgement, Severity, Verdict
from drift.policy import Policy
from drift.store import Baseline, Change


def canonical(state: Any) -> str:
    return json.dumps(state, sort_keys=True)


def judged_change(detector: Detector, state: Any, baseline: Baseline | None, ctx: Context, *, event: ArmEvent,
                  now: datetime, policy: Policy, server_id: str, server: str, resource_group: str = "",
                  tags: dict[str, str] | None = None, undo: Callable[[Judgement], str],
                  alert_group: str) -> Change | None:
    """The change a state makes against its baseline (None when it makes none). A change with a verdict
    carries its history row; one that alerts (a weakening at or above the policy's minimum severity,
    not exempted) goes to `alert_group`."""
    judgement: Judgement | None
    if baseline is None or baseline.closed:
        judgement, before = detector.first_seen(state, ctx), None
    elif canonical(baseline.state) == canonical(state):
        return None
    else:
        judgement, before = detector.judge(baseline.state, state, ctx), detector.describe(baseline.state)
    if judgement is None:
        return Change(detector.setting, state, baseline, None)
    exemption = policy.exemption(server_id=server_id, server_name=server, resource_group=resource_group,
                                 tags=tags or {}, setting=detector.setting, now=now)
    alert = (judgement.verdict == Verdict.WEAKENED and judgement.severity != Severity.INFO
             and judgement.severity.rank >= Severity(policy.min_alert_severity).rank)
    status = AlertStatus.PENDING if alert else AlertStatus.NOT_REQUIRED
    if alert and exemption is not None:
        alert, status = False, AlertStatus.SUPPRESSED
    record = HistoryRecord(
        server_id=server_id, server=server, setting=detector.setting, before=before,
        after=detector.describe(state), verdict=judgement.verdict.value, severity=judgement.severity.value,
        why=judgement.why, event_id=event.id, event_time=event.time.isoformat(), detected_at=now.isoformat(),
        operation=event.operation_name or event.kind, changed_by=event.caller.display,
        client_ip=event.client_ip, correlation_id=event.correlation_id, alert_status=status.value,
        remediation=undo(judgement), control=detector.control,
        exemption=(f"{exemption.reason} (until {exemption.expires.date().isoformat()})"
                   if exemption is not None else None),
    )
    return Change(detector.setting, state, baseline, record, alert_group if alert else None)
