"""Every history row to Log Analytics, at least once: the export markers, the batch, the sweep.

A commit that writes history rows writes, in the same transaction, one *export marker* in the
server's partition (`export|{first history row key}`, naming the commit's history rows): if the
history is there, so is the promise to export it. The index batch that goes out beside the
commit carries a copy of the marker in `~index` (`export|{partition}|{marker}`), at no extra round
trip. The rows go out once per handled batch (`LogExporter.batch`: every commit of a
`handle_many` joins one upload, one HTTP call until 1 MiB); after the upload the marker is
deleted, then its index copy.

Why the index copy is written with every commit, not only when an upload fails: a process that
dies between its commit and its upload has no chance to write anything, and not every commit
comes again (a scan's server is done, an `accept` was a CLI run); with the copy written up front,
the sweep finds what such a process left. Its cost is one row in a transaction that goes out
anyway. The sweep reads the `export|` range of `~index`, one query of one page when nothing is
pending; a copy younger than a lease belongs to an invocation still at work and is left alone.

Failures. The history is committed, so an upload that fails does not fail the event (Event Grid
would deliver it again and re-read ARM just to export): the rows stay pending and the sweep sends
them. A retryable failure (no answer, 408, 429 with its Retry-After, 5xx) is tried again by every
sweep, after the Retry-After. A deterministic one (400, 401, 403, 404, a 413 for a single row)
counts an attempt and waits 1, 2, 4, 8 minutes before the next (a role assignment can take that
long to apply); after `max_attempts` the marker is *parked*: the sweep no longer sends it and
says, once per run, how many are parked and why. Removing `parked` from the index marker (or
fixing the rule and running `mysql-drift export retry`) sends them again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from drift.model import HistoryRecord

if TYPE_CHECKING:
    from drift.loganalytics import LogsUploader, Refused

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)  # an index copy younger than this belongs to the invocation that wrote it
STALE_AFTER = timedelta(minutes=2)  # a copy whose marker is missing this long after will never see it
REFUSED_WAIT = timedelta(minutes=1)  # before a refused upload is tried again; doubles with each attempt


@dataclass
class Pending:
    """The history rows of one commit, not yet in Log Analytics."""

    partition: str
    marker: str
    history: list[tuple[str, HistoryRecord]]
    attempts: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return self.partition, self.marker


_batch: ContextVar[list[Pending] | None] = ContextVar("drift_export_batch", default=None)


def note(partition: str, marker: str, history: list[tuple[str, HistoryRecord]]) -> None:
    """A commit landed with these history rows: the batch being handled uploads them at its end.
    Outside a batch nothing happens here; the marker waits for the sweep."""
    batch = _batch.get()
    if batch is not None:
        batch.append(Pending(partition, marker, history))


@dataclass
class Flushed:
    rows: int = 0
    calls: int = 0
    exported: int = 0  # commits whose rows all went out
    retrying: int = 0
    refused: int = 0
    parked: int = 0
    errors: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


class LogExporter:
    """Uploads the history rows of the store's commits; `uploader` None means the export is off."""

    def __init__(self, store: Any, uploader: LogsUploader | None, *, max_attempts: int = 5,
                 clock: Any = _now) -> None:
        self.store = store
        self.uploader = uploader
        self.max_attempts = max_attempts
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.uploader is not None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Collect the commits made inside, and upload their rows in one go at the end. Nested
        batches join the outermost one; the upload happens even when the body raised (what was
        committed must go out), and never raises itself."""
        if not self.enabled or _batch.get() is not None:
            yield
            return
        pending: list[Pending] = []
        token = _batch.set(pending)
        try:
            yield
        finally:
            _batch.reset(token)
            if pending:
                try:
                    self.flush(pending)
                except Exception:  # the history is committed; the sweep finds the markers
                    log.exception("log analytics export failed; the sweep will send the rows")

    def flush(self, pending: list[Pending]) -> Flushed:
        """Upload the rows of these commits in one upload; remove the markers of those that went out,
        and note on the index copies of the others why not."""
        from drift.loganalytics import row

        assert self.uploader is not None
        out = Flushed()
        rows, owner = [], {}
        for item in pending:
            for _, record in item.history:
                values = row(record)
                rows.append(values)
                owner[values["RecordId"]] = item.key
        out.rows = len(rows)
        result = self.uploader.upload(rows)
        out.calls = result.calls
        failed: dict[tuple[str, str], Refused] = {}
        for refused in result.refused:
            for values in refused.rows:
                failed.setdefault(owner[values["RecordId"]], refused)
        done = [p for p in pending if p.key not in failed]
        for item in done:
            self.store.export_done(item.partition, item.marker)
        self.store.index.exports_gone([p.key for p in done])
        out.exported = len(done)
        if failed:
            self._note_failures([p for p in pending if p.key in failed], failed, out)
        return out

    def _note_failures(self, items: list[Pending], failed: dict[tuple[str, str], Refused], out: Flushed) -> None:
        now = self.clock()
        marks: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items:
            refused = failed[item.key]
            attempts = item.attempts + (0 if refused.retryable else 1)
            parked = attempts >= self.max_attempts
            wait = (timedelta(seconds=refused.retry_after) if refused.retry_after
                    else REFUSED_WAIT * 2 ** (attempts - 1) if not refused.retryable else None)
            marks[item.key] = {
                "attempts": attempts, "parked": parked, "failed_at": now.isoformat(),
                "last_status": refused.status or 0, "last_error": refused.message[:1000],
                "not_before": (now + wait).isoformat() if wait else "",
            }
            if refused.retryable:
                out.retrying += 1
            elif parked:
                out.parked += 1
            else:
                out.refused += 1
        self.store.index.mark_exports(marks)
        kinds = sorted({f"{r.status or 'no answer'} {r.message}"[:300] for r in failed.values()})
        out.errors = kinds
        rows = sum(len(i.history) for i in items)
        log.warning("log analytics: %d row(s) of %d commit(s) not taken (%s): %d left for the next sweep, "
                    "%d refused (attempts count toward %d), %d parked", rows, len(items), "; ".join(kinds),
                    out.retrying, out.refused, self.max_attempts, out.parked)

    def sweep(self) -> dict[str, int]:
        """Upload what the event path did not: failed uploads, and commits whose process died before
        its upload. One query when nothing is pending."""
        if not self.enabled:
            return {}
        now = self.clock()
        markers = self.store.index.exports()
        parked = [m for m in markers if m.get("parked")]
        if parked:
            last = parked[-1]
            log.warning("log analytics: %d export(s) parked after %d refused uploads (last: %s %s); fix the data "
                        "collection rule or the role, then `mysql-drift export retry`", len(parked),
                        self.max_attempts, last.get("last_status"), str(last.get("last_error", ""))[:300])
        pending, gone = [], []
        for marker in markers:
            if marker.get("parked") or not _due(marker, now):
                continue
            history = self.store.export_rows(marker["pk"], marker["row_key"])
            if history is None:
                created = marker.get("created_at")
                if not created or now - datetime.fromisoformat(created) > STALE_AFTER:
                    gone.append((marker["pk"], marker["row_key"]))  # never landed, or already exported
                continue
            pending.append(Pending(marker["pk"], marker["row_key"], history, int(marker.get("attempts") or 0)))
        self.store.index.exports_gone(gone)
        flushed = self.flush(pending) if pending else Flushed()
        return {"export_markers": len(markers), "export_pending": len(pending), "exported": flushed.exported,
                "export_rows": flushed.rows, "export_calls": flushed.calls, "export_retrying": flushed.retrying,
                "export_refused": flushed.refused, "export_parked": len(parked) + flushed.parked}

    def retry_parked(self) -> int:
        """Give parked exports back to the sweep (after the rule or the role was fixed)."""
        parked = [m for m in self.store.index.exports() if m.get("parked")]
        self.store.index.mark_exports({(m["pk"], m["row_key"]): {"parked": False, "attempts": 0} for m in parked})
        return len(parked)


def _due(marker: dict[str, Any], now: datetime) -> bool:
    not_before = marker.get("not_before")
    if not_before and datetime.fromisoformat(not_before) > now:
        return False
    if marker.get("failed_at"):
        return True
    created = marker.get("created_at")
    return not created or now - datetime.fromisoformat(created) >= LEASE
