"""The export markers of a server's partition (`drift.exports`): written with a commit's history rows,
read back by the upload, removed once Log Analytics has the rows. A mixin of `BaselineStore`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from drift.entities import unpack
from drift.keys import EXPORT
from drift.model import HistoryRecord


class ExportRows:
    _table: Any
    _trip: Callable[[], None]
    exports = False  # write export markers with history rows (the Log Analytics export is on)

    def _export_marker(self, partition: str, history_keys: list[str], now: datetime,
                       operations: list[tuple[Any, ...]]) -> str | None:
        """Add a commit's export marker to its operations (when the export is on and it records history)."""
        if not self.exports or not history_keys:
            return None
        marker = EXPORT + min(history_keys)
        operations.append(("create", {"PartitionKey": partition, "RowKey": marker, "created_at": now.isoformat(),
                                      "history_row_keys": json.dumps(sorted(history_keys))}))
        return marker

    def export_rows(self, partition: str, marker: str) -> list[tuple[str, HistoryRecord]] | None:
        """The history rows an export marker names (row key, record), or None when the marker is gone:
        a point read and one range query of the partition."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._trip()
            keys = json.loads(self._table.get_entity(partition, marker)["history_row_keys"])
        except ResourceNotFoundError:
            return None
        self._trip()
        entities = self._table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey le @hi",
                                              parameters={"pk": partition, "lo": keys[0], "hi": keys[-1]})
        wanted = set(keys)
        return [(e["RowKey"], HistoryRecord.from_dict(unpack(e))) for e in entities if e["RowKey"] in wanted]

    def export_done(self, partition: str, marker: str) -> None:
        """The marker's rows are in Log Analytics."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._trip()
            self._table.delete_entity(partition, marker)
        except ResourceNotFoundError:
            pass
