"""History rows as rows of the Log Analytics table `MySqlDrift_CL`, and their upload.

The columns are those of `infra/loganalytics-columns.json`, the one list the data collection rule,
the Sentinel rule and the workbook are made from (a test holds `row` to it: infra/ is not deployed
with the app, so the list is not read at run time).

The upload goes through `azure-monitor-ingestion`'s `LogsIngestionClient` (imported on the first
upload, so an event that records nothing never loads it), with the app's credential. The client
splits a list into gzip-compressed calls of at most 1 MiB of JSON itself (`_create_gzip_requests`),
so one batch of rows is one HTTP call until it passes 1 MiB; its own retries are off: a failed call
leaves the rows pending for the sweep instead of holding Event Grid's delivery (`drift.exports`).
What the client counts is the rows' JSON without the array's separators, so a chunk right at the
limit can still be refused with 413: such a chunk is split in two and each half sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from drift.model import HistoryRecord
from drift.ocsf import row_uid, severity_id

log = logging.getLogger(__name__)

DEFAULT_STREAM = "Custom-MySqlDrift_CL"
RETRYABLE = {408, 429, 500, 502, 503, 504}


def _scope(server_id: str) -> tuple[str, str]:
    """(subscription, resource group) of an ARM id (a subscription-level setting has no group)."""
    parts = [p for p in server_id.split("/") if p]
    low = [p.lower() for p in parts]
    sub = parts[low.index("subscriptions") + 1] if "subscriptions" in low[:-1] else ""
    group = parts[low.index("resourcegroups") + 1] if "resourcegroups" in low[:-1] else ""
    return sub.lower(), group


def row(record: HistoryRecord) -> dict[str, Any]:
    """One history row as a row of `MySqlDrift_CL` (strings are never null: Log Analytics shows
    an empty string the same way, and KQL's `isempty` covers both). `RecordId` is the row's OCSF
    `metadata.uid` (and its Event Grid event id): the same history row always gets the same one, so KQL
    de-duplicates what an at-least-once export sent twice, and joins it with the OCSF events."""
    subscription, group = _scope(record.server_id)
    return {
        "TimeGenerated": record.detected_at,
        "RecordId": row_uid(record),
        "EventTime": record.event_time or record.detected_at,
        "SubscriptionId": subscription,
        "ResourceGroup": group,
        "ServerId": record.server_id.lower(),
        "Server": record.server,
        "Setting": record.setting,
        "Before": record.before or "",
        "After": record.after or "",
        "Verdict": record.verdict,
        "Severity": record.severity,
        "SeverityId": severity_id(record.severity),
        "Why": record.why,
        "Control": record.control or "",
        "Remediation": record.remediation or "",
        "ChangedBy": record.changed_by,
        "ClientIp": record.client_ip or "",
        "Operation": record.operation,
        "EventId": record.event_id,
        "CorrelationId": record.correlation_id or "",
        "AlertId": record.alert_key or "",
        "AlertStatus": record.alert_status,
        "FindingId": getattr(record, "finding_id", None) or "",
        "Exemption": record.exemption or "",
    }


@dataclass
class Refused:
    """Rows one call did not take, and why."""

    rows: list[dict[str, Any]]
    status: int | None  # None: no answer (connection, timeout, token)
    message: str
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE


@dataclass
class UploadResult:
    calls: int = 0
    refused: list[Refused] = field(default_factory=list)


def _status(error: Exception) -> int | None:
    status = getattr(error, "status_code", None)
    return int(status) if isinstance(status, int) else None


def _retry_after(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _message(error: Exception) -> str:
    return f"{type(error).__name__}: {getattr(error, 'message', None) or error}"[:500]


class LogsUploader:
    """Uploads rows to one stream of one data collection rule: `calls` counts the HTTP calls made."""

    def __init__(self, endpoint: str, rule_id: str, credential: Any, *, stream: str = DEFAULT_STREAM,
                 connection_verify: Any = True, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.rule_id = rule_id
        self.stream = stream
        self._credential = credential
        self._verify = connection_verify
        self._timeout = timeout
        self._client: Any = None
        self.calls = 0
        self.seconds = 0.0  # spent in uploads, for the bench

    def _logs_client(self) -> Any:
        if self._client is None:
            from azure.monitor.ingestion import LogsIngestionClient

            from drift.transport import client_options

            self._client = LogsIngestionClient(
                self.endpoint, self._credential, retry_total=0, connection_verify=self._verify,
                connection_timeout=self._timeout, read_timeout=self._timeout, **client_options())
        return self._client

    def upload(self, rows: Sequence[dict[str, Any]]) -> UploadResult:
        """Send the rows (one call per 1 MiB); what was not taken comes back in `refused`."""
        import time

        result = UploadResult()
        if rows:
            started = time.perf_counter()
            self._send(list(rows), result)
            self.seconds += time.perf_counter() - started
        return result

    def _send(self, rows: list[dict[str, Any]], result: UploadResult) -> None:
        failed: list[Any] = []

        def count(_request: Any) -> None:
            self.calls += 1
            result.calls += 1

        try:
            self._logs_client().upload(self.rule_id, self.stream, rows, on_error=failed.append,
                                       raw_request_hook=count)
        except Exception as exc:  # before any call (a client that cannot be built): nothing was sent
            result.refused.append(Refused(rows, None, _message(exc)))
            return
        for failure in failed:
            error, chunk = failure.error, list(failure.failed_logs)
            status = _status(error)
            if status == 413 and len(chunk) > 1:
                half = len(chunk) // 2
                log.info("log analytics: a call of %d rows was too large; sending it in two", len(chunk))
                self._send(chunk[:half], result)
                self._send(chunk[half:], result)
                continue
            result.refused.append(Refused(chunk, status, _message(error), _retry_after(error)))
