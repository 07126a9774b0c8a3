"""Findings: what is wrong with one setting of one server, from the weakening that opened it to its end.

A weakening opens a finding for (server, setting); a later weakening of the same setting updates
it (worst severity, latest who/where/why, its alert appended), never a second one. It ends as
`resolved` (the state came back: by an event or a reconcile), `accepted` (`mysql-drift accept`), or
stays open (`acknowledged` once someone has looked). `drift.lifecycle` decides; this module keeps.

Rows, in the server's partition, written in the same transaction as the baseline change that
causes them (`BaselineStore.commit`), so they share its guarantees:
- `baseline|~finding|{setting}`: the open finding of a setting, if any. Its key is the setting's,
  so two racing weakenings cannot both open one (the second `create` fails and starts over, and so
  does an update or close whose ETag moved). It sorts inside the baselines' range: the event path
  loads it with them, at no extra query.
- `finding|{id}`: a closed finding (moved there from its slot when it closes), kept for reading.

Markers, in the `~index` partition (written beside the commit, like the others of `drift.index`):
- `open|{partition}|{setting}|{id}`: a copy of an open finding, so that the fleet's open findings
  are one key range, not one query per server. Every write of a commit leaves it not `landed`;
  the first reader checks it against the row and marks it landed (or, once it is older than
  `STALE_AFTER` and the row does not show that finding open, drops it). A close deletes it after
  its commit; if that delete is lost, the marker is not landed, so the reader drops it.
- `finding|{id}`: the partition and setting of every finding (open or closed), for `finding(id)`;
- `falert|{alert key}|{id}`: the finding an alert carried (the console's `/alert/<key>`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from drift.entities import pack, unpack
from drift.index import INDEX, STALE_AFTER
from drift.keys import BASELINE, encode_key
from drift.model import HistoryRecord, Severity, alert_key

if TYPE_CHECKING:
    from drift.store import BaselineStore

SLOT = BASELINE + "~finding|"  # the open finding of a setting (inside the baselines' range: `load` reads it)
CLOSED = "finding|"  # closed findings, by id
OPEN_MARK, ID_MARK, ALERT_MARK = "open|", "finding|", "falert|"  # markers in the `~index` partition
OPEN_STATUSES = ("open", "acknowledged")


@dataclass
class Finding:
    id: str  # 16 hex chars: alert_key(f"{server_id}|{setting}|{opening event id}")
    server_id: str
    server: str
    setting: str
    status: str  # "open" | "acknowledged" | "resolved" | "accepted"
    severity: str  # the worst severity while it was open
    why: str  # the latest weakening's reason
    opened_at: str
    updated_at: str
    before: str | None  # the setting before the first weakening (as history describes it)
    after: str | None  # the latest state
    changed_by: str  # the latest weakening's who, from where, which event
    client_ip: str | None
    event_id: str
    correlation_id: str | None
    alert_keys: list[str] = field(default_factory=list)  # every alert that carried it, first first
    remediation: str | None = None
    control: str | None = None
    closed_by: str | None = None
    closed_at: str | None = None
    closed_via: str | None = None  # "event" | "reconcile" | "accept"
    close_reason: str | None = None
    acknowledged: str | None = None  # "who: why (when)"
    exemption: str | None = None  # the latest weakening was exempted by the policy (recorded, not alerted)

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def rank(self) -> int:
        return Severity(self.severity).rank

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def age(self, now: datetime) -> str:
        """How long it has been open (or was, when closed), as `3d 4h`, `2h 5m` or `40s`."""
        end = datetime.fromisoformat(self.closed_at) if self.closed_at else now
        seconds = max(0, int((end - datetime.fromisoformat(self.opened_at)).total_seconds()))
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes = rest // 60
        if days:
            return f"{days}d {hours}h"
        if hours:
            return f"{hours}h {minutes}m"
        return f"{minutes}m" if minutes else f"{seconds}s"


def finding_id(server_id: str, setting: str, event_id: str) -> str:
    return alert_key(f"{server_id}|{setting}|{event_id}")


def _values(finding: Finding) -> dict[str, Any]:
    values = {k: v for k, v in finding.to_dict().items() if v is not None}
    values["alert_keys"] = json.dumps(finding.alert_keys)
    values["finding_id"] = values.pop("id")
    return values


def from_entity(entity: Any) -> Finding:
    data = unpack(dict(entity))
    data["id"] = data.get("finding_id")
    data["alert_keys"] = json.loads(data.get("alert_keys") or "[]")
    return Finding(**{f.name: data.get(f.name) for f in fields(Finding)})


@dataclass
class Slot:
    """The open finding of one setting as `BaselineStore.load` found it: the finding, the row's ETag, and
    the baseline state it started from (`origin`; `has_origin` False for a gap found on first sight)."""

    finding: Finding
    etag: str | None
    origin: Any = None
    has_origin: bool = False


def slot(entity: Any) -> Slot:
    data = unpack(dict(entity))
    origin = data.get("origin")
    return Slot(from_entity(entity), entity.metadata.get("etag"), json.loads(origin) if origin else None,
                origin is not None)


@dataclass
class FindingWrite:
    """One finding's row write in a commit: opened (no `etag`), updated, or closed (moved to `finding|`).

    `record` is the history row of the change; when the commit gives it an alert key (it alerts),
    that key is appended to the finding's, so the write is built only after the keys are known.
    """

    finding: Finding
    etag: str | None = None
    record: HistoryRecord | None = None
    origin: Any = None
    has_origin: bool = False

    @property
    def closes(self) -> bool:
        return not self.finding.open

    def _final(self) -> Finding:
        key = self.record.alert_key if self.record is not None else None
        if key and key not in self.finding.alert_keys:
            self.finding.alert_keys.append(key)
        return self.finding

    def operations(self, pk: str) -> list[tuple[Any, ...]]:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        finding = self._final()
        row = {"PartitionKey": pk, "RowKey": SLOT + finding.setting, **_values(finding)}
        if self.has_origin:
            row["origin"] = json.dumps(self.origin, sort_keys=True)
        guard = {"etag": self.etag, "match_condition": MatchConditions.IfNotModified}
        if self.closes:
            closed = {**row, "RowKey": CLOSED + finding.id}
            closed.pop("origin", None)
            return [("delete", {"PartitionKey": pk, "RowKey": row["RowKey"]}, guard),
                    ("upsert", pack(closed), {"mode": UpdateMode.REPLACE})]
        if self.etag is None:
            return [("create", pack(row))]
        return [("update", pack(row), {"mode": UpdateMode.REPLACE, **guard})]

    def markers(self, pk: str, now: datetime) -> dict[str, dict[str, Any]]:
        """The index rows to write beside the commit (each replaces what the key held)."""
        finding = self._final()
        rows = {open_marker(pk, finding): pack({**_values(finding), "pk": pk, "landed": False,
                                                "created_at": now.isoformat()}),
                ID_MARK + finding.id: {"pk": pk, "setting": finding.setting}}
        for key in finding.alert_keys:
            rows[f"{ALERT_MARK}{key}|{finding.id}"] = {"pk": pk, "finding_id": finding.id}
        return rows


def open_marker(pk: str, finding: Finding) -> str:
    return f"{OPEN_MARK}{pk}|{finding.setting}|{finding.id}"


def _slot_key(setting: str) -> str:
    return SLOT + setting


class FindingStore:
    """Reading findings (and acknowledging one): the fleet's open ones from the index, a server's from
    its partition. Nothing in the index is taken on trust: see the module's docstring."""

    def __init__(self, store: BaselineStore) -> None:
        self.store = store
        self._table = store._table
        self._trip = store._trip

    def open_findings(self, *, severity: str | None = None, now: datetime | None = None) -> list[Finding]:
        """Every open finding of the fleet, worst first (`severity`: that severity or worse).

        One key range of the index; a point read only for a marker not yet checked against its row."""
        self.store.ensure_table()
        now = now or datetime.now(UTC)
        wanted = Severity(severity).rank if severity else 0
        found = []
        for marker in self._markers(wanted):
            finding = from_entity(marker) if marker.get("landed") else self._check(marker, now)
            if finding is not None and finding.open and finding.rank >= wanted:
                found.append(finding)
        return sorted(found, key=lambda f: (-f.rank, f.server.lower(), f.setting, f.opened_at))

    def _markers(self, wanted: int) -> list[Any]:
        """The open-finding markers of that severity rank or worse: one key range, filtered by the service."""
        if not wanted:
            return self.store.index._range(OPEN_MARK)
        names = [s.value for s in Severity if s.rank >= wanted]
        params: dict[str, Any] = {f"s{i}": name for i, name in enumerate(names)}
        self._trip()
        return list(self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and ( "
            + " or ".join(f"severity eq @s{i}" for i in range(len(names))) + " )",
            parameters={"pk": INDEX, "lo": OPEN_MARK, "hi": OPEN_MARK[:-1] + "}", **params}))

    def _check(self, marker: Any, now: datetime) -> Finding | None:
        """The finding a marker not yet landed points at, if its row shows it open.

        The marker is marked landed (with the row's values) once the row has caught up with it (its
        commit landed) or the marker is stale (its commit never will); it is dropped when the finding
        is closed, or when the row never showed that finding and the marker is stale."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        copy = from_entity(marker)
        created = marker.get("created_at")
        stale = not created or now - datetime.fromisoformat(created) > STALE_AFTER
        try:
            self._trip()
            row: Any = self._table.get_entity(marker["pk"], _slot_key(copy.setting))
        except ResourceNotFoundError:
            row = None
        current = from_entity(row) if row is not None else None
        if current is None or current.id != copy.id:
            if stale or self._closed(marker["pk"], copy.id):
                self.store.index.drop(marker["RowKey"])
            return None
        if current.updated_at >= copy.updated_at or stale:
            self._trip()
            self._table.upsert_entity(pack({"PartitionKey": INDEX, "RowKey": marker["RowKey"], **_values(current),
                                            "pk": marker["pk"], "landed": True, "created_at": created}),
                                      mode=UpdateMode.REPLACE)
        return current

    def _closed(self, pk: str, finding_id: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._trip()
            self._table.get_entity(pk, CLOSED + finding_id, select=["RowKey"])
            return True
        except ResourceNotFoundError:
            return False

    def drop_closed_markers(self, pk: str, keep: set[str]) -> int:
        """Remove the open-markers of a server's findings that are closed (a close whose marker delete
        was lost); `keep` are the markers of the findings open now. Run when an event comes again."""
        dropped = 0
        for marker in self.store.index._range(f"{OPEN_MARK}{pk}|", ["RowKey"]):
            if marker["RowKey"] not in keep and self._closed(pk, marker["RowKey"].rsplit("|", 1)[-1]):
                self.store.index.drop(marker["RowKey"])
                dropped += 1
        return dropped

    def server_findings(self, server_id: str) -> list[Finding]:
        """Every finding of one server (or subscription-level setting, by its resource id), open and closed,
        newest first: two key ranges of its partition."""
        from drift.subscription import target

        self.store.ensure_table()
        setting = target(server_id)
        pk = encode_key(setting.partition if setting else server_id)
        found = []
        for lo in (SLOT, CLOSED):
            self._trip()
            found += [from_entity(e) for e in self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                parameters={"pk": pk, "lo": lo, "hi": lo[:-1] + "}"})]
        return sorted(found, key=lambda f: f.opened_at, reverse=True)

    def finding(self, finding_id: str) -> Finding | None:
        """One finding by id: its index marker names the partition, the row (open, then closed) decides."""
        found = self._find(finding_id)
        return from_entity(found[1]) if found else None

    def _find(self, finding_id: str) -> tuple[str, Any] | None:
        """(partition, row) of a finding."""
        from azure.core.exceptions import ResourceNotFoundError

        self.store.ensure_table()
        wanted = finding_id.strip().lower()
        try:
            self._trip()
            marker = self._table.get_entity(INDEX, ID_MARK + wanted)
        except ResourceNotFoundError:
            return None
        for key in (_slot_key(marker["setting"]), CLOSED + wanted):
            try:
                self._trip()
                row = self._table.get_entity(marker["pk"], key)
            except ResourceNotFoundError:
                continue
            if row.get("finding_id") == wanted:
                return marker["pk"], row
        return None

    def finding_for_alert(self, key: str) -> Finding | None:
        """The finding an alert carried (the worst, when a posture alert carried several)."""
        self.store.ensure_table()
        candidates = [self.finding(m["finding_id"]) for m in self.store.index._range(f"{ALERT_MARK}{key.strip()}|")]
        found = [f for f in candidates if f is not None and key.strip() in f.alert_keys]
        return min(found, key=lambda f: (-f.rank, f.opened_at), default=None)

    def acknowledge(self, finding_id: str, note: str) -> Finding | None:
        """Mark an open finding acknowledged ("who: why (when)"); None when it is not open (or unknown)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        for _attempt in range(6):
            found = self._find(finding_id)
            if found is None or not from_entity(found[1]).open:
                return None
            pk, row = found
            finding = from_entity(row)
            finding.status, finding.acknowledged = "acknowledged", note
            mark = open_marker(pk, finding)
            self._trip()  # not trusted until the row is written (a reader checks it against the row)
            self._table.upsert_entity(pack({"PartitionKey": INDEX, "RowKey": mark, **_values(finding), "pk": pk,
                                            "landed": False, "created_at": datetime.now(UTC).isoformat()}),
                                      mode=UpdateMode.REPLACE)
            try:
                self._trip()
                self._table.update_entity({"PartitionKey": pk, "RowKey": row["RowKey"], "status": finding.status,
                                           "acknowledged": note}, mode=UpdateMode.MERGE,
                                          etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
            self._trip()
            self._table.upsert_entity(pack({"PartitionKey": INDEX, "RowKey": mark, **_values(finding), "pk": pk,
                                            "landed": True, "created_at": datetime.now(UTC).isoformat()}),
                                      mode=UpdateMode.REPLACE)
            return finding
        return None

    def acknowledge_event(self, event_id: str, note: str) -> list[Finding]:
        """Acknowledge the open findings the history rows of one event opened or updated."""
        ids: set[str] = set()
        for pk in self.store.index.partitions_of_event(event_id):
            self._trip()
            ids |= {e["finding_id"] for e in self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and event_id eq @id",
                parameters={"pk": pk, "id": event_id, "lo": "history|", "hi": "history}"},
                select=["finding_id"]) if e.get("finding_id")}
        return [f for f in (self.acknowledge(i, note) for i in sorted(ids)) if f is not None]


def reindex_markers(pk: str, slots: list[Slot], now: datetime) -> dict[str, dict[str, Any]]:
    """The markers of a server's open findings, written again when an event is delivered again."""
    rows: dict[str, dict[str, Any]] = {}
    for found in slots:
        rows.update(FindingWrite(found.finding, found.etag).markers(pk, now))
    return rows
