"""How history is shown: a table for the terminal (long values wrapped, never cut) and CSV for a spreadsheet."""

from __future__ import annotations

import csv
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import IO

from drift.model import HistoryRecord

CHANGE_WIDTH = 60  # the before -> after column; longer values continue on the next lines
SHORT_ID = 8
HEADERS = ["detected", "server", "setting", "verdict", "severity", "before -> after", "by", "from", "event",
           "alert", "ack"]
CHANGE = HEADERS.index("before -> after")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def short_id(event_id: str) -> str:
    return event_id[:SHORT_ID]


def ack_state(record: HistoryRecord) -> str:
    """Who reviewed the row (`acknowledged` is "{who}: {why} ({when})"), or "-"."""
    if not record.acknowledged:
        return "-"
    return record.acknowledged.partition(": ")[0] or "yes"


def printable(text: str) -> str:
    """What a terminal shows as text: a control character (an escape sequence in a caller's display
    name, a newline in a value) is written as its `\\xNN` code instead of acting on the terminal."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def wrap(text: str, width: int = CHANGE_WIDTH) -> list[str]:
    """Lines of at most `width` characters, broken at spaces where possible; nothing is dropped."""
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def format_table(records: Sequence[HistoryRecord], *, change_width: int = CHANGE_WIDTH) -> str:
    if not records:
        return "no drift recorded"
    rows: list[list[str]] = []
    for r in records:
        change = printable(f"{r.before if r.before is not None else '(first seen)'} -> {r.after}")
        first, *rest = wrap(change, change_width)
        cells = [r.detected_at[:19].replace("T", " "), r.server, r.setting, r.verdict, r.severity, first,
                 r.changed_by, r.client_ip or "-", short_id(r.event_id), r.alert_status, ack_state(r)]
        rows.append([printable(c) for c in cells])
        rows += [["", "", "", "", "", line, "", "", "", "", ""] for line in rest]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(HEADERS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def neutralised(value: object) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ (or a tab or CR) is prefixed with '."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def write_csv(records: Iterable[HistoryRecord], out: IO[str]) -> None:
    """Every field of every record, RFC 4180 (quoted where needed, CRLF line ends), header first."""
    names = [f.name for f in fields(HistoryRecord)]
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    for record in records:
        data = record.to_dict()
        writer.writerow([neutralised(data[name]) for name in names])
