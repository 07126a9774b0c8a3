"""Reads this process made a moment ago, so a burst of events about one setting costs one ARM read.

A deployment that rewrites a server's parameters fires one event per write, and Event Grid may
deliver them seconds later, all at once. Each event only says "look again"; the state always comes
from ARM. A read that *began after* an event's time already shows what that event wrote, so it
covers the event: its answer is reused instead of asking ARM again.

Two conditions keep that safe:
- the read began at least `margin` after the event's time, so a clock of ours running ahead of
  ARM's cannot make a read taken before the write look like one taken after it;
- the read began after the baseline it is compared with was committed, or it shows that very
  baseline: a reused read never replaces a state with an older one (the commit is still
  conditional on that baseline's ETag).

The memory is per process and bounded (`capacity` entries, `ttl` seconds); a scale-out of the
Function has one per instance, so a burst costs at most one read per pair and instance.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class _Read:
    started: datetime
    data: Any


class RecentReads:
    def __init__(self, *, capacity: int = 2_000, ttl: timedelta = timedelta(minutes=5),
                 margin: timedelta = timedelta(seconds=2)) -> None:
        self.capacity, self.ttl, self.margin = capacity, ttl, margin
        self._reads: OrderedDict[tuple[str, str], _Read] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def covering(self, server_id: str, read: str, *, event_time: datetime, baseline_at: datetime | None,
                 now: datetime, shows_baseline: Callable[[Any], bool] = lambda _data: False) -> Any | None:
        """The answer of a read that covers an event of `event_time`, or None (then read ARM)."""
        found = self.covering_read(server_id, read, event_time=event_time, baseline_at=baseline_at, now=now,
                                   shows_baseline=shows_baseline)
        return None if found is None else found.data

    def covering_read(self, server_id: str, read: str, *, event_time: datetime, baseline_at: datetime | None,
                      now: datetime, shows_baseline: Callable[[Any], bool] = lambda _data: False) -> _Read | None:
        """`covering`, with the time the read began (what the state it shows was read at)."""
        with self._lock:
            found = self._reads.get((server_id.lower(), read))
            if found is None or now - found.started > self.ttl:
                return None
            if found.started < event_time + self.margin:
                return None
            if baseline_at is not None and found.started <= baseline_at and not shows_baseline(found.data):
                return None
            self.hits += 1
            return found

    def remember(self, server_id: str, read: str, started: datetime, data: Any) -> None:
        key = (server_id.lower(), read)
        with self._lock:
            known = self._reads.get(key)
            if known is not None and known.started >= started:
                return
            self._reads[key] = _Read(started, data)
            self._reads.move_to_end(key)
            while len(self._reads) > self.capacity:
                self._reads.popitem(last=False)
