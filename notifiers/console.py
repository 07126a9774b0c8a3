"""Alerts as readable blocks on a text stream, for local runs and the demo."""

from __future__ import annotations

import sys
from typing import TextIO

from drift.model import Alert


class ConsoleNotifier:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, alert: Alert) -> None:
        stream = self._stream or sys.stdout
        if alert.kind == "resolved":
            record = alert.records[0]
            stream.write(f"RESOLVED {record.server}: {record.setting} is {record.after} again "
                         f"(alert {alert.resolves or '-'}; undone by {record.changed_by} "
                         f"from {record.client_ip or 'unknown IP'} at {record.event_time})\n")
            stream.flush()
            return
        if alert.kind == "posture":
            stream.write(f"ALERT [{alert.severity.upper()}] {alert.server}: new server, "
                         f"{len(alert.records)} gap(s) against the policy\n")
        for record in alert.records:
            stream.write(
                f"{'  - ' if alert.kind == 'posture' else 'ALERT '}[{record.severity.upper()}] {record.server}: "
                f"{record.setting} {record.verdict} ({record.control})\n"
                f"    from:  {record.before if record.before is not None else '(first seen)'}\n"
                f"    to:    {record.after}\n"
                f"    why:   {record.why}\n"
                f"    by:    {record.changed_by} from {record.client_ip or 'unknown IP'} at {record.event_time}\n"
                f"    undo:  {record.remediation}\n"
            )
        stream.flush()
