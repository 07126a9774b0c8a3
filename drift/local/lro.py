"""Long-running operations as the spec declares them, and the facts the stand-in takes from the spec.

``spec_facts.json`` (written by ``python -m drift.local.spec FIXTURES --also tests/specs``, kept equal to the official
spec by a test) says for every operation whether it is long-running, its ``final-state-via``, the
statuses it answers and the headers each declares, and the patterns of its path values. The stand-in
runs every operation at once, as before; :class:`LongRunningOperations` then turns a finished
long-running write into what Azure answers: ``201`` (a PUT that created, where the spec lists 201)
or ``202``, with ``Azure-AsyncOperation`` and/or ``Location`` (the headers the spec declares for
that status; where it declares none, the one its ``final-state-via`` reads), and serves the polling
URLs:

* ``.../locations/{l}/azureAsyncOperation/{id}``: the status monitor (``OperationStatusResult``),
  the URL shape of the official examples;
* ``.../locations/{l}/operationResults/{id}`` (``OperationResults_Get``): ``202`` while in progress,
  then ``200`` with the write's result where it has one (a resource, the batch's list), else the
  operation's status. The generated SDK reads a PUT's result from ``Location`` even where the spec
  says ``original-uri``, as ARM's async guidelines allow.

``polls`` sets how many polls answer "InProgress" first (0: the first poll sees it done).
``enabled = False`` answers long-running writes at once (200/201), which the spec does not allow:
the test session's contract check reports it. A client doing writes should be built with
``polling_interval=0`` locally: the stand-in sends ``Retry-After: 0`` (the spec types it an integer),
and azure-core waits ``polling_interval`` (30 s by default) when ``Retry-After`` is 0.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

JsonDict = dict[str, Any]
FACTS_FILE = Path(__file__).with_name("spec_facts.json")
MYSQL_LOCATIONS = "/providers/Microsoft.DBforMySQL/locations/"


@dataclass(frozen=True)
class OperationFacts:
    operation_id: str
    method: str
    path: str
    api_version: str
    statuses: tuple[int, ...]
    final_state_via: str | None  # None: not long-running
    lro_headers: dict[str, tuple[str, ...]]
    pageable: bool
    path_patterns: dict[str, JsonDict]

    @property
    def long_running(self) -> bool:
        return self.final_state_via is not None


class SpecFacts:
    """Operations by (method, path template, api-version), from ``spec_facts.json``."""

    def __init__(self, entries: list[JsonDict]) -> None:
        self._routes: list[tuple[re.Pattern[str], list[str], OperationFacts]] = []
        for entry in entries:
            lro = entry.get("longRunning")
            facts = OperationFacts(
                entry["operationId"], entry["method"], entry["path"], entry["apiVersion"], tuple(entry["statuses"]),
                lro["finalStateVia"] if lro else None,
                {k: tuple(v) for k, v in (lro or {}).get("headers", {}).items()},
                bool(entry.get("pageable")), entry.get("pathPatterns") or {})
            regex, names = template_regex(facts.path)
            self._routes.append((regex, names, facts))
        self._routes.sort(key=lambda r: -len(r[2].path.replace("{resourceUri}", "")))

    @classmethod
    @lru_cache(maxsize=1)
    def load(cls) -> SpecFacts:
        return cls(json.loads(FACTS_FILE.read_text(encoding="utf-8")))

    def match(self, method: str, path: str, api_version: str) -> tuple[OperationFacts, dict[str, str]] | None:
        for regex, names, facts in self._routes:
            if facts.method == method and facts.api_version == api_version:
                found = regex.fullmatch(path)
                if found:
                    return facts, dict(zip(names, found.groups(), strict=True))
        return None

    @staticmethod
    def bad_path_values(facts: OperationFacts, values: dict[str, str]) -> list[tuple[str, str, str]]:
        """``(parameter, value, pattern)`` for each path value the spec's pattern or length refuses."""
        bad = []
        for name, rule in facts.path_patterns.items():
            value = values.get(name)
            if value is None:
                continue
            pattern = rule.get("pattern", "")
            if (not re.search(pattern, value) or len(value) < rule.get("minLength", 0)
                    or len(value) > rule.get("maxLength", 1 << 30)):
                bad.append((name, value, pattern))
        return bad


def template_regex(template: str) -> tuple[re.Pattern[str], list[str]]:
    """A path template as a case-insensitive regex; ``{resourceUri}`` and ``{scopeId}`` (a subscription or a
    resource, ``x-ms-skip-url-encoding`` in the specs) span segments."""
    names: list[str] = []
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        pattern += re.escape(literal)
        if name:
            names.append(name)
            pattern += "(.+)" if name in ("resourceUri", "scopeId") else "([^/]+)"
    return re.compile(pattern, re.IGNORECASE), names


@dataclass
class _Pending:
    operation_id: str  # the spec's operationId of the write
    name: str
    polls_left: int
    final_body: Any  # what the Location URL answers once done (None: the status)
    started: str


class LongRunningOperations:
    """Turns finished long-running writes into 201/202 answers and serves their polling URLs."""

    def __init__(self) -> None:
        self.enabled = True
        self.polls = 0
        self.retry_after = 0  # seconds, an integer as the spec types Retry-After
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.enabled, self.polls, self.retry_after = True, 0, 0
            self._pending.clear()

    def accept(self, facts: OperationFacts, base_url: str, subscription: str, location: str, status: int,
               body: Any, api_version: str) -> tuple[int, Any, dict[str, str]] | None:
        """The answer Azure gives for a long-running write that finished with ``(status, body)``,
        or None to answer as is (not long-running, switched off, or nothing happened: 204)."""
        if not (self.enabled and facts.long_running) or status not in (200, 201):
            return None
        created = status == 201 and 201 in facts.statuses
        answer = 201 if created else 202
        name = str(uuid.uuid4())
        root = f"{base_url}/subscriptions/{subscription}{MYSQL_LOCATIONS}{_location_segment(location)}"
        query = f"?api-version={quote(api_version, safe='')}"
        declared = set(facts.lro_headers.get(str(answer), ())) or {
            {"azure-async-operation": "Azure-AsyncOperation"}.get(facts.final_state_via or "", "Location")}
        headers = {"Retry-After": str(self.retry_after)}
        for header in sorted(declared):
            kind = "azureAsyncOperation" if header == "Azure-AsyncOperation" else "operationResults"
            headers[header] = f"{root}/{kind}/{name}{query}"
        with self._lock:
            self._pending[name.lower()] = _Pending(facts.operation_id, name, self.polls, body, _now())
        return answer, (body if created else None), headers

    def poll(self, kind: str, name: str, url: str) -> tuple[int, Any, dict[str, str], str]:
        """``(status, body, headers, operationId of the write)`` for a GET of a polling URL."""
        with self._lock:
            pending = self._pending.get(name.lower())
            if pending is None:
                raise LookupError(name)
            in_progress = pending.polls_left > 0
            if in_progress:
                pending.polls_left -= 1
        status_body: JsonDict = {"id": url.split("?")[0], "name": pending.name, "startTime": pending.started,
                                 "status": "InProgress" if in_progress else "Succeeded",
                                 "percentComplete": 50.0 if in_progress else 100.0}
        if not in_progress:
            status_body["endTime"] = _now()
        if kind == "azureAsyncOperation":
            return 200, status_body, {}, pending.operation_id
        if in_progress:
            return 202, None, {"Location": url, "Retry-After": str(self.retry_after)}, pending.operation_id
        return 200, (status_body if pending.final_body is None else pending.final_body), {}, pending.operation_id


def _location_segment(location: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", location).lower() or "eastus"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


__all__ = ["FACTS_FILE", "LongRunningOperations", "OperationFacts", "SpecFacts", "template_regex"]
