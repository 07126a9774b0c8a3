"""What every rendering of an alert shows the same way: the order of its records, the subscription, the
console's page for it and a digest's summary by setting. The Teams card (`notifiers.teams`) and the
mail (`notifiers.graph`) both draw from here, so that the two never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from drift.model import Alert, HistoryRecord, Severity


def rank(severity: str) -> int:
    try:
        return Severity(severity).rank
    except ValueError:
        return -1


def worst_first(records: Iterable[HistoryRecord]) -> list[HistoryRecord]:
    """Records by severity, worst first; records of one severity keep their order (oldest first)."""
    return sorted(records, key=lambda r: -rank(r.severity))


def subscription_id(server_id: str) -> str:
    parts = server_id.strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[0].lower() == "subscriptions" else ""


def subscription(server_id: str, names: Mapping[str, str] | None = None) -> str:
    """The subscription as people know it: its name when configured (`DRIFT_SUBSCRIPTION_NAMES`), else its id."""
    sub = subscription_id(server_id)
    named = {k.lower(): v for k, v in (names or {}).items()}
    return named.get(sub.lower()) or sub or "unknown"


def subscriptions(alert: Alert, names: Mapping[str, str] | None = None) -> str:
    shown = sorted({subscription(r.server_id, names) for r in alert.records})
    return ", ".join(shown) if len(shown) <= 3 else f"{len(shown)} subscriptions"


def review_url(console_url: str | None, alert: Alert) -> str | None:
    """The console's page for the alert (`{console}/alert/<alert key>`), or None without a console. A
    "resolved" alert opens the finding through the alert that opened it (`Alert.resolves`)."""
    key = alert.resolves if alert.kind == "resolved" and alert.resolves else alert.key if alert.id else None
    if not console_url or not key:
        return None
    return f"{console_url.rstrip('/')}/alert/{quote(key, safe='')}"


@dataclass(frozen=True)
class SettingSummary:
    """How many records of one setting a digest holds, by severity (worst first), on how many servers."""

    setting: str
    counts: tuple[tuple[str, int], ...]
    servers: int

    @property
    def worst(self) -> int:
        return rank(self.counts[0][0]) if self.counts else -1

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)

    def text(self) -> str:
        """`firewall_rules: 3 medium, 12 low on 9 servers`."""
        counts = ", ".join(f"{n} {s}" for s, n in self.counts)
        return f"{self.setting}: {counts} on {self.servers} server{'s' if self.servers != 1 else ''}"


def by_setting(records: Iterable[HistoryRecord]) -> list[SettingSummary]:
    """One summary per setting: the worst setting first, then the most frequent, then by name."""
    grouped: dict[str, list[HistoryRecord]] = {}
    for record in records:
        grouped.setdefault(record.setting, []).append(record)
    out = []
    for setting, rows in grouped.items():
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.severity] = counts.get(row.severity, 0) + 1
        ordered = tuple(sorted(counts.items(), key=lambda item: -rank(item[0])))
        out.append(SettingSummary(setting, ordered, len({r.server_id.lower() for r in rows})))
    return sorted(out, key=lambda s: (-s.worst, -s.total, s.setting))
