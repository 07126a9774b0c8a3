"""A scan's progress on stderr, so that stdout stays the result.

On a terminal, a bar redrawn in place; otherwise (a log file, CI, a pipe) whole lines, one every
`every` servers or `seconds` seconds and one at the end, which is what survives in a log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR = 30


class ScanProgress:
    def __init__(self, stream: TextIO, *, every: int = 50, seconds: float = 10.0, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.every, self.seconds, self.clock = every, seconds, clock
        self._subscription: str | None = None
        self._started = self._shown_at = 0.0
        self._shown_done = -1
        self._open_bar = False

    def __call__(self, subscription: str, done: int, total: int) -> None:
        now = self.clock()
        if subscription != self._subscription:
            self.close()
            self._subscription, self._started, self._shown_done = subscription, now, -1
        finished = done >= total
        if self.tty:
            if finished or now - self._shown_at >= 0.1 or self._shown_done < 0:
                self._bar(subscription, done, total, now)
        elif (finished or self._shown_done < 0 or done - self._shown_done >= self.every
              or now - self._shown_at >= self.seconds):
            self._line(subscription, done, total, now)

    def _bar(self, subscription: str, done: int, total: int, now: float) -> None:
        filled = BAR if total == 0 else BAR * done // total
        self.stream.write(f"\rscan {subscription[:8]} [{'#' * filled}{'.' * (BAR - filled)}] {done}/{total} servers "
                          f"{now - self._started:.0f}s")
        self._open_bar = done < total
        if not self._open_bar:
            self.stream.write("\n")
        self.stream.flush()
        self._shown_at, self._shown_done = now, done

    def _line(self, subscription: str, done: int, total: int, now: float) -> None:
        self.stream.write(f"scan {subscription}: {done}/{total} servers checked ({now - self._started:.0f}s)\n")
        self.stream.flush()
        self._shown_at, self._shown_done = now, done

    def close(self) -> None:
        """End a bar left half-drawn (the scan stopped early), so what follows starts on its own line."""
        if self._open_bar:
            self.stream.write("\n")
            self.stream.flush()
            self._open_bar = False
