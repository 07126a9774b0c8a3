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

The slice adapts: it doubles while leases run out before they expire (a scan) and halves when
one expires unspent (the event path, one read per event), so idle processes hold no budget.
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
    tokens: int
    expires: float


class SharedBucket:
    """`acquire(subscription)` as `TokenBucket`'s, with the tokens leased from a Table row shared by all processes."""

    def __init__(self, table: Any, *, burst: float = 225, rate: float = 22.5, max_slice: int = 25,
                 lease_seconds: float = 0.5, fallback_share: int = 40, fallback_seconds: float = 30.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.burst, self.rate = burst, rate
        self.max_slice, self.lease_seconds = max_slice, lease_seconds
        self._table = table
        self._clock, self._sleep = clock, sleep
        self._leases: dict[str, _Lease] = {}
        self._slice: dict[str, int] = {}
        self._lock = threading.Lock()
        self._ready = False
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
                    fallback = True
                else:
                    fallback = False
                    lease = self._leases.get(key)
                    if lease is not None and lease.tokens > 0 and now < lease.expires:
                        lease.tokens -= 1
                        return
                    wait = self._renew(key, now, lease)
                    if wait == 0:
                        continue
            if fallback:
                self._fallback.acquire(key)
                return
            self.waited += wait
            self._sleep(wait)

    def _renew(self, key: str, now: float, spent: _Lease | None) -> float:
        """Lease a new slice for `key` (under the lock): 0 when one was granted, else the seconds to wait."""
        size = self._slice.get(key, 1)
        if spent is not None:
            size = min(self.max_slice, size * 2) if spent.tokens == 0 else max(1, size // 2)
        self._slice[key] = size
        try:
            granted, wait, at = self._take(key, size)
        except Exception as exc:  # the Table is unreachable or refuses us: a static share keeps us inside ARM's
            self.fallbacks += 1
            self._fallback_until = now + self._fallback_seconds
            log.warning("ARM read budget table unavailable (%s); using 1/%d of the budget for %.0f s",
                        type(exc).__name__, round(self.burst / self._fallback.burst), self._fallback_seconds)
            return 0.0
        if granted:
            self._leases[key] = _Lease(granted, at + self.lease_seconds)
            return 0.0
        self._leases.pop(key, None)
        return wait

    def _take(self, key: str, want: int) -> tuple[int, float, float]:
        """Deduct up to `want` whole tokens from the row.

        Returns (granted, 0, when) or (0, seconds until a token is there, when)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        self._ensure_table()
        while True:
            now = self._clock()
            try:
                row = self._table.get_entity(PARTITION, key)
            except ResourceNotFoundError:
                row = None
            if row is None:
                tokens, stamp = self.burst, now
            else:
                stamp = max(now, float(row["stamp"]))
                tokens = min(self.burst, float(row["tokens"]) + max(0.0, now - float(row["stamp"])) * self.rate)
            granted = min(want, math.floor(tokens))
            if granted < 1:
                # Wait for a slice rather than one token, jittered: processes that all wake at the next
                # token would mostly lose the race for it and retry.
                return 0, (want - tokens) / self.rate * random.uniform(1.0, 1.5), now
            entity = {"PartitionKey": PARTITION, "RowKey": key, "tokens": float(tokens - granted), "stamp": stamp}
            try:
                if row is None:
                    self._table.create_entity(entity)
                else:
                    self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=row.metadata["etag"],
                                              match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceExistsError):
                self.conflicts += 1
                self._sleep(random.uniform(0, 0.02))
                continue
            self.leases += 1
            return granted, 0.0, now

    def _ensure_table(self) -> None:
        if not self._ready:
            from azure.core.exceptions import ResourceExistsError

            with contextlib.suppress(ResourceExistsError):
                self._table.create_table()
            self._ready = True
