"""Baselines, drift history and the alert outbox, in one Azure Table.

All rows of a server share one partition (its encoded ARM id), so a detected change is one
entity-group transaction: the new baseline (guarded by its ETag, or created if new), the
history row, and, when the change must be alerted, an outbox row. Either all of it lands or
none of it does; a concurrent writer makes the transaction fail with 409/412 and the caller
re-reads and tries again.

Row keys, readable in Storage Explorer:
- `baseline|{setting}`: the accepted state of one setting.
- `baseline|~outbox|{history row key}`: an alert not yet delivered (one change, or the gaps of a
  new server). `~` sorts after every setting name, so one range query returns a server's
  baselines and its undelivered alerts.
- `history|{inverted ms}|{setting}|{event}`: one detected change; newest sorts first.
- `export|{first history row key of a commit}`: that commit's history rows, not yet in Log
  Analytics (written with them when the export is on; `drift.exports`).

Keys are made in `drift.keys`, the operations on outbox rows after the commit live in
`drift.outbox_rows`, and the `~index` partition that cross-server questions read in `drift.index`.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from drift import exports
from drift.entities import pack, unpack
from drift.export_rows import ExportRows
from drift.findings import SLOT, FindingStore, FindingWrite, Slot, open_marker, reindex_markers, slot
from drift.index import STALE_AFTER, StoreIndex
from drift.keys import (
    BASELINE,
    CHECKPOINT,
    EXPORT,
    GROUPING,
    HISTORY,
    MAX_TRANSACTION,
    OUTBOX,
    POSTURE,
    RATE_LIMIT,
    decode_key,
    encode_key,
    inverted_ms,
)
from drift.model import Alert, AlertStatus, HistoryRecord, alert_key
from drift.outbox_rows import OutboxItem, OutboxRows, outbox_item

__all__ = ["BASELINE", "CHECKPOINT", "HISTORY", "OUTBOX", "POSTURE", "RATE_LIMIT", "Baseline", "BaselineStore",
           "Change", "ConcurrentUpdate", "OutboxItem", "ServerRows", "decode_key", "encode_key"]


log = logging.getLogger(__name__)

@dataclass
class Baseline:
    setting: str
    state: Any
    etag: str | None = None
    closed: bool = False
    event_id: str | None = None
    observed_at: str | None = None
    read_at: str | None = None  # when the read that showed `state` began (`drift.attribution`)
    attributed: dict[str, Any] | None = None  # whom its last recorded change named (`drift.attribution`)


@dataclass
class ServerRows:
    """What the store holds for one server: its baselines and undelivered alerts."""

    partition: str
    baselines: dict[str, Baseline] = field(default_factory=dict)
    outbox: list[OutboxItem] = field(default_factory=list)
    findings: dict[str, Slot] = field(default_factory=dict)  # the open finding of each setting that has one


@dataclass
class Change:
    """One row set to commit: the setting's new baseline and, if recorded, its history row.

    Changes with the same `alert_group` are delivered as one alert; None means no alert. A change
    that `resolves` a finding (the key of the finding's first alert) goes out as a "resolved" card.
    """

    setting: str
    state: Any
    previous: Baseline | None
    record: HistoryRecord | None
    alert_group: str | None = None
    read_at: str | None = None
    attributed: dict[str, Any] | None = None
    resolves: str | None = None


class ConcurrentUpdate(Exception):
    """Someone else changed the server's rows first; re-read and try again."""


class BaselineStore(OutboxRows, ExportRows):
    """Drift state of every watched server in one table (`azure-data-tables`)."""

    def __init__(self, table_client: Any) -> None:
        self._table = table_client
        self._ready = False
        self._lock = threading.Lock()
        self.round_trips = 0
        self.index = StoreIndex(table_client, self._trip)

    @classmethod
    def from_connection_string(cls, connection_string: str, table_name: str) -> BaselineStore:
        from azure.data.tables import TableClient

        from drift.transport import client_options

        return cls(TableClient.from_connection_string(connection_string, table_name=table_name, **client_options()))

    @classmethod
    def from_endpoint(cls, endpoint: str, table_name: str, credential: Any) -> BaselineStore:
        from azure.data.tables import TableClient

        from drift.transport import client_options

        return cls(TableClient(endpoint, table_name=table_name, credential=credential, **client_options()))

    def _trip(self) -> None:
        with self._lock:
            self.round_trips += 1

    def ensure_table(self) -> None:
        if self._ready:
            return
        from azure.core.exceptions import ResourceExistsError

        try:
            self._trip()
            self._table.create_table()
        except ResourceExistsError:
            pass
        self._ready = True

    def load(self, server_id: str) -> ServerRows:
        """Baselines and undelivered alerts of one server: one range query."""
        self.ensure_table()
        pk = encode_key(server_id)
        rows = ServerRows(pk)
        self._trip()
        entities = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": pk, "lo": BASELINE, "hi": BASELINE[:-1] + "}"},
        )
        for entity in entities:
            rk = entity["RowKey"]
            if rk.startswith(OUTBOX):
                rows.outbox.append(outbox_item(entity))
            elif rk.startswith(SLOT):
                rows.findings[rk[len(SLOT):]] = slot(entity)
            else:
                setting = rk[len(BASELINE):]
                rows.baselines[setting] = Baseline(
                    setting=setting, state=json.loads(unpack(entity)["state"]), etag=entity.metadata.get("etag"),
                    closed=bool(entity.get("closed", False)), event_id=entity.get("event_id"),
                    observed_at=entity.get("observed_at"), read_at=entity.get("read_at"),
                    attributed=json.loads(entity["attributed"]) if entity.get("attributed") else None,
                )
        return rows

    def commit(self, server_id: str, server_name: str, changes: list[Change], *, owner: str,
               now: datetime, lease: timedelta = timedelta(seconds=60),
               guards: list[Baseline] = (),  # type: ignore[assignment]
               findings: list[FindingWrite] = ()) -> list[OutboxItem]:  # type: ignore[assignment]
        """Write all changes of one event in one transaction; return the alerts it queued (leased to `owner`).

        Each history row that an alert carries gets that alert's key. `guards` are the baselines of
        other settings the verdicts rest on: the transaction touches each under its ETag, so it fails
        if one of them moved. `findings` are the finding rows the changes open, update or close
        (`drift.lifecycle`), each under its own ETag. Raises ConcurrentUpdate when a baseline or
        finding moved or appeared since it was read.
        """
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError, UpdateMode

        pk = encode_key(server_id)
        history_keys = {index: (f"{HISTORY}{inverted_ms(now)}|{change.setting}|"
                                f"{encode_key(change.record.event_id)[:80]}|{index}")
                        for index, change in enumerate(changes) if change.record is not None}
        groups: dict[str, list[tuple[str, HistoryRecord]]] = {}
        resolves: dict[str, str] = {}
        for index, change in enumerate(changes):
            if change.record is not None and change.alert_group is not None:
                groups.setdefault(change.alert_group, []).append((history_keys[index], change.record))
                if change.resolves:
                    resolves[change.alert_group] = change.resolves
        for members in groups.values():
            key = alert_key(OUTBOX + members[0][0])
            for _, record in members:
                record.alert_key = key
        operations: list[tuple[Any, ...]] = []
        for index, change in enumerate(changes):
            baseline = pack({
                "PartitionKey": pk, "RowKey": BASELINE + change.setting, "server_id": server_id,
                "server": server_name, "server_lc": server_name.lower(), "setting": change.setting,
                "state": json.dumps(change.state, sort_keys=True),
                "closed": False, "observed_at": now.isoformat(),
                "event_id": change.record.event_id if change.record else None,
                "read_at": change.read_at,
                "attributed": json.dumps(change.attributed, sort_keys=True) if change.attributed else None,
            })
            if change.previous is None or change.previous.etag is None:
                operations.append(("create", baseline))
            else:
                operations.append(("update", baseline, {"mode": UpdateMode.REPLACE, "etag": change.previous.etag,
                                                        "match_condition": MatchConditions.IfNotModified}))
            if change.record is not None:
                operations.append(("create", {"PartitionKey": pk, "RowKey": history_keys[index],
                                              **_history_entity(change.record)}))
        marker = self._export_marker(pk, list(history_keys.values()), now, operations)
        operations += [op for write in findings for op in write.operations(pk)]
        changed = {c.setting for c in changes}
        operations += [("update", {"PartitionKey": pk, "RowKey": BASELINE + g.setting},
                        {"mode": UpdateMode.MERGE, "etag": g.etag, "match_condition": MatchConditions.IfNotModified})
                       for g in guards if g.setting not in changed and changes]
        queued: list[OutboxItem] = []
        until = now + lease
        for group, members in groups.items():
            kind = "resolved" if group in resolves else "posture" if group == POSTURE else "change"
            alert = Alert(kind, [r for _, r in members], resolves=resolves.get(group))
            outbox_rk = OUTBOX + members[0][0]
            keys = [k for k, _ in members]
            operations.append(("create", pack({
                "PartitionKey": pk, "RowKey": outbox_rk, "kind": alert.kind,
                "records": json.dumps([r.to_dict() for r in alert.records]), "history_row_keys": json.dumps(keys),
                "lease_owner": owner, "lease_until": until.isoformat() if owner else "", "attempts": 0,
                "correlation_id": alert.records[0].correlation_id or "", "marked": owner == GROUPING,
                **({"resolves": alert.resolves} if alert.resolves else {}),
            })))
            alert.id = outbox_rk
            queued.append(OutboxItem(outbox_rk, alert, keys, None, owner, until if owner else None, partition=pk,
                                     marked=owner == GROUPING))
        if not operations:
            return []
        if len(operations) > MAX_TRANSACTION:
            raise ValueError(f"one event produced {len(operations)} row writes; a transaction holds {MAX_TRANSACTION}")
        self.ensure_table()
        # The index batch goes out beside the commit, not before it: a copy whose commit fails is
        # never trusted (readers check it against its row), and an index write that fails after
        # its commit succeeded fails the invocation, whose retry writes it again (`reindex`).
        index = _background().submit(
            self.index.before_commit, pk, server_id, now=now,
            event_ids={c.record.event_id for c in changes if c.record},
            outbox_keys=[q.row_key for q in queued if q.marked],  # the others are the event path's to finish
            history=[(op[1]["RowKey"], op[1]) for op in operations if op[1]["RowKey"].startswith(HISTORY)],
            export_keys=[marker] if marker else [],
            findings={k: v for write in findings for k, v in write.markers(pk, now).items()})
        try:
            self._trip()
            results = self._table.submit_transaction(operations)
        except TableTransactionError as exc:
            index.exception()
            if exc.status_code in (409, 412):
                raise ConcurrentUpdate(str(exc.error_code)) from exc
            raise
        index.result()
        if marker:
            exports.note(pk, marker, [(history_keys[i], c.record) for i, c in enumerate(changes)
                                      if c.record is not None])
        for write in findings:
            if write.closes:
                self.index.drop(open_marker(pk, write.finding))
        etags = {op[1]["RowKey"]: (res or {}).get("etag") for op, res in zip(operations, results, strict=True)}
        for item in queued:
            item.etag = etags.get(item.row_key)
        return queued

    def reindex(self, server_id: str, event_id: str, outbox: list[OutboxItem], *, now: datetime,
                findings: list[Slot] = ()) -> None:  # type: ignore[assignment]
        """Write the index rows of an event already committed again (its first index write may have
        failed after the commit): the copies of its history rows, its event marker, the markers
        of the server's alerts that the sweep looks after, and those of its open `findings`."""
        pk = encode_key(server_id)
        self._trip()
        rows = list(self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and event_id eq @id",
            parameters={"pk": pk, "id": event_id, "lo": HISTORY, "hi": HISTORY[:-1] + "}"}))
        commits: dict[str, list[str]] = {}  # the history rows of one commit share their time
        for r in rows:
            commits.setdefault(r["RowKey"].split("|")[1], []).append(r["RowKey"])
        self.index.before_commit(pk, server_id, now=now, event_ids=[event_id] if rows else [],
                                 outbox_keys=[i.row_key for i in outbox if i.marked],
                                 history=[(r["RowKey"], dict(r)) for r in rows],
                                 export_keys=[EXPORT + min(keys) for keys in commits.values()] if self.exports else [],
                                 findings=reindex_markers(pk, list(findings), now))
        FindingStore(self).drop_closed_markers(pk, {open_marker(pk, s.finding) for s in findings})

    def alert_records(self, server_id: str, key: str) -> list[HistoryRecord]:
        """The history rows one alert carried (by its key), or one event recorded (by its id): one partition."""
        self.ensure_table()
        self._trip()
        entities = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and (alert_key eq @key or event_id eq @key )",
            parameters={"pk": encode_key(server_id), "lo": HISTORY, "hi": HISTORY[:-1] + "}", "key": key})
        return [HistoryRecord.from_dict(unpack(e)) for e in entities]

    def server_ids(self, name: str) -> list[str]:
        """The ids of watched servers with this name (any subscription or resource group), in any case:
        one key range of the index's name markers (`name|`), written with a server's first commit.

        Table Storage compares strings case-sensitively, so baseline rows carry the name lower-cased
        (`server_lc`); rows written before that column existed still match their exact spelling.
        One id per server, however its rows spell it.
        """
        self.ensure_table()
        named = self.index.servers_named(name)
        if named:
            return sorted(set(named), key=str.lower)
        self._trip()  # servers baselined before the index had name markers: a scan of the table
        entities = self._table.query_entities(
            "( server_lc eq @lower or server eq @name ) and RowKey ge @lo and RowKey lt @hi",
            parameters={"lower": name.lower(), "name": name, "lo": BASELINE, "hi": OUTBOX},
            select=["server_id", "PartitionKey"])
        ids = {e["PartitionKey"]: e["server_id"] for e in entities if e.get("server_id")}
        return sorted(ids.values(), key=str.lower)

    def acknowledge(self, event_id: str, note: str, at: str) -> int:
        """Mark every history row of one event as reviewed; returns how many there were.

        The index names the partition(s) the event was recorded in: one-partition reads, not a scan.
        """
        from azure.data.tables import UpdateMode

        self.ensure_table()
        rows = []
        for pk in self.index.partitions_of_event(event_id):
            self._trip()
            rows += list(self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and event_id eq @id",
                parameters={"pk": pk, "id": event_id, "lo": HISTORY, "hi": HISTORY[:-1] + "}"},
                select=["PartitionKey", "RowKey"]))
        for row in rows:
            self._trip()
            self._table.update_entity({"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"],
                                       "acknowledged": f"{note} ({at})"}, mode=UpdateMode.MERGE)
            self.index.mark_copy(row["PartitionKey"], row["RowKey"], {"acknowledged": f"{note} ({at})"})
        return len(rows)

    def known_servers(self, subscription_id: str) -> list[str]:
        """Ids of the servers of one subscription that have baselines: one index row per server."""
        self.ensure_table()
        return sorted({server_id for server_id, _ in self.index.servers(subscription_id)}, key=str.lower)

    def checkpoint(self, name: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        self.ensure_table()
        try:
            self._trip()
            return dict(self._table.get_entity(CHECKPOINT, name))
        except ResourceNotFoundError:
            return None

    def save_checkpoint(self, name: str, values: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        self._trip()
        self._table.upsert_entity({"PartitionKey": CHECKPOINT, "RowKey": name, **values}, mode=UpdateMode.REPLACE)

    def close_server(self, server_id: str, server_name: str, record: HistoryRecord, *, now: datetime,
                     via: str = "event") -> bool:
        """Mark every baseline of a deleted server closed, close its findings and record the deletion,
        atomically.

        Returns False when there was nothing open (already closed, or never seen).
        """
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError, UpdateMode

        rows = self.load(server_id)
        open_ = [b for b in rows.baselines.values() if not b.closed]
        if not open_:
            self.index.server_gone(rows.partition, server_id)
            return False
        pk = rows.partition
        operations: list[tuple[Any, ...]] = [
            ("update", {"PartitionKey": pk, "RowKey": BASELINE + b.setting, "closed": True,
                        "closed_at": now.isoformat(), "event_id": record.event_id},
             {"mode": UpdateMode.MERGE, "etag": b.etag, "match_condition": MatchConditions.IfNotModified})
            for b in open_
        ]
        from drift.lifecycle import server_deleted

        closing = server_deleted(rows.findings, record, via=via, now=now)
        operations += [op for write in closing for op in write.operations(pk)]
        history_rk = f"{HISTORY}{inverted_ms(now)}|server|{encode_key(record.event_id)[:80]}"
        operations.append(("create", {"PartitionKey": pk, "RowKey": history_rk, **_history_entity(record)}))
        history = [(history_rk, operations[-1][1])]
        marker = self._export_marker(pk, [history_rk], now, operations)
        self.index.before_commit(pk, server_id, now=now, event_ids=[record.event_id], outbox_keys=[],
                                 history=history, export_keys=[marker] if marker else [],
                                 findings={k: v for w in closing for k, v in w.markers(pk, now).items()})
        try:
            self._trip()
            self._table.submit_transaction(operations)
        except TableTransactionError as exc:
            if exc.status_code in (409, 412):
                raise ConcurrentUpdate(str(exc.error_code)) from exc
            raise
        if marker:
            exports.note(pk, marker, [(history_rk, record)])
        for write in closing:
            self.index.drop(open_marker(pk, write.finding))
        self.index.server_gone(pk, server_id)
        return True

    def history(self, *, server_id: str | None = None, since: datetime | None = None,
                verdict: str | None = None, limit: int | None = None) -> list[HistoryRecord]:
        """History rows, newest first.

        Row keys carry the inverted time, so `since` bounds a key range: with a server, one range of
        its partition; across servers, one range of the index's history copies. Only a question with
        neither reads the whole table.
        """
        self.ensure_table()
        if since and not server_id:
            entities = self._copies(since)
        else:
            hi = f"{HISTORY}{inverted_ms(since)}|~" if since else HISTORY[:-1] + "}"
            query = "RowKey ge @lo and RowKey lt @hi" + (" and PartitionKey eq @pk" if server_id else "")
            params: dict[str, Any] = {"lo": HISTORY, "hi": hi}
            if server_id:
                params["pk"] = encode_key(server_id)
            self._trip()
            entities = list(self._table.query_entities(query, parameters=params))
        records = [HistoryRecord.from_dict(unpack(e)) for e in entities]
        records = [r for r in records if (not since or r.detected >= since) and (not verdict or r.verdict == verdict)]
        records.sort(key=lambda r: r.detected_at, reverse=True)
        return records[:limit] if limit else records

    def _copies(self, since: datetime) -> list[Any]:
        """History rows since `since` from the index's copies. A copy not yet checked against its row,
        or whose alert was still pending, is read from the row itself and brought up to date (each
        row once, and again only while its alert is pending); a copy of a commit that never landed is
        dropped once stale."""
        from azure.core.exceptions import ResourceNotFoundError

        now = datetime.now(UTC)
        out = []
        for copy in self.index.copies_since(since):
            if copy.get("landed") and copy.get("alert_status") != AlertStatus.PENDING.value:
                out.append(copy)
                continue
            try:
                self._trip()
                row = self._table.get_entity(copy["pk"], copy["row_key"])
                out.append(row)
                moved = {k: row[k] for k in ("alert_status", "alerted_at", "acknowledged") if row.get(k) is not None}
                self.index.mark_copy(copy["pk"], copy["row_key"], {"landed": True, **moved})
            except ResourceNotFoundError:
                if now - datetime.fromisoformat(copy["created_at"]) > STALE_AFTER:
                    self.index.drop_copy(copy["RowKey"])
        return out


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """Threads for the index writes that go out beside a commit (a few, shared by the process)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="drift-index")
        return _pool


def _history_entity(record: HistoryRecord) -> dict[str, Any]:
    return pack({k: v for k, v in record.to_dict().items() if v is not None})
