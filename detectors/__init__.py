"""Detectors: pure judgement over plain data, one module per setting.

A detector knows which ARM read carries its setting (`reads`), how to pull the setting's state
out of that read's JSON (`state`), what is wrong with a state (`issues`), and how a change
from one state to another moves security (`judge`). It does no I/O and sees no SDK objects:
the readers in `drift.readers` collect, detectors judge.

Both take a `Context`: the policy (the desired state) and the states of the server's other
settings, because some verdicts depend on them: a firewall rule matters only while public
access is on, and Entra-only auth without an Entra admin locks everybody out.

Each detector carries its metadata as data (title, Microsoft cloud security benchmark control,
severity rules, remediation, the `az` command that undoes a weakening, a documentation link);
alerts, history and the README table all read it from here.

Modules register themselves with `@detector(...)`; the registry is keyed by the read a detector
watches, so the event router asks "which reads does this event touch" and nothing more.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from drift.model import Judgement, Severity, Undo, Verdict, worst
from drift.policy import Policy

MODULES = ("firewall", "public_access", "network_isolation", "entra_only", "entra_admin", "tls", "audit_log",
           "diagnostics", "encryption", "backup", "defender", "private_endpoints", "server_tags",
           "high_availability", "mysql_version", "audit_users", "defender_plan")

CONFIGURATION_PREFIX = "configuration/"
LEARN = "https://learn.microsoft.com/azure/mysql/flexible-server/"


@dataclass(frozen=True)
class Issue:
    """One thing wrong with a state; `key` identifies it across states."""

    key: str
    severity: Severity
    why: str
    target: str | None = None  # what to undo, e.g. a firewall rule's name


@dataclass(frozen=True)
class Context:
    """What a detector may know beyond the state it judges."""

    policy: Policy = field(default_factory=Policy)
    others: Mapping[str, Any] = field(default_factory=dict)
    server_id: str = ""
    consulted: set[str] = field(default_factory=set, compare=False)  # the other settings a verdict looked at

    @property
    def subscription_id(self) -> str:
        parts = self.server_id.strip("/").split("/")
        return parts[1].lower() if len(parts) > 1 else ""

    def other(self, setting: str, default: Any = None) -> Any:
        self.consulted.add(setting)
        return self.others.get(setting, default)


Issues = Callable[[Any, Context], list[Issue]]
Judge = Callable[[Any, Any, Context], Judgement | None]


@dataclass(frozen=True)
class Detector:
    setting: str
    reads: str
    title: str
    control: str
    severity_rules: str
    remediation: str
    command: str
    doc_url: str
    state: Callable[[Any], Any]
    issues: Issues
    judge: Judge
    describe: Callable[[Any], str]
    static: bool = False  # a server parameter that takes effect only when the server restarts
    cis: str = ""  # CIS Microsoft Azure Foundations Benchmark v3.0.0 recommendation, e.g. "5.3.2"
    prowler: str = ""  # Prowler's check id, e.g. "mysql_flexible_server_audit_log_enabled"
    scope: str = "server"  # or "subscription": one state per subscription (drift.subscription), not per server
    # Other undo templates a judgement's `Undo` may name, e.g. the firewall's "restore" of a widened rule.
    commands: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    def first_seen(self, state: Any, ctx: Context) -> Judgement | None:
        """A finding when a state seen for the first time already falls short, else None."""
        found = self.issues(state, ctx)
        if not found:
            return None
        return Judgement(Verdict.WEAKENED, worst([i.severity for i in found]),
                         "; ".join(i.why for i in found), tuple(i.target for i in found if i.target))


_REGISTRY: dict[str, Detector] = {}


def compare_issues(issues: Issues) -> Judge:
    """The usual judgement: a change weakens when it brings an issue the old state did not have."""

    def judge(before: Any, after: Any, ctx: Context) -> Judgement:
        old = {i.key: i for i in issues(before, ctx)}
        new = {i.key: i for i in issues(after, ctx)}
        added = [i for k, i in new.items() if k not in old]
        removed = [i for k, i in old.items() if k not in new]
        if added:
            return Judgement(Verdict.WEAKENED, worst([i.severity for i in added]),
                             "; ".join(i.why for i in added), tuple(i.target for i in added if i.target))
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
    control: str,
    severity_rules: str,
    remediation: str,
    command: str,
    doc_url: str,
    state: Callable[[Any], Any],
    describe: Callable[[Any], str],
    judge: Judge | None = None,
    static: bool = False,
    cis: str = "",
    prowler: str = "",
    scope: str = "server",
    commands: Mapping[str, str] | None = None,
    previous: Callable[[Any], str | None] | None = None,
) -> Callable[[Issues], Issues]:
    """Register the decorated `issues(state, ctx)` function as the detector of `setting`.

    `static` marks a server parameter whose stored value runs only after a restart: its state is
    then judged by what the server runs as well as by what it will run (see `running_aware`).
    `previous` gives a state's value as the undo command writes it back: a weakening's undo then
    restores the value before it (`commands["previous"]`, `<value>`) rather than the template's default.
    """

    def register(issues: Issues) -> Issues:
        if setting in _REGISTRY:
            raise ValueError(f"two detectors for setting {setting!r}")
        extra: dict[str, Any] = {"cis": cis, "prowler": prowler, "scope": scope, "commands": dict(commands or {})}
        if previous is not None and "previous" not in extra["commands"]:
            raise ValueError(f"{setting}: `previous` needs a `commands['previous']` template")
        if static:
            if judge is not None:
                raise ValueError(f"{setting}: a static parameter is judged by its issues, not a judge of its own")
            found = Detector(setting, reads, title, control, severity_rules, remediation, command, doc_url,
                             *running_aware(state, issues, describe), static=True, **extra)
        else:
            found = Detector(setting, reads, title, control, severity_rules, remediation, command, doc_url,
                             state, issues, judge or compare_issues(issues), describe, **extra)
        if previous is not None:
            found = replace(found, judge=restoring(found.judge, previous))
        _REGISTRY[setting] = found
        return issues

    return register


def restoring(judge: Judge, previous: Callable[[Any], str | None]) -> Judge:
    """`judge`, whose weakenings carry the value before the change for the undo command to set back.

    A static parameter's state waiting for a restart restores its stored value, the one that was set.
    """

    def judged(before: Any, after: Any, ctx: Context) -> Judgement | None:
        judgement = judge(before, after, ctx)
        if judgement is None or judgement.verdict != Verdict.WEAKENED or judgement.undo:
            return judgement
        value = previous(before["value"] if pending_restart(before) else before)
        if value is None:
            return judgement
        return replace(judgement, undo=(Undo(values=(("value", value),), command="previous"),))

    return judged
_loaded = False
_loading = threading.Lock()
_loader: int | None = None  # the thread importing the modules, while it does


def _load() -> None:
    """Import every detector module, once per process.

    The registry fills one module at a time, so a registry that is not empty is no sign that it is
    complete: a thread asking while another is still importing (the workers of a scan in a fresh
    process, invocations of a cold Function instance) would get part of it, and check, record and
    baseline part of a server's settings. Whoever asks first loads all of it; the others wait.
    """
    global _loaded, _loader
    if _loaded or _loader == threading.get_ident():  # a module asking while it is imported sees what is there
        return
    with _loading:
        if _loaded:
            return
        _loader = threading.get_ident()
        try:
            for name in MODULES:
                importlib.import_module(f"detectors.{name}")
            _loaded = True
        finally:
            _loader = None


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


def all_reads() -> list[str]:
    """Every read some detector needs: what a full posture check of one server costs."""
    return reads_of(all_detectors())


def tracked_parameters(*, static: bool = False) -> list[str]:
    """Server parameters some detector watches, e.g. `tls_version` (`static`: only those a restart applies)."""
    _load()
    return sorted({d.reads[len(CONFIGURATION_PREFIX):] for d in _REGISTRY.values()
                   if d.reads.startswith(CONFIGURATION_PREFIX) and (d.static or not static)})


def reads_of(detectors: Iterable[Detector]) -> list[str]:
    """The per-server reads these detectors need (subscription-level ones are read by drift.subscription)."""
    order = {"server": 0}
    return sorted({d.reads for d in detectors if d.scope == "server"}, key=lambda r: (order.get(r, 1), r))


def parameter_value(configuration: dict[str, Any] | None) -> str | None:
    """`properties.value` of a configuration read, upper-cased and trimmed; None when absent."""
    if not configuration:
        return None
    value = (configuration.get("properties") or {}).get("value")
    return value.strip().upper() if isinstance(value, str) else None


def server_properties(server: dict[str, Any] | None) -> dict[str, Any]:
    return (server or {}).get("properties") or {}


def capitalized(value: Any) -> str | None:
    """ARM enums come in any case: `enabled`, `Enabled`, `ENABLED`."""
    return value[:1].upper() + value[1:].lower() if isinstance(value, str) and value else None


def pending_restart(state: Any) -> bool:
    """A static parameter's state whose stored value differs from the one the server runs."""
    return isinstance(state, dict) and set(state) == {"value", "running"}


def running_aware(state: Callable[[Any], Any], issues: Issues, describe: Callable[[Any], str]
                  ) -> tuple[Callable[[Any], Any], Issues, Judge, Callable[[Any], str]]:
    """State, issues, judge and describe of a static parameter, judged by the running value too.

    A configuration read carries `value` (stored) and `currentValue` (running). Until a restart
    they differ, and the server is as weak as the weaker of the two: it runs one now and will run
    the other. So the state is `{"value": stored, "running": running}` while they differ, and its
    issues are those of both. A fix not yet applied brings no strengthening (the restart that
    applies it does); a weakening not yet applied is still one.
    """

    def both(config: Any) -> Any:
        stored = state(config)
        running_value = ((config or {}).get("properties") or {}).get("currentValue")
        if not isinstance(running_value, str) or not running_value.strip():
            return stored
        running = state({"properties": {"value": running_value}})
        return stored if running == stored else {"value": stored, "running": running}

    def both_issues(current: Any, ctx: Context) -> list[Issue]:
        if not pending_restart(current):
            return issues(current, ctx)
        found = {i.key: i for i in issues(current["running"], ctx)}
        for issue in issues(current["value"], ctx):
            found.setdefault(issue.key, issue)
        return list(found.values())

    def describe_both(current: Any) -> str:
        if not pending_restart(current):
            return describe(current)
        return f"{describe(current['value'])} (running {describe(current['running'])} until restart)"

    compare = compare_issues(both_issues)

    def judge(before: Any, after: Any, ctx: Context) -> Judgement | None:
        judgement = compare(before, after, ctx)
        if judgement is None or judgement.verdict != Verdict.CHANGED:
            return judgement
        if pending_restart(after):
            return Judgement(Verdict.CHANGED, Severity.INFO,
                             f"set to {describe(after['value'])}, not in force yet: the server still runs "
                             f"{describe(after['running'])}")
        if pending_restart(before):
            return Judgement(Verdict.CHANGED, Severity.INFO,
                             f"now in force after a restart: the server runs {describe(after)}")
        return judgement

    return both, both_issues, judge, describe_both
