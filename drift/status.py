"""`mysql-drift status`: the fleet at a glance, then each server's settings and open findings.

What it reads is bounded by what is asked, not by the fleet's size:
- the fleet summary and the per-server listing of open findings come from the index's open-finding
  markers (`FindingStore.open_findings`): one key range of `~index`, whatever the number of servers
  (plus a point read for a marker not yet checked against its row);
- `--server X` reads that server's partition once (`BaselineStore.load`: its baselines and open
  findings), and shows every watched setting's current state; the summary then covers that server
  (a name is found through the index's watched-server markers: one key range of ids).

Without `--server`, the servers listed are those with open findings, and a setting's "state" is its
finding's latest state (reading every server's baselines would be one query per server).
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import detectors
from drift.findings import Finding, FindingStore
from drift.model import Severity

ORDER = [s.value for s in sorted(Severity, key=lambda s: -s.rank) if s != Severity.INFO]


@dataclass
class SettingStatus:
    setting: str
    title: str
    state: str | None  # as history describes it
    findings: list[Finding] = field(default_factory=list)


@dataclass
class ServerStatus:
    server_id: str
    server: str
    settings: list[SettingStatus] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.settings for f in s.findings]

    @property
    def worst(self) -> str | None:
        found = self.findings
        return max(found, key=lambda f: f.rank).severity if found else None


@dataclass
class FleetStatus:
    at: datetime
    severity: str | None  # the filter: that severity or worse
    summary: dict[str, list[str]]  # severity -> the servers whose worst open finding has it (every open finding)
    open_findings: int
    servers: list[ServerStatus]
    scope: str = "fleet"  # or the --server asked for: the summary covers that server alone


def _title(setting: str) -> str:
    try:
        return detectors.by_setting(setting).title
    except KeyError:
        return setting


def _describe(setting: str, state: Any) -> str:
    """A baseline's state as history describes it; a row this version cannot describe is shown raw."""
    try:
        return detectors.by_setting(setting).describe(state)
    except Exception:  # an unknown setting, or a state written by another version
        return json.dumps(state, sort_keys=True)[:500]


def _summary(findings: list[Finding]) -> dict[str, list[str]]:
    worst: dict[str, Finding] = {}
    for finding in findings:
        if finding.server_id not in worst or finding.rank > worst[finding.server_id].rank:
            worst[finding.server_id] = finding
    summary: dict[str, list[str]] = {s: [] for s in ORDER}
    for finding in sorted(worst.values(), key=lambda f: f.server.lower()):
        summary.setdefault(finding.severity, []).append(finding.server)
    return summary


def _server_ids(store: Any, server: str) -> list[str]:
    """A full id as given; a name through the index's name markers (one key range)."""
    return [server] if server.startswith("/") else store.server_ids(server)


def _one_server(store: Any, server_id: str, wanted: int) -> ServerStatus:
    """Every watched setting of one server with its open findings: one query of its partition."""
    rows = store.load(server_id)
    open_ = [s.finding for s in rows.findings.values() if s.finding.rank >= wanted]
    name = open_[0].server if open_ else server_id.rstrip("/").rsplit("/", 1)[-1]
    states = {s: b for s, b in rows.baselines.items() if not b.closed}
    settings = [SettingStatus(s, _title(s), _describe(s, states[s].state) if s in states else None,
                              [f for f in open_ if f.setting == s])
                for s in sorted(set(states) | {f.setting for f in open_})]
    return ServerStatus(server_id, name, settings)


def gather(store: Any, *, server: str | None = None, severity: str | None = None,
           now: datetime | None = None) -> FleetStatus:
    """The fleet (from the index), or with `server` that server alone (from its partition; the summary
    then covers it alone)."""
    now = now or datetime.now(UTC)
    wanted = Severity(severity).rank if severity else 0
    if server:
        servers = [_one_server(store, server_id, 0) for server_id in _server_ids(store, server)]
        everything = [f for s in servers for f in s.findings]
        for entry in servers:
            for item in entry.settings:
                item.findings = [f for f in item.findings if f.rank >= wanted]
        return FleetStatus(now, severity, _summary(everything), len(everything), servers, scope=server)
    everything = FindingStore(store).open_findings(now=now)
    by_server: dict[str, ServerStatus] = {}
    for finding in (f for f in everything if f.rank >= wanted):
        entry = by_server.setdefault(finding.server_id, ServerStatus(finding.server_id, finding.server))
        entry.settings.append(SettingStatus(finding.setting, _title(finding.setting), finding.after, [finding]))
    servers = sorted(by_server.values(), key=lambda s: (-Severity(s.worst or "info").rank, s.server.lower()))
    return FleetStatus(now, severity, _summary(everything), len(everything), servers)


# -- formats --------------------------------------------------------------------------------------

def _finding_dict(finding: Finding, now: datetime) -> dict[str, Any]:
    return {**finding.to_dict(), "open": finding.open, "age": finding.age(now)}


def as_json(status: FleetStatus) -> str:
    return json.dumps({
        "at": status.at.isoformat(), "scope": status.scope, "severity_filter": status.severity,
        "summary": {"servers_with_open_findings": sum(len(v) for v in status.summary.values()),
                    "open_findings": status.open_findings,
                    "by_worst_severity": {s: {"servers": len(names), "names": names}
                                          for s, names in status.summary.items()}},
        "servers": [{"server_id": s.server_id, "server": s.server, "worst": s.worst,
                     "settings": [{"setting": x.setting, "title": x.title, "state": x.state,
                                   "findings": [_finding_dict(f, status.at) for f in x.findings]}
                                  for x in s.settings]} for s in status.servers],
    }, indent=2)


CSV_COLUMNS = ["server", "server_id", "setting", "state", "finding_id", "status", "severity", "opened_at", "age",
               "changed_by", "client_ip", "why", "alert_id"]


def as_csv(status: FleetStatus) -> str:
    """One line per setting shown (per open finding where a setting has one): a spreadsheet's view."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for server in status.servers:
        for item in server.settings:
            base = [server.server, server.server_id, item.setting, item.state or ""]
            if not item.findings:
                writer.writerow(base + [""] * (len(CSV_COLUMNS) - len(base)))
            for f in item.findings:
                writer.writerow([*base, f.id, f.status, f.severity, f.opened_at, f.age(status.at), f.changed_by,
                                 f.client_ip or "", f.why, f.alert_keys[0] if f.alert_keys else ""])
    return out.getvalue().rstrip("\n")


def _table(headers: list[str], rows: list[list[str]], wrap: int) -> list[str]:
    """Columns padded to their widest cell; the last column wraps at `wrap` characters, never cut."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers[:-1])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers[:-1], widths, strict=True)) + "  " + headers[-1]]
    indent = " " * (sum(widths) + 2 * len(widths))
    for row in rows:
        wrapped = textwrap.wrap(row[-1], wrap) or [""]
        lines.append("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + wrapped[0])
        lines += [indent + more for more in wrapped[1:]]
    return lines


def _cell(value: str | None, limit: int = 40) -> str:
    """A short column: long values go to the wrapped last column instead."""
    text = " ".join((value or "-").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def as_table(status: FleetStatus) -> str:
    total = sum(len(v) for v in status.summary.values())
    scope = "Fleet" if status.scope == "fleet" else f"Server {status.scope}"
    lines = [f"{scope} at {status.at:%Y-%m-%d %H:%M} UTC: {status.open_findings} open finding(s) on {total} server(s)"]
    for severity in ORDER:
        names = status.summary.get(severity, [])
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        lines.append(f"  {severity.upper():<8} {len(names):>5}  {shown}")
    if status.severity:
        lines.append(f"(servers below: open findings {status.severity} or worse)")
    if not status.servers:
        lines.append("no server to show" if status.open_findings or status.severity else "no open findings")
    for server in status.servers:
        lines += ["", f"{server.server}  worst open: {(server.worst or 'none').upper()}  ({server.server_id})"]
        rows = []
        for item in server.settings:
            if not item.findings:
                rows.append([item.setting, "-", "ok", "", "", "", f"state: {item.state or '-'}"])
            for f in item.findings:
                rows.append([item.setting, f.id, f.severity, f.age(status.at), _cell(f.changed_by),
                             f.client_ip or "unknown", f"state: {item.state or '-'} · {f.status} · {f.why}"])
        lines += ["  " + line for line in _table(["setting", "finding", "severity", "age", "by", "from", "details"],
                                                 rows, 80)]
    return "\n".join(lines)


def render(status: FleetStatus, fmt: str) -> str:
    return {"json": as_json, "csv": as_csv}.get(fmt, as_table)(status)
