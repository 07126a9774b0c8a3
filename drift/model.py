"""Plain values shared by detectors, store and notifiers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    WEAKENED = "weakened"
    STRENGTHENED = "strengthened"
    CHANGED = "changed"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


def worst(severities: list[Severity]) -> Severity:
    return max(severities, key=lambda s: s.rank, default=Severity.INFO)


class AlertStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SUPPRESSED = "suppressed"  # an exemption covers it: recorded, not alerted
    NOT_REQUIRED = "none"


@dataclass(frozen=True)
class Judgement:
    """A detector's answer about one setting: how the change moved security, and why."""

    verdict: Verdict
    severity: Severity
    why: str
    targets: tuple[str, ...] = ()  # what the undo command acts on, e.g. firewall rule names


@dataclass
class HistoryRecord:
    """One detected change, as the on-call engineer reads it (`mysql-drift history --format json`)."""

    server_id: str
    server: str
    setting: str
    before: str | None
    after: str | None
    verdict: str
    severity: str
    why: str
    event_id: str
    event_time: str | None
    detected_at: str
    operation: str
    changed_by: str
    client_ip: str | None
    correlation_id: str | None
    alert_status: str
    remediation: str | None = None
    control: str | None = None
    exemption: str | None = None
    acknowledged: str | None = None  # who reviewed it, when and why (`mysql-drift ack`)
    alert_key: str | None = None  # the key of the alert that carries it (the card's "Alert id")
    finding_id: str | None = None  # the finding this row opened, updated or resolved (`drift.findings`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryRecord:
        """From a stored row: Table Storage drops null properties, so a missing one is None."""
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def detected(self) -> datetime:
        return datetime.fromisoformat(self.detected_at)


def severity_counts(alert: Alert) -> list[tuple[str, int]]:
    """How many records of each severity, worst first (a digest's summary)."""
    counts: dict[str, int] = {}
    for record in alert.records:
        counts[record.severity] = counts.get(record.severity, 0) + 1
    return [(s.value, counts[s.value]) for s in sorted(Severity, key=lambda s: -s.rank) if s.value in counts]


def alert_key(alert_id: str) -> str:
    import hashlib

    return hashlib.sha256(alert_id.encode()).hexdigest()[:16]


@dataclass
class Alert:
    """What one notification carries: one change, or every gap a new server's posture check found."""

    kind: str  # "change", "posture" (a new server's gaps), "group" (one correlation id), "digest" (rate limited),
    #            "resolved" (a finding's weakening was undone: `records` holds the restoring row)
    records: list[HistoryRecord]
    id: str = ""  # the idempotency key: the outbox row it was recorded with
    resolves: str | None = None  # kind "resolved": the key of the first alert of the finding it closes

    @property
    def key(self) -> str:
        """A short, stable form of `id` for people and subscribers: the same alert always has the same key."""
        return alert_key(self.id) if self.id else "-"

    @property
    def server(self) -> str:
        servers = sorted({r.server for r in self.records})
        return servers[0] if len(servers) == 1 else f"{len(servers)} servers"

    @property
    def server_id(self) -> str:
        return self.records[0].server_id

    @property
    def severity(self) -> Severity:
        return worst([Severity(r.severity) for r in self.records])
