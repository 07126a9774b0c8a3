"""The index partition: what the sweep, the scan, `history --since` and `ack` read instead of the table.

Every row of a server lives in the server's partition, and a query that names no partition is a
scan of the whole table: a year of history for 5,000 servers would make the every-minute sweep
and the reconcile scan cost what the table holds, not what they need. So one partition, `~index`,
keeps small marker rows, read by key range:

- `alert|{server}|{outbox row}`: an alert the sweep looks after: its delivery failed, it waits for
  the digest or for its group (an alert the event path sends at once never gets one: if that
  invocation dies, Event Grid delivers the event again and the retry finds the alert in the
  server's outbox);
- `server|{subscription}|{server}`: a watched server with baselines (the scan's known servers);
- `at|{inverted ms}|…|{server}`: a copy of each history row, newest first (`history --since` reads
  one key range of it, whatever the number of servers);
- `event|{event id}|{server}`: the server the event was recorded on (`ack EVENT_ID`);
- `export|{server}|{export marker}`: history rows not yet in Log Analytics (`drift.exports`).

A marker cannot share a transaction with the rows it points at (a transaction holds one
partition), so the index batch goes out beside the commit, and markers are removed only after
the rows they point at are gone. Nothing in the index is trusted on its own: a marker or copy
whose rows never landed (the commit lost a race, or the process died) points at nothing, so
readers skip it, the sweep deletes such `alert` markers once they are older than a lease, and
the scan deletes `server` markers of servers with nothing open. An index write that fails after
its commit went through fails the invocation; Event Grid delivers the event again and the retry,
finding the event already recorded, writes the index rows again (`BaselineStore.reindex`).

A history copy starts as not `landed`: the first reader checks it against the row itself and
marks it (so the event path pays no write for it), and a copy of an alert still pending is
checked again, as its row moves on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from drift.keys import encode_key

INDEX = "~index"
ALERT, SERVER, COPY, EVENT, EXPORT = "alert|", "server|", "at|", "event|", "export|"
NAME = "name|"  # name|{lower-cased server name}|{partition}: a name to its servers without scanning the table
STALE_AFTER = timedelta(minutes=2)  # a marker older than this whose row is missing will never see it land


def _name_key(server_id: str, partition: str) -> str:
    return f"{NAME}{encode_key(server_id.rstrip('/').rsplit('/', 1)[-1].lower())}|{partition}"


def _subscription(partition: str) -> str:
    parts = partition.split("|")
    return parts[1] if len(parts) > 1 else ""


def copy_key(partition: str, history_row_key: str) -> str:
    """`at|{inverted ms}|{setting}|{event}|{i}|{partition}`: time-ordered across every server."""
    return f"{COPY}{history_row_key.split('|', 1)[1]}|{partition}"


def event_key(event_id: str) -> str:
    return encode_key(event_id)[:200]


class StoreIndex:
    def __init__(self, table: Any, trip: Callable[[], None]) -> None:
        self._table = table
        self._trip = trip
        self._known: set[str] = set()  # server and day markers this process has written already
        self._lock = threading.Lock()

    def before_commit(self, partition: str, server_id: str, *, now: datetime, event_ids: Iterable[str],
                      outbox_keys: Iterable[str], history: Iterable[tuple[str, dict[str, Any]]] = (),
                      export_keys: Iterable[str] = (),
                      findings: dict[str, dict[str, Any]] | None = None) -> list[str]:
        """Write the markers of a commit about to happen, in one transaction of the index partition.

        `history` is (row key, entity) of the history rows the commit writes; their copies are
        returned as row keys. `findings` are the markers of its findings (`drift.findings`), which
        replace what their keys held."""
        from azure.data.tables import UpdateMode

        rows: dict[str, dict[str, Any]] = {}
        for key in outbox_keys:
            rows[f"{ALERT}{partition}|{key}"] = {"pk": partition, "row_key": key, "created_at": now.isoformat()}
        for key in export_keys:
            rows[f"{EXPORT}{partition}|{key}"] = {"pk": partition, "row_key": key, "created_at": now.isoformat()}
        for event_id in event_ids:
            rows[f"{EVENT}{event_key(event_id)}|{partition}"] = {"pk": partition}
        copies = []
        for row_key, entity in history:
            copy = copy_key(partition, row_key)
            rows[copy] = {**{k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey")},
                          "pk": partition, "row_key": row_key, "landed": False, "created_at": now.isoformat()}
            copies.append(copy)
        lasting: dict[str, dict[str, Any]] = {}
        if not partition.startswith("~"):  # a server's partition (`~…` are the app's own: settings, index)
            lasting[f"{SERVER}{_subscription(partition)}|{partition}"] = {"pk": partition, "server_id": server_id}
            lasting[_name_key(server_id, partition)] = {"pk": partition, "server_id": server_id}
        with self._lock:
            rows.update({k: v for k, v in lasting.items() if k not in self._known})
        replaced = set(findings or {})
        rows.update(findings or {})
        for start in range(0, len(rows), 100):
            self._trip()
            batch = list(rows.items())[start:start + 100]
            self._table.submit_transaction([("upsert", {"PartitionKey": INDEX, "RowKey": k, **v},
                                             {"mode": UpdateMode.REPLACE if k in replaced else UpdateMode.MERGE})
                                            for k, v in batch])
        with self._lock:
            self._known |= set(lasting)
        return copies

    def copies_since(self, since: datetime) -> list[Any]:
        """History copies detected at `since` or later, newest first: one key range."""
        from drift.keys import inverted_ms

        self._trip()
        return list(self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": INDEX, "lo": COPY, "hi": f"{COPY}{inverted_ms(since)}|~"}))

    def copies_where(self, condition: str, parameters: dict[str, Any], select: list[str]) -> list[Any]:
        """History copies whose properties match `condition`, an OData filter over `parameters` (spaces
        around each @name; pk, lo and hi are taken). One partition, but the service reads every copy of
        it: for a person's question, not for the event path."""
        self._trip()
        return list(self._table.query_entities(
            f"PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and ( {condition} )",
            parameters={**parameters, "pk": INDEX, "lo": COPY, "hi": COPY[:-1] + chr(ord(COPY[-1]) + 1)},
            select=select))

    def mark_copy(self, partition: str, row_key: str, values: dict[str, Any]) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            self._trip()
            self._table.update_entity({"PartitionKey": INDEX, "RowKey": copy_key(partition, row_key), **values},
                                      mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            pass

    def drop_copy(self, copy: str) -> None:
        self._delete(copy)

    def drop(self, row_key: str) -> None:
        """Remove a marker whose rows are gone (a closed finding's, after its commit)."""
        self._delete(row_key)

    def _range(self, prefix: str, select: list[str] | None = None) -> list[Any]:
        self._trip()
        return list(self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": INDEX, "lo": prefix, "hi": prefix[:-1] + chr(ord(prefix[-1]) + 1)}, select=select))

    def _delete(self, row_key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._trip()
            self._table.delete_entity(INDEX, row_key)
        except ResourceNotFoundError:
            pass

    def alerts(self) -> list[Any]:
        """Markers of undelivered alerts (PartitionKey/RowKey of the outbox row in `pk`/`row_key`)."""
        return self._range(ALERT)

    def alert_pending(self, partition: str, outbox_key: str, now: datetime) -> None:
        """Mark an alert the sweep must look after (its delivery failed, waits for a digest or a group)."""
        from azure.data.tables import UpdateMode

        self._trip()
        self._table.upsert_entity({"PartitionKey": INDEX, "RowKey": f"{ALERT}{partition}|{outbox_key}", "pk": partition,
                                   "row_key": outbox_key, "created_at": now.isoformat()}, mode=UpdateMode.MERGE)

    def alert_gone(self, partition: str, outbox_key: str) -> None:
        self._delete(f"{ALERT}{partition}|{outbox_key}")

    def exports(self) -> list[Any]:
        """Copies of the export markers of commits whose rows are not in Log Analytics yet."""
        return self._range(EXPORT)

    def mark_exports(self, marks: dict[tuple[str, str], dict[str, Any]]) -> None:
        """Note on export copies, keyed by (partition, marker), why their upload failed: one transaction a 100."""
        from azure.data.tables import UpdateMode

        items = [({"PartitionKey": INDEX, "RowKey": f"{EXPORT}{pk}|{key}", "pk": pk, "row_key": key, **values})
                 for (pk, key), values in marks.items()]
        for start in range(0, len(items), 100):
            self._trip()
            batch = items[start:start + 100]
            self._table.submit_transaction([("upsert", e, {"mode": UpdateMode.MERGE}) for e in batch])

    def exports_gone(self, keys: list[tuple[str, str]]) -> None:
        """Remove export copies (their rows went out, or their commit never landed): one transaction a 100,
        one delete each if one of them was gone already (a transaction fails as a whole)."""
        from azure.data.tables import TableTransactionError

        row_keys = [f"{EXPORT}{pk}|{key}" for pk, key in keys]
        for start in range(0, len(row_keys), 100):
            chunk = row_keys[start:start + 100]
            try:
                self._trip()
                self._table.submit_transaction([("delete", {"PartitionKey": INDEX, "RowKey": k}) for k in chunk])
            except TableTransactionError:
                for key in chunk:
                    self._delete(key)

    def servers(self, subscription_id: str) -> list[tuple[str, str]]:
        """(server id, partition) of every server marked in one subscription: one row per server."""
        return [(e["server_id"], e["pk"]) for e in self._range(f"{SERVER}{subscription_id.lower()}|",
                                                                ["server_id", "pk"])]

    def all_servers(self) -> list[str]:
        """Ids of every marked server, of every subscription: one key range (the console's fleet)."""
        return [e["server_id"] for e in self._range(SERVER, ["server_id"]) if e.get("server_id")]

    def server_of_alert(self, alert_key: str) -> str | None:
        """The server whose history rows an alert carried, from the history copies: one filtered key range."""
        self._trip()
        for e in self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and alert_key eq @key",
                parameters={"pk": INDEX, "lo": COPY, "hi": COPY[:-1] + "}", "key": alert_key},
                select=["server_id"], results_per_page=1):
            return str(e["server_id"])
        return None

    def servers_named(self, name: str) -> list[str]:
        """Ids of the marked servers with this name, in any case: one key range of the name's markers."""
        return [e["server_id"] for e in self._range(f"{NAME}{encode_key(name.strip().lower())}|", ["server_id"])
                if e.get("server_id")]

    def server_gone(self, partition: str, server_id: str | None = None) -> None:
        self._delete(f"{SERVER}{_subscription(partition)}|{partition}")
        if server_id:
            self._delete(_name_key(server_id, partition))
        with self._lock:
            self._known = {k for k in self._known if not k.endswith(f"|{partition}")}

    def partitions_of_event(self, event_id: str) -> list[str]:
        return sorted({e["pk"] for e in self._range(f"{EVENT}{event_key(event_id)}|", ["pk"])})
