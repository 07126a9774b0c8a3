"""What the stand-in counts and refuses before any handler runs: statistics, the read bucket, faults.

`StandInStats` is a snapshot of reads, writes, polls and throttled reads; `ReadBucket` is ARM's read limit
per subscription (429 with ``Retry-After`` when empty); a `Fault` answers the next matching requests with an
injected error. `TrafficControls` is the part of `ArmStandIn` that sets and applies them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from drift.local.arm.errors import JsonDict
from drift.local.arm.routes import is_poll


@dataclass(frozen=True)
class StandInStats:
    """A snapshot of what the stand-in has answered (admin calls excluded)."""

    reads: int
    writes: int
    requests_by_path: Counter[str]
    throttled: int = 0  # reads refused with 429 by the read bucket
    polls: int = 0  # GETs of long-running operations' polling URLs (not in `reads`)

    def to_json(self) -> JsonDict:
        return {"reads": self.reads, "writes": self.writes, "requests_by_path": dict(self.requests_by_path),
                "throttled": self.throttled, "polls": self.polls}


class ReadBucket:
    """ARM's read limit: a token bucket per subscription (and principal), `burst` deep, refilled at `rate`/s."""

    def __init__(self, burst: float, rate: float) -> None:
        self.burst, self.rate = burst, rate
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}

    def take(self, key: str, now: float) -> float:
        """0 when a read may go ahead, else the seconds until a token is there (the Retry-After)."""
        tokens = min(self.burst, self._tokens.get(key, self.burst) + (now - self._stamp.get(key, now)) * self.rate)
        self._stamp[key] = now
        if tokens >= 1:
            self._tokens[key] = tokens - 1
            return 0.0
        self._tokens[key] = tokens
        return (1 - tokens) / self.rate


@dataclass
class Fault:
    status: int
    remaining: int
    retry_after: float | None
    method: str | None
    path_contains: str | None

    def matches(self, method: str, path_lower: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path_contains or self.path_contains.lower() in path_lower


class TrafficControls:
    """Faults, the read bucket and statistics of `ArmStandIn` (the methods use its state)."""

    _lock: threading.RLock
    _faults: list[Fault]
    _bucket: ReadBucket | None
    _reads: int
    _writes: int
    _throttled: int
    _polls: int
    _by_path: Counter[str]

    def add_fault(
        self,
        *,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching ARM requests with ``status`` and an ARM error body.

        ``method`` and ``path_contains`` (case-insensitive substring of the path) narrow the match.
        ``retry_after`` adds a ``Retry-After`` header (seconds; fractions are sent as such and
        azure-core honours them). Faults are consumed in the order they were added.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(Fault(int(status), int(times), retry_after, method, path_contains))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def stats(self) -> StandInStats:
        """Snapshot: ``reads`` (GETs), ``writes`` (everything else), ``polls``, ``requests_by_path``."""
        with self._lock:
            return StandInStats(self._reads, self._writes, Counter(self._by_path), self._throttled, self._polls)

    def reset_stats(self) -> None:
        with self._lock:
            self._reads = self._writes = self._throttled = self._polls = 0
            self._by_path.clear()

    def limit_reads(self, burst: float = 250, rate: float = 25) -> None:
        """Enforce ARM's read bucket per subscription from now on (429 with Retry-After when empty)."""
        with self._lock:
            self._bucket = ReadBucket(burst, rate)

    def _throttle(self, method: str, raw_path: str) -> float:
        if method not in ("GET", "HEAD") or self._bucket is None:
            return 0.0
        parts = raw_path.strip("/").split("/")
        key = parts[1].lower() if len(parts) > 1 and parts[0].lower() == "subscriptions" else ""
        with self._lock:
            wait = self._bucket.take(key, time.monotonic())
            if wait:
                self._throttled += 1
            return wait

    def _count(self, method: str, raw_path: str) -> None:
        with self._lock:
            if method == "GET" and is_poll(raw_path):
                self._polls += 1
            elif method in ("GET", "HEAD"):
                self._reads += 1
            else:
                self._writes += 1
            self._by_path[f"{method} {raw_path.lower()}"] += 1

    def _take_fault(self, method: str, raw_path: str) -> Fault | None:
        path_lower = raw_path.lower()
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path_lower):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None
