"""Detectors: pure judgement over plain data, one module per setting.

A detector knows which ARM read carries its setting (`reads`), how to pull the setting's state
out of that read's JSON (`state`), what is wrong with a state (`issues`), and how a change
from one state to another moves security (`judge`). It does no I/O and sees no SDK objects:
the readers in `drift.readers` collect, detectors judge.

Modules register themselves with `@detector(...)`; the registry is keyed by the read a detector
watches, so the event router asks "which reads does this event touch" and nothing more.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from drift.model import Judgement, Severity, Verdict, worst

MODULES = ("firewall", "public_access", "entra_only", "tls", "diagnostics", "entra_admin", "defender",
           "private_endpoints")

CONFIGURATION_PREFIX = "configuration/"


@dataclass(frozen=True)
class Issue:
    """One thing wrong with a state; `key` identifies it across states."""

    key: str
    severity: Severity
    why: str


@dataclass(frozen=True)
class Detector:
    setting: str
    reads: str
    title: str
    remediation: str
    state: Callable[[Any], Any]
    issues: Callable[[Any], list[Issue]]
    judge: Callable[[Any, Any], Judgement]
    describe: Callable[[Any], str]

    def first_seen(self, state: Any) -> Judgement | None:
        """A finding when a state seen for the first time already falls short, else None."""
        found = self.issues(state)
        if not found:
            return None
        return Judgement(Verdict.WEAKENED, worst([i.severity for i in found]),
                         "first seen: " + "; ".join(i.why for i in found))


_REGISTRY: dict[str, Detector] = {}


def compare_issues(issues: Callable[[Any], list[Issue]]) -> Callable[[Any, Any], Judgement]:
    """The usual judgement: a change weakens when it brings an issue the old state did not have."""

    def judge(before: Any, after: Any) -> Judgement:
        old = {i.key: i for i in issues(before)}
        new = {i.key: i for i in issues(after)}
        added = [i for k, i in new.items() if k not in old]
        removed = [i for k, i in old.items() if k not in new]
        if added:
            return Judgement(Verdict.WEAKENED, worst([i.severity for i in added]),
                             "; ".join(i.why for i in added))
        if removed:
            return Judgement(Verdict.STRENGTHENED, Severity.INFO,
                             "resolved: " + "; ".join(i.why for i in removed))
        return Judgement(Verdict.CHANGED, Severity.INFO, "changed without a security effect")

    return judge


def detector(
    setting: str,
    *,
    reads: str,
    title: str,
    remediation: str,
    state: Callable[[Any], Any],
    describe: Callable[[Any], str],
    judge: Callable[[Any, Any], Judgement] | None = None,
) -> Callable[[Callable[[Any], list[Issue]]], Callable[[Any], list[Issue]]]:
    """Register the decorated `issues(state)` function as the detector of `setting`."""

    def register(issues: Callable[[Any], list[Issue]]) -> Callable[[Any], list[Issue]]:
        if setting in _REGISTRY:
            raise ValueError(f"two detectors for setting {setting!r}")
        _REGISTRY[setting] = Detector(setting, reads, title, remediation, state, issues,
                                      judge or compare_issues(issues), describe)
        return issues

    return register


def _load() -> None:
    if not _REGISTRY:
        for name in MODULES:
            importlib.import_module(f"detectors.{name}")


def all_detectors() -> list[Detector]:
    _load()
    return list(_REGISTRY.values())


def by_setting(setting: str) -> Detector:
    _load()
    return _REGISTRY[setting]


def watching(read: str) -> list[Detector]:
    """The detectors whose setting lives in the result of `read`."""
    _load()
    return [d for d in _REGISTRY.values() if d.reads == read]


def tracked_parameters() -> list[str]:
    """Server parameters some detector watches, e.g. `tls_version`."""
    _load()
    return sorted({d.reads[len(CONFIGURATION_PREFIX):] for d in _REGISTRY.values()
                   if d.reads.startswith(CONFIGURATION_PREFIX)})


def reads_of(detectors: Iterable[Detector]) -> list[str]:
    return sorted({d.reads for d in detectors})


def parameter_value(configuration: dict[str, Any] | None) -> str | None:
    """`properties.value` of a configuration read, upper-cased and trimmed; None when absent."""
    if not configuration:
        return None
    value = (configuration.get("properties") or {}).get("value")
    return value.strip().upper() if isinstance(value, str) else None
