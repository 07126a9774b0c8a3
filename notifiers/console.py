"""Alerts as one readable block on a text stream, for local runs and the demo."""

from __future__ import annotations

import sys
from typing import TextIO

from drift.model import HistoryRecord


class ConsoleNotifier:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, record: HistoryRecord) -> None:
        stream = self._stream or sys.stdout
        stream.write(
            f"ALERT [{record.severity.upper()}] {record.server}: {record.setting} {record.verdict}\n"
            f"  from:  {record.before if record.before is not None else '(first seen)'}\n"
            f"  to:    {record.after}\n"
            f"  why:   {record.why}\n"
            f"  by:    {record.changed_by} from {record.client_ip or 'unknown IP'} at {record.event_time}\n"
            f"  undo:  {record.remediation}\n"
        )
        stream.flush()
