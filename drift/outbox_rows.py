"""The alert outbox's rows: leases, delivery marks, the rate limit's counters, the digest flag.

An outbox row lives in its server's partition, written in the same transaction as the history row
it alerts about (`BaselineStore.commit`); these are the operations that move it on afterwards, as
`drift.outbox` delivers it. Every lease is conditional on the row's ETag, so two invocations never
both hold one alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from drift.entities import unpack
from drift.index import STALE_AFTER, StoreIndex
from drift.keys import RATE_LIMIT, encode_key
from drift.model import Alert, AlertStatus, HistoryRecord


@dataclass
class OutboxItem:
    row_key: str
    alert: Alert
    history_row_keys: list[str]
    etag: str | None
    lease_owner: str | None
    lease_until: datetime | None
    attempts: int = 0
    delivered_to: list[str] = field(default_factory=list)
    digest: bool = False  # over the rate limit: goes out in the next digest card
    partition: str = ""
    marked: bool = False  # the index has an alert marker for it (the sweep looks after it)

    @property
    def correlation_id(self) -> str | None:
        """What groups alerts into one card: a "resolved" card stays a card of its own."""
        if self.alert.kind == "resolved" or not self.alert.records:
            return None
        return self.alert.records[0].correlation_id

    def claimable(self, owner: str, now: datetime) -> bool:
        return self.lease_owner in (None, "", owner) or self.lease_until is None or self.lease_until <= now


def outbox_item(stored: Any) -> OutboxItem:
    entity = unpack(stored)
    lease = entity.get("lease_until")
    records = [HistoryRecord.from_dict(r) for r in json.loads(entity["records"])]
    return OutboxItem(
        row_key=entity["RowKey"], alert=Alert(entity.get("kind", "change"), records, id=entity["RowKey"],
                                             resolves=entity.get("resolves")),
        history_row_keys=json.loads(entity["history_row_keys"]), etag=stored.metadata.get("etag"),
        lease_owner=entity.get("lease_owner"), lease_until=datetime.fromisoformat(lease) if lease else None,
        attempts=int(entity.get("attempts", 0)), delivered_to=json.loads(entity.get("delivered_to") or "[]"),
        digest=bool(entity.get("digest", False)), partition=entity["PartitionKey"],
        marked=bool(entity.get("marked", False)),
    )


class OutboxRows:
    """`BaselineStore`'s operations on outbox rows (a mixin: it shares the store's table client)."""

    _table: Any
    index: StoreIndex

    def _trip(self) -> None: ...

    def ensure_table(self) -> None: ...

    def load(self, server_id: str) -> Any: ...

    def claim(self, server_id: str, item: OutboxItem, *, owner: str, now: datetime,
              lease: timedelta = timedelta(seconds=60)) -> bool:
        """Lease an undelivered alert to `owner`; False when another invocation holds or took it."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        until = now + lease
        try:
            self._trip()
            meta = self._table.update_entity(
                {"PartitionKey": item.partition or encode_key(server_id), "RowKey": item.row_key,
                 "lease_owner": owner, "lease_until": until.isoformat()},
                mode=UpdateMode.MERGE, etag=item.etag, match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        item.etag, item.lease_owner, item.lease_until = meta.get("etag"), owner, until
        return True

    def claim_all(self, server_id: str, items: list[OutboxItem], *, owner: str, now: datetime,
                  lease: timedelta = timedelta(seconds=60)) -> bool:
        """Lease several alerts of one server to `owner` in one transaction: all of them, or none."""
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError, UpdateMode

        until = now + lease
        pk = encode_key(server_id)
        try:
            self._trip()
            results = self._table.submit_transaction([
                ("update", {"PartitionKey": pk, "RowKey": i.row_key, "lease_owner": owner,
                            "lease_until": until.isoformat()},
                 {"mode": UpdateMode.MERGE, "etag": i.etag, "match_condition": MatchConditions.IfNotModified})
                for i in items])
        except TableTransactionError as exc:
            if exc.status_code in (409, 412, 404):
                return False
            raise
        for item, result in zip(items, results, strict=True):
            item.etag, item.lease_owner, item.lease_until = (result or {}).get("etag"), owner, until
        return True

    def delivered_to(self, server_id: str, item: OutboxItem, notifier: str) -> None:
        """Note that one notifier has the alert, so a retry for the others does not post it there again."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        item.delivered_to.append(notifier)
        self._trip()
        meta = self._table.update_entity(
            {"PartitionKey": item.partition or encode_key(server_id), "RowKey": item.row_key,
             "delivered_to": json.dumps(item.delivered_to)},
            mode=UpdateMode.MERGE, etag=item.etag, match_condition=MatchConditions.IfNotModified,
        )
        item.etag = meta.get("etag")

    def delivered(self, server_id: str, item: OutboxItem, *, now: datetime) -> None:
        """Remove the outbox row and mark its history row sent, in one transaction."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        pk = item.partition or encode_key(server_id)
        self._trip()
        self._table.submit_transaction([
            ("delete", {"PartitionKey": pk, "RowKey": item.row_key},
             {"etag": item.etag, "match_condition": MatchConditions.IfNotModified}),
            *[("update", {"PartitionKey": pk, "RowKey": key, "alert_status": AlertStatus.SENT.value,
                          "alerted_at": now.isoformat()}, {"mode": UpdateMode.MERGE})
              for key in item.history_row_keys],
        ])
        if item.marked:
            self.index.alert_gone(pk, item.row_key)

    def release(self, server_id: str, item: OutboxItem, *, error: str) -> None:
        """Give a failed alert back so the next delivery of the event (or a sweep) can send it."""
        from azure.data.tables import UpdateMode

        pk = item.partition or encode_key(server_id)
        self._mark(pk, item)
        self._trip()
        self._table.update_entity(
            {"PartitionKey": pk, "RowKey": item.row_key, "lease_owner": "", "marked": True,
             "lease_until": "", "attempts": item.attempts + 1, "last_error": error[:1000]},
            mode=UpdateMode.MERGE,
        )

    def hand_to_sweep(self, server_id: str, item: OutboxItem) -> None:
        """Mark an alert another invocation holds, so the sweep sends it if that invocation died.

        Only the index is written: the row stays as its holder leased it (a write would change the
        ETag its `delivered` is conditional on). If the holder does send it, the sweep finds the row
        gone and removes the marker."""
        self._mark(item.partition or encode_key(server_id), item)

    def _mark(self, partition: str, item: OutboxItem) -> None:
        """An alert the event path could not finish becomes the sweep's: its marker goes in the index."""
        if not item.marked:
            self.index.alert_pending(partition, item.row_key, datetime.now(UTC))
            item.marked = True

    def mark_digest(self, server_id: str, item: OutboxItem) -> None:
        """Over the rate limit: leave the alert for the next digest card, released."""
        from azure.data.tables import UpdateMode

        pk = item.partition or encode_key(server_id)
        self._mark(pk, item)
        self._trip()
        self._table.update_entity({"PartitionKey": pk, "RowKey": item.row_key, "digest": True, "marked": True,
                                   "lease_owner": "", "lease_until": ""}, mode=UpdateMode.MERGE)
        item.digest = True

    def take_slot(self, channel: str, now: datetime, limit: int) -> bool:
        """Count one alert against `channel`'s budget for this minute; False once `limit` is used up."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        self.ensure_table()
        key = {"PartitionKey": RATE_LIMIT, "RowKey": f"{channel}|{now:%Y-%m-%dT%H:%M}"}
        for _ in range(10):
            try:
                self._trip()
                entity = self._table.get_entity(key["PartitionKey"], key["RowKey"])
            except ResourceNotFoundError:
                try:
                    self._trip()
                    self._table.create_entity({**key, "count": 1})
                    return True
                except ResourceExistsError:
                    continue
            if int(entity["count"]) >= limit:
                return False
            try:
                self._trip()
                self._table.update_entity({**key, "count": int(entity["count"]) + 1}, mode=UpdateMode.MERGE,
                                          etag=entity.metadata["etag"], match_condition=MatchConditions.IfNotModified)
                return True
            except ResourceModifiedError:
                continue
        return True  # heavy contention: rather one card too many than a lost slot count loop

    def drop_alerts(self, server_id: str, settings: set[str]) -> int:
        """Remove undelivered alerts about these settings (accepted): their history rows say `suppressed`."""
        from azure.data.tables import UpdateMode

        dropped = 0
        for item in self.load(server_id).outbox:
            if not {r.setting for r in item.alert.records} <= settings:
                continue
            pk = item.partition or encode_key(server_id)
            self._trip()
            self._table.submit_transaction([
                ("delete", {"PartitionKey": pk, "RowKey": item.row_key}),
                *[("update", {"PartitionKey": pk, "RowKey": key, "alert_status": AlertStatus.SUPPRESSED.value},
                   {"mode": UpdateMode.MERGE}) for key in item.history_row_keys],
            ])
            if item.marked:
                self.index.alert_gone(pk, item.row_key)
            dropped += 1
        return dropped

    def pending_alerts(self, now: datetime | None = None) -> list[OutboxItem]:
        """Every undelivered alert of every server (for the sweep): the index's alert markers, then a point
        read of each. With nothing pending this is one query of one partition, whatever the table holds."""
        from azure.core.exceptions import ResourceNotFoundError

        self.ensure_table()
        now = now or datetime.now(UTC)
        items = []
        for marker in self.index.alerts():
            try:
                self._trip()
                item = outbox_item(self._table.get_entity(marker["pk"], marker["row_key"]))
                item.marked = True
                items.append(item)
            except ResourceNotFoundError:
                created = marker.get("created_at")
                if not created or now - datetime.fromisoformat(created) > STALE_AFTER:
                    self.index.alert_gone(marker["pk"], marker["row_key"])  # never landed, or already delivered
        return items

