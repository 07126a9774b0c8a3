"""Table keys: how ARM ids and times become partition and row keys (see `drift.store`)."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote, unquote

BASELINE = "baseline|"
HISTORY = "history|"
OUTBOX = BASELINE + "~outbox|"
EXPORT = "export|"  # a commit's history rows not yet in Log Analytics (drift.exports)
MAX_TRANSACTION = 100
GROUPING = "~grouping"  # the lease owner of alerts waiting for their operation's other changes
POSTURE = "posture"  # the alert group of a new server's full posture check
RATE_LIMIT = "~ratelimit"  # partition of the per-minute alert counters
CHECKPOINT = "~reconcile"  # partition of the scan checkpoints, one row per subscription
_MAX_MS = 10**13 - 1
_UNSAFE = re.compile(r"[%|#?\\\x00-\x1f\x7f]")


def encode_key(value: str) -> str:
    """A table key for an ARM id: lower-cased (ids are case-insensitive), `/` shown as `|`.

    Characters the service refuses in keys (`/ \\ # ?`, control characters) and our own `|` and
    `%` are percent-encoded first, so the encoding is reversible.
    """
    escaped = _UNSAFE.sub(lambda m: quote(m.group(0), safe=""), value.strip().strip("/").lower())
    return escaped.replace("/", "|")


def decode_key(key: str) -> str:
    return "/" + unquote(key.replace("|", "/"))


def inverted_ms(when: datetime) -> str:
    return f"{_MAX_MS - int(when.timestamp() * 1000):013d}"
