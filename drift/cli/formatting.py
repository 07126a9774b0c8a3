"""How history is shown in a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from drift.model import HistoryRecord


def format_table(records: Sequence[HistoryRecord]) -> str:
    if not records:
        return "no drift recorded"
    headers = ["detected", "server", "setting", "verdict", "severity", "before -> after", "by", "alert"]
    rows = []
    for r in records:
        change = f"{r.before if r.before is not None else '(first seen)'} -> {r.after}"
        rows.append([r.detected_at[:19].replace("T", " "), r.server, r.setting, r.verdict, r.severity,
                     change if len(change) <= 70 else change[:67] + "...", r.changed_by, r.alert_status])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
