"""What the console's pages show, read from the table: the fleet, one server, one finding.

The fleet costs two key-range reads of the `~index` partition whatever the number of servers:
the `server|` markers (every watched server with baselines) and the open findings
(`FindingStore.open_findings`). A server page reads its own partition only: its baselines,
its history (newest first) and its findings.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import detectors
from drift.keys import decode_key
from drift.model import HistoryRecord, Severity

if TYPE_CHECKING:
    from drift.findings import Finding, FindingStore
    from drift.store import BaselineStore

SEVERITIES = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]  # worst first
RANK = {s.value: s.rank for s in Severity}
MAX_FILTER = 200


class BadRequest(ValueError):
    """A query parameter the console cannot use (a 400 with one line)."""


def server_settings() -> list[str]:
    """The judged settings of a server, in the detectors' own order (the fleet's columns)."""
    return [d.setting for d in detectors.all_detectors() if d.scope == "server" and d.control != "-"]


def worst_of(severities: list[str]) -> str | None:
    return max(severities, key=lambda s: RANK.get(s, -1), default=None)


@dataclass
class Filters:
    """`?severity=high&setting=tls_version&who=casey&since=24h&server=orders`: all optional.

    `severity` means "this or worse"; `who` and `server` match a part of the name, in any case.
    """

    severity: str | None = None
    setting: str | None = None
    who: str | None = None
    since: datetime | None = None
    server: str | None = None
    alert: str | None = None
    raw: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Mapping[str, str], now: Callable[[], datetime] | None = None) -> Filters:
        from drift.cli import parse_since

        raw = {k: v.strip() for k, v in params.items()
               if k in ("severity", "setting", "who", "since", "server", "alert") and v and v.strip()}
        for key, value in raw.items():
            if len(value) > MAX_FILTER:
                raise BadRequest(f"'{key}' is {len(value)} characters; at most {MAX_FILTER}")
        severity = raw.get("severity", "").lower() or None
        if severity and severity not in RANK:
            raise BadRequest(f"severity must be one of {', '.join(SEVERITIES)}")
        setting = raw.get("setting") or None
        if setting and setting not in {d.setting for d in detectors.all_detectors()} | {"server"}:
            raise BadRequest(f"unknown setting {setting!r}")
        since = None
        if raw.get("since"):
            try:
                since = parse_since(raw["since"], now() if now else None)
            except argparse.ArgumentTypeError:
                raise BadRequest("since takes 30m, 24h, 7d or an ISO date") from None
        return cls(severity=severity, setting=setting, who=raw.get("who") or None, since=since,
                   server=raw.get("server") or None, alert=raw.get("alert") or None, raw=raw)

    @property
    def active(self) -> bool:
        return bool(self.raw)

    def _common(self, severity: str, setting: str, who: str | None, when: str | None) -> bool:
        if self.severity and RANK.get(severity, -1) < RANK[self.severity]:
            return False
        if self.setting and setting != self.setting:
            return False
        if self.who and self.who.casefold() not in (who or "").casefold():
            return False
        return not (self.since and (not when or datetime.fromisoformat(when) < self.since))

    def finding(self, f: Finding) -> bool:
        if self.server and self.server.casefold() not in f.server.casefold():
            return False
        if self.alert and self.alert not in f.alert_keys:
            return False
        return self._common(f.severity, f.setting, f.changed_by, f.updated_at)

    def record(self, r: HistoryRecord) -> bool:
        if self.alert and self.alert not in (r.alert_key, r.event_id):
            return False
        return self._common(r.severity, r.setting, r.changed_by, r.detected_at)


def server_name(server_id: str) -> str:
    return server_id.rstrip("/").rsplit("/", 1)[-1]


def resource_group(server_id: str) -> str:
    parts = server_id.strip("/").split("/")
    return parts[3] if len(parts) > 3 and parts[2].lower() == "resourcegroups" else ""


def subscription(server_id: str) -> str:
    parts = server_id.strip("/").split("/")
    return parts[1] if len(parts) > 1 else ""


@dataclass
class FleetRow:
    server_id: str
    server: str
    cells: dict[str, list[Finding]] = field(default_factory=dict)  # setting -> its open findings

    @property
    def worst(self) -> str | None:
        return worst_of([f.severity for found in self.cells.values() for f in found])

    def cell(self, setting: str) -> str | None:
        return worst_of([f.severity for f in self.cells.get(setting, [])])


@dataclass
class Fleet:
    rows: list[FleetRow]
    settings: list[str]
    findings: list[Finding]
    servers_total: int
    subscription_findings: list[Finding] = field(default_factory=list)  # subscription-level settings

    def summary(self) -> list[tuple[str, int]]:
        """Servers shown by their worst open severity, worst first, then those with none open."""
        counts = {s: 0 for s in [*SEVERITIES, "none"]}
        for row in self.rows:
            counts[row.worst or "none"] += 1
        return list(counts.items())


# What the grid reads of each open-finding marker: its key names the server's partition, the setting and
# the finding (`drift.findings.open_marker`); `who` and `since` need two more columns. Every property
# read costs the SDK time to deserialize: the whole markers of 4,000 findings take five times longer.
GRID_COLUMNS = ["RowKey", "severity", "landed"]
FILTER_COLUMNS = ["changed_by", "updated_at"]


def open_findings(store: BaselineStore, findings: FindingStore, *, full: bool,
                  who_or_since: bool = False) -> list[Finding]:
    """The fleet's open findings. For the grid (`full` False): the servers' open-finding markers with
    only the columns it needs, and those of subscription-level settings (`~` partitions: a few) whole;
    while a marker has not landed yet, the full read of `FindingStore.open_findings`, which checks it
    against its row and lands it (a landed marker is trusted there too, so both give the same findings)."""
    if full:
        return findings.open_findings()
    from drift.findings import OPEN_MARK, Finding, from_entity
    from drift.index import INDEX

    def markers(lo: str, hi: str, select: list[str] | None) -> list[Any]:
        store._trip()
        return list(store._table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                                                parameters={"pk": INDEX, "lo": lo, "hi": hi}, select=select))

    servers = markers(OPEN_MARK, OPEN_MARK + "~", GRID_COLUMNS + (FILTER_COLUMNS if who_or_since else []))
    others = markers(OPEN_MARK + "~", OPEN_MARK[:-1] + chr(ord(OPEN_MARK[-1]) + 1), None)
    if any(not m.get("landed") for m in [*servers, *others]):
        return findings.open_findings()
    found = [f for f in map(from_entity, others) if f.open]
    for m in servers:  # a landed marker is an open finding's (a close drops it, or leaves it not landed)
        partition, setting, finding_id = m["RowKey"].removeprefix(OPEN_MARK).rsplit("|", 2)
        server_id = decode_key(partition)
        found.append(Finding(
            id=finding_id, server_id=server_id, server=server_name(server_id), setting=setting, status="open",
            severity=m.get("severity") or "info", why="", opened_at="", updated_at=m.get("updated_at") or "",
            before=None, after=None, changed_by=m.get("changed_by") or "", client_ip=None, event_id="",
            correlation_id=None))
    return found


def server_scoped(setting: str) -> bool:
    try:
        return detectors.by_setting(setting).scope == "server"
    except KeyError:
        return True


def fleet(store: BaselineStore, findings: FindingStore, filters: Filters, *, full: bool = False) -> Fleet:
    """Every watched server and its open findings, worst servers first; filtered as asked.

    With a finding filter (severity, setting, who, since) only servers with a matching finding are
    shown; the server filter alone keeps servers without findings. `full`: every field of each
    finding (an export), not only what the grid shows.
    """
    store.ensure_table()
    with ThreadPoolExecutor(1) as pool:  # the two reads of the index at once
        marked = pool.submit(store.index.all_servers)
        found = open_findings(store, findings, full=full or bool(filters.alert),
                              who_or_since=bool(filters.who or filters.since))
        servers = {server_id.lower(): server_id for server_id in marked.result()}
    shown = [f for f in found if filters.finding(f)]
    rows: dict[str, FleetRow] = {}
    for f in shown:
        if not server_scoped(f.setting):
            continue
        key = f.server_id.lower()
        server_id = servers.get(key, f.server_id)  # the marker's spelling: the key is lower case
        row = rows.setdefault(key, FleetRow(server_id, server_name(server_id)))
        row.cells.setdefault(f.setting, []).append(f)
    finding_filter = any([filters.severity, filters.setting, filters.who, filters.since, filters.alert])
    if not finding_filter:
        for key, server_id in servers.items():
            named = not filters.server or filters.server.casefold() in server_name(server_id).casefold()
            if key not in rows and named:
                rows[key] = FleetRow(server_id, server_name(server_id))
    ordered = sorted(rows.values(), key=lambda r: (-RANK.get(r.worst or "", -1), r.server.lower(), r.server_id.lower()))
    settings = [filters.setting] if filters.setting else server_settings()
    return Fleet(ordered, settings, shown, len(servers),
                 [f for f in shown if not server_scoped(f.setting)])


@dataclass
class ServerView:
    server_id: str
    server: str
    current: list[tuple[str, str]]  # (setting, the baseline as history describes it)
    findings: list[Finding]
    timeline: list[HistoryRecord]


def describe(setting: str, state: Any) -> str:
    try:
        return detectors.by_setting(setting).describe(state)
    except Exception:  # a state written by an older version: shown raw rather than not at all
        return str(state)


def server_view(store: BaselineStore, findings: FindingStore, server_id: str, filters: Filters, *,
                partition: str | None = None, label: str | None = None) -> ServerView | None:
    """One server's partition (or a subscription-level setting's: `partition`, `label`): None when the
    table knows nothing of it."""
    key = partition or server_id
    rows = store.load(key)
    timeline = store.history(server_id=key, since=filters.since)
    found = findings.server_findings(server_id)
    if not rows.baselines and not timeline and not found:
        return None
    name = label or (timeline[0].server if timeline else found[0].server if found else server_name(server_id))
    known = server_id if partition else timeline[0].server_id if timeline else found[0].server_id if found \
        else server_id
    current = [(s, describe(s, b.state)) for s, b in sorted(rows.baselines.items()) if not b.closed]
    return ServerView(known, name, current, [f for f in found if filters.finding(f)],
                      [r for r in timeline if filters.record(r)])


def alert_server(store: BaselineStore, alert_key: str) -> str | None:
    """The server an alert was about when no finding carries it (a posture alert, a digest)."""
    store.ensure_table()
    return store.index.server_of_alert(alert_key)
