"""CSV and JSON of what a page shows.

CSV cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR at the start:
a tag value or a caller's name can be `=HYPERLINK(...)`) are prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from drift.console.data import Fleet, ServerView

if TYPE_CHECKING:
    from drift.findings import Finding

FINDING_COLUMNS = ["id", "server", "server_id", "setting", "status", "severity", "opened_at", "updated_at", "before",
                   "after", "changed_by", "client_ip", "event_id", "correlation_id", "alert_keys", "why",
                   "remediation", "control", "acknowledged", "closed_by", "closed_at", "closed_via", "close_reason"]
HISTORY_COLUMNS = ["detected_at", "server", "server_id", "setting", "before", "after", "verdict", "severity",
                   "changed_by", "client_ip", "event_id", "event_time", "operation", "correlation_id",
                   "alert_status", "alert_key", "acknowledged", "why", "remediation", "control", "exemption"]


def _cell(value: Any) -> str:
    text = "" if value is None else " ".join(value) if isinstance(value, list) else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue().encode("utf-8")


def finding_dict(f: Finding) -> dict[str, Any]:
    return {k: v for k, v in asdict(f).items()}


def fleet(data: Fleet, fmt: str) -> bytes:
    """The grid: one row per server shown, its worst open severity and each setting's."""
    if fmt == "json":
        return json.dumps({
            "summary": dict(data.summary()), "servers_total": data.servers_total,
            "servers": [{"server_id": r.server_id, "server": r.server, "worst": r.worst,
                         "settings": {s: r.cell(s) for s in data.settings if r.cell(s)}} for r in data.rows],
            "findings": [finding_dict(f) for f in data.findings],
        }, indent=2).encode("utf-8")
    return _csv(["server", "server_id", "worst", *data.settings],
                [[r.server, r.server_id, r.worst or "", *[r.cell(s) or "" for s in data.settings]] for r in data.rows])


def server(view: ServerView, fmt: str) -> bytes:
    """The timeline shown (history rows, newest first); the JSON adds the findings and current settings."""
    if fmt == "json":
        return json.dumps({"server_id": view.server_id, "server": view.server,
                           "current": dict(view.current), "findings": [finding_dict(f) for f in view.findings],
                           "timeline": [r.to_dict() for r in view.timeline]}, indent=2).encode("utf-8")
    return _csv(HISTORY_COLUMNS, [[getattr(r, c) for c in HISTORY_COLUMNS] for r in view.timeline])


def finding(f: Finding, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(finding_dict(f), indent=2).encode("utf-8")
    data = finding_dict(f)
    return _csv(FINDING_COLUMNS, [[data.get(c) for c in FINDING_COLUMNS]])
