"""The contract check: every exchange and event of the stand-in, judged by the official spec.

A response is checked against the schema its operation declares for its status (``default`` for
errors); a request body the stand-in accepted (2xx) against the operation's body parameter; a PUT's
path values against the spec's patterns; a 201/202 of a long-running operation must say where to
poll; a polling answer is checked as what it stands for (the status monitor, ``OperationResults_Get``
or the write's final schema). Event Grid events are checked against the ``Resource*Data``
definitions of ``eventgrid-microsoft-resources-2018-01-01.json``.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from drift.local.spec import SpecBook
from drift.local.traffic import Exchange

EVENTGRID_SPEC = "eventgrid-microsoft-resources-2018-01-01.json"
# The Event Grid event schema's envelope (the data-plane spec above defines only `data`): the fields of
# the official examples in eventgrid/event-grid-schema/, all but `topic` (Event Grid sets it) required.
EVENT_ENVELOPE = {"data", "dataVersion", "eventTime", "eventType", "id", "metadataVersion", "subject", "topic"}
JsonDict = dict[str, Any]


class ContractCheck:
    """Collects what the stand-in does and tells what the spec would not allow."""

    def __init__(self, book: SpecBook) -> None:
        self.book = book
        self.exchanges: list[Exchange] = []
        self.events: list[JsonDict] = []
        self._lock = threading.Lock()
        self._by_id = {op.operation_id: op for op in book.operations()}

    def record_exchange(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def record_event(self, event: JsonDict) -> None:
        with self._lock:
            self.events.append(event)

    def violations(self) -> Counter[str]:
        """Every distinct violation of what was recorded, with how often it happened."""
        with self._lock:
            exchanges, events = list(self.exchanges), list(self.events)
        found: Counter[str] = Counter()
        for exchange in exchanges:
            found.update(self.exchange_errors(exchange))
        for event in events:
            found.update(self.event_errors(event))
        return found

    # ---- judging one thing ------------------------------------------------------------

    def exchange_errors(self, ex: Exchange) -> list[str]:
        where = f"{ex.method} {_shape(ex.path)} -> {ex.status}"
        if ex.poll_of is not None:
            return [f"{where}: {e}" for e in self._poll_errors(ex)]
        found = self.book.find(ex.method, ex.path, ex.api_version)
        if found is None:
            return [] if ex.status >= 400 else [f"{where}: no operation in the spec (api-version {ex.api_version})"]
        op, values = found
        errors = op.response_errors(ex.status, ex.response_body)
        if 200 <= ex.status < 300:
            if ex.method in ("PUT", "PATCH", "POST"):
                errors += op.request_errors(ex.request_body)
            if ex.method == "PUT":
                errors += [f"path {name}: {message}" for name, message in op.path_errors(values)]
            if op.long_running and ex.status in (201, 202):
                headers = {k.lower() for k in ex.response_headers}
                if not headers & {"azure-asyncoperation", "location"}:
                    errors.append(f"{op.operation_id} {ex.status} without Azure-AsyncOperation or Location")
        return [f"{where}: {e}" for e in errors]

    def _poll_errors(self, ex: Exchange) -> list[str]:
        write = self._by_id.get(ex.poll_of or "")
        if write is None:
            return [f"polls an operation the spec does not have: {ex.poll_of}"]
        if "/azureasyncoperation/" in ex.path.lower():
            return self.book.status_monitor_errors(ex.response_body, f"status of {write.operation_id}")
        if ex.status == 202:
            return [] if ex.response_body is None else [f"{write.operation_id} in progress has a body"]
        schema = write.final_state_schema
        if schema is not None:
            return self.book.definition_errors(*schema, ex.response_body, f"result of {write.operation_id}")
        results = self._by_id["OperationResults_Get"]
        return results.response_errors(ex.status, ex.response_body)

    def event_errors(self, event: JsonDict) -> list[str]:
        kind = str(event.get("eventType", "")).rsplit(".", 1)[-1]  # ResourceWriteSuccess
        definition = f"{kind}Data"
        if definition not in self.book.documents[EVENTGRID_SPEC]["definitions"]:
            return [f"event type {event.get('eventType')!r} is not in {EVENTGRID_SPEC}"]
        what = f"{kind} {(event.get('data') or {}).get('operationName', '?')}"
        errors = [f"{what}: envelope field {k!r} is not Event Grid's" for k in sorted(set(event) - EVENT_ENVELOPE)]
        errors += [f"{what}: envelope lacks {k!r}" for k in sorted(EVENT_ENVELOPE - {"topic"} - set(event))]
        return errors + self.book.definition_errors(EVENTGRID_SPEC, definition, event.get("data"), what)


def _shape(path: str) -> str:
    """A path with names blurred, so one violation is listed once however many servers showed it."""
    parts = path.split("/")
    keep = {"subscriptions", "resourcegroups", "providers", "locations"}
    out = []
    for i, part in enumerate(parts):
        if i > 0 and parts[i - 1].lower() in keep | {"flexibleservers", "firewallrules", "configurations",
                                                       "administrators", "diagnosticsettings",
                                                       "privateendpointconnections", "azureasyncoperation",
                                                       "operationresults", "advancedthreatprotectionsettings"}:
            out.append("{}" if parts[i - 1].lower() not in ("providers",) else part)
        else:
            out.append(part)
    return "/".join(out)


__all__ = ["EVENTGRID_SPEC", "EVENT_ENVELOPE", "ContractCheck"]
