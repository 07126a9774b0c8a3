"""ARM's read budget, shared by every process of the app through one Table row per subscription.

ARM allows a principal 250 reads at once and 25 a second per subscription. Every process of a
scaled-out Function app reads as the same managed identity, so a bucket per process (as
`readers.TokenBucket` alone would be) lets eight busy processes draw eight times the budget. A
static split (1/N of the budget per process) would be safe but would hold a lone reconcile scan
to 1/40 of the budget at the app's default 40 instances.

Instead the bucket lives in a Table row (`{table}budget`, partition `arm`, row = subscription):
`tokens` and the `stamp` they were counted at. A process *leases* a slice of tokens with an
ETag-conditional update of that row (refill computed from the stamp, capped at `burst`), spends
them locally, and throws away what it has not spent after `lease_seconds`. Why that never
exceeds ARM: every request reaching ARM at time t spends a token deducted from the row within
[t - lease_seconds - d, t], d being the delay between taking a token and ARM counting the
request; the row lets at most `burst + rate * w` tokens out in any window of w seconds, so ARM
sees at most `burst + rate * (w + lease_seconds + d)` requests in any window of w. With the
defaults (225 + 22.5 * 0.5 = 236 of ARM's 250, 22.5 of its 25 a second) that stays inside
ARM's bucket for delays up to 0.6 s.

When the row is empty a process reserves its slice ahead (the row goes below zero, at most
`max_ahead` seconds of refill) and sleeps until the refill covers it; the lease runs from then.
The slice adapts: it doubles while leases run out before they expire (a scan) and shrinks to
what was spent when one expires with tokens left (the event path reads once per event), so
idle processes hold no budget.
If the Table cannot be reached, the process falls back to a static share (`1/fallback_share`
of the budget) until the Table answers again; ARM's 429 and the SDK's retry remain the backstop.
Clocks: the row's stamp is wall-clock time and never moves backwards, so a process whose clock
lags cannot refill it twice; one that runs ahead refills early by its skew (NTP keeps it small).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drift.readers import TokenBucket

log = logging.getLogger(__name__)

PARTITION = "arm"


@dataclass
class _Lease:
    granted: int
    tokens: int
    starts: float  # when the row's refill covers these tokens (now, unless they were reserved ahead)
    expires: float


class SharedBucket:
    """`acquire(subscription)` as `TokenBucket`'s, with the tokens leased from a Table row shared by all processes."""

    def __init__(self, table: Any, *, burst: float = 225, rate: float = 22.5, max_slice: int = 25,
                 lease_seconds: float = 0.5, max_ahead: float = 5.0, fallback_share: int = 40,
                 fallback_seconds: float = 30.0, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.burst, self.rate = burst, rate
        self.max_slice, self.lease_seconds, self.max_ahead = max_slice, lease_seconds, max_ahead
        self._table = table
        self._clock, self._sleep = clock, sleep
        self._leases: dict[str, _Lease] = {}
        self._slice: dict[str, int] = {}
        self._rows: dict[str, tuple[float, float, str | None]] = {}
        self._lock = threading.Lock()
        self._fallback = TokenBucket(burst / fallback_share, rate / fallback_share, clock=clock, sleep=sleep)
        self._fallback_until = 0.0
        self._fallback_seconds = fallback_seconds
        self.waited = 0.0
        self.leases = 0  # successful conditional updates of the row
        self.conflicts = 0  # updates that lost the race to another process (and were retried)
        self.fallbacks = 0

    def acquire(self, key: str) -> None:
        while True:
            with self._lock:
                now = self._clock()
                if now < self._fallback_until:
                    wait = -1.0
                else:
                    lease = self._leases.get(key)
                    if lease is None or lease.tokens == 0 or now >= lease.expires:
                        lease = self._renew(key, now, lease)
                    if lease is None:  # the Table failed: fallback from now on
                        continue
                    if lease.tokens > 0 and now >= lease.starts:
                        lease.tokens -= 1
                        return
                    wait = max(0.0, lease.starts - now)
            if wait < 0:
                self._fallback.acquire(key)
                return
            self.waited += wait
            self._sleep(wait)

    def _renew(self, key: str, now: float, spent: _Lease | None) -> _Lease | None:
        """Lease a new slice for `key` (under the lock); None if the Table failed (fallback engaged)."""
        size = self._slice.get(key, 1)
        if spent is not None and spent.granted:  # double while leases run out; else what the last one saw spent
            size = min(self.max_slice, size * 2) if spent.tokens == 0 else max(1, spent.granted - spent.tokens)
        self._slice[key] = size
        try:
            granted, starts = self._take(key, size)
        except Exception as exc:  # the Table is unreachable or refuses us: a static share keeps us inside ARM's
            self.fallbacks += 1
            self._fallback_until = now + self._fallback_seconds
            log.warning("ARM read budget table unavailable (%s); using 1/%d of the budget for %.0f s",
                        type(exc).__name__, round(self.burst / self._fallback.burst), self._fallback_seconds)
            return None
        lease = _Lease(granted, granted, starts, starts + self.lease_seconds)
        self._leases[key] = lease
        return lease

    def _take(self, key: str, want: int) -> tuple[int, float]:
        """Deduct `want` tokens from the row: (granted, when they may be spent).

        The row may go below zero, up to `max_ahead` seconds of refill: a process then reserves its
        slice ahead and sleeps until the refill covers it, instead of all of them waking at the next
        token and racing for it. A token is spent no earlier than the refill covers it, so ARM sees
        no more than the row's `burst + rate * w` in any window of w seconds (plus the lease time).
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        # The row as this process last wrote it: while no other process writes in between, a lease
        # is one conditional update; a lost race reads the row again.
        seen = self._rows.get(key)
        while True:
            now = self._clock()
            if seen is None:
                try:
                    row = self._table.get_entity(PARTITION, key)
                    seen = (float(row["tokens"]), float(row["stamp"]), row.metadata["etag"])
                except ResourceNotFoundError:  # no row yet (or no table yet)
                    seen = (self.burst, now, None)
            row_tokens, row_stamp, etag = seen
            stamp = max(now, row_stamp)
            tokens = min(self.burst, row_tokens + max(0.0, now - row_stamp) * self.rate)
            granted = min(want, math.floor(tokens + self.rate * self.max_ahead))
            if granted < 1:  # reserved that far ahead already: come back when there is room
                self._rows.pop(key, None)
                return 0, now + (1 - tokens) / self.rate - self.max_ahead
            left = tokens - granted
            entity = {"PartitionKey": PARTITION, "RowKey": key, "tokens": float(left), "stamp": stamp}
            try:
                if etag is None:
                    written = self._table.create_entity(entity)
                else:
                    written = self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                                        match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceExistsError):
                self.conflicts += 1
                seen = None
                self._sleep(random.uniform(0, 0.02))
                continue
            except ResourceNotFoundError:
                if etag is not None:  # the row was deleted: start it again
                    seen = None
                    continue
                self._create_table()
                continue
            self._rows[key] = (left, stamp, written["etag"])
            self.leases += 1
            return granted, stamp + max(0.0, -left / self.rate)

    def _create_table(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self._table.create_table()
