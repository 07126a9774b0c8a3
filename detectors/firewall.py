"""Firewall rules: who may reach the server's public endpoint on port 3306.

A change is judged by the addresses it lets in, not by rule names: renaming a rule changes
nothing, narrowing one strengthens, and any address that could not connect before weakens.
`0.0.0.0-0.0.0.0` is not an address range but the portal's "allow any Azure service" switch,
which admits every Azure tenant's resources, so it is tracked apart.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from detectors import Issue, detector
from drift.model import Judgement, Severity, Verdict

WHOLE_INTERNET = 2**32
AZURE_SERVICES = ("0.0.0.0", "0.0.0.0")

Range = tuple[int, int]


def rules_state(rules: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    out = []
    for rule in rules or []:
        props = rule.get("properties") or {}
        out.append({"name": str(rule.get("name") or ""),
                    "start": str(props.get("startIpAddress") or ""),
                    "end": str(props.get("endIpAddress") or "")})
    return sorted(out, key=lambda r: (r["name"].lower(), r["start"], r["end"]))


def _range(rule: dict[str, str]) -> Range | None:
    try:
        start = int(ipaddress.IPv4Address(rule["start"]))
        end = int(ipaddress.IPv4Address(rule["end"]))
    except ValueError:
        return None
    return (start, end) if start <= end else None


def _is_azure_services(rule: dict[str, str]) -> bool:
    return (rule["start"], rule["end"]) == AZURE_SERVICES


def _merge(ranges: list[Range]) -> list[Range]:
    merged: list[Range] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _coverage(state: list[dict[str, str]]) -> list[Range]:
    return _merge([r for rule in state if not _is_azure_services(rule) and (r := _range(rule))])


def _minus(a: list[Range], b: list[Range]) -> int:
    """How many addresses `a` covers that `b` does not (both merged)."""
    total = 0
    for start, end in a:
        cursor = start
        for b_start, b_end in b:
            if b_end < cursor or b_start > end:
                continue
            if b_start > cursor:
                total += b_start - cursor
            cursor = max(cursor, b_end + 1)
            if cursor > end:
                break
        if cursor <= end:
            total += end - cursor + 1
    return total


def _size(ranges: list[Range]) -> int:
    return sum(end - start + 1 for start, end in ranges)


def _severity_for_new(count: int, total_after: int) -> Severity:
    if total_after >= WHOLE_INTERNET // 2:
        return Severity.CRITICAL
    if count > 2**16:
        return Severity.HIGH
    if count > 256:
        return Severity.MEDIUM
    return Severity.LOW


def _rule_text(rule: dict[str, str]) -> str:
    return f"{rule['name']} ({rule['start']}-{rule['end']})"


def describe(state: list[dict[str, str]] | None) -> str:
    if not state:
        return "no rules"
    return ", ".join(_rule_text(r) for r in state)


def judge(before: list[dict[str, str]], after: list[dict[str, str]]) -> Judgement:
    old_cov, new_cov = _coverage(before), _coverage(after)
    opened, closed = _minus(new_cov, old_cov), _minus(old_cov, new_cov)
    azure_on = any(map(_is_azure_services, after)) and not any(map(_is_azure_services, before))
    azure_off = any(map(_is_azure_services, before)) and not any(map(_is_azure_services, after))
    old_rules = {(r["start"], r["end"]) for r in before}
    added = [r for r in after if (r["start"], r["end"]) not in old_rules]
    if opened or azure_on:
        reasons = []
        severity = Severity.LOW
        if opened:
            total = _size(new_cov)
            severity = _severity_for_new(opened, total)
            what = "the whole internet" if total >= WHOLE_INTERNET - 1 else f"{opened:,} more IPv4 addresses"
            reasons.append(f"opens port 3306 to {what}")
        if azure_on:
            severity = max(severity, Severity.HIGH, key=lambda s: s.rank)
            reasons.append("allows connections from any Azure service, other tenants' included")
        names = ", ".join(_rule_text(r) for r in added)
        return Judgement(Verdict.WEAKENED, severity, "; ".join(reasons) + (f": {names}" if names else ""))
    if closed or azure_off:
        return Judgement(Verdict.STRENGTHENED, Severity.INFO,
                         f"fewer addresses can connect ({closed:,} removed)" if closed
                         else "no longer allows any Azure service")
    return Judgement(Verdict.CHANGED, Severity.INFO, "rules renamed or rewritten; the same addresses can connect")


@detector(
    "firewall_rules",
    reads="firewall_rules",
    title="Firewall rules",
    remediation="az mysql flexible-server firewall-rule delete -g {resource_group} -n {server} --rule-name <rule>",
    state=rules_state,
    describe=describe,
    judge=judge,
)
def issues(state: list[dict[str, str]]) -> list[Issue]:
    found = []
    for rule in state:
        if _is_azure_services(rule):
            found.append(Issue(f"azure:{rule['name']}", Severity.HIGH,
                               f"rule {rule['name']} allows any Azure service, other tenants' included"))
            continue
        span = _range(rule)
        if span is None:
            found.append(Issue(f"invalid:{rule['name']}", Severity.MEDIUM,
                               f"rule {_rule_text(rule)} is not a valid IPv4 range"))
            continue
        size = span[1] - span[0] + 1
        if size >= WHOLE_INTERNET // 2:
            found.append(Issue(f"internet:{rule['name']}", Severity.CRITICAL,
                               f"rule {_rule_text(rule)} opens the server to the whole internet"))
        elif size > 2**16:
            found.append(Issue(f"wide:{rule['name']}", Severity.HIGH,
                               f"rule {_rule_text(rule)} admits {size:,} addresses"))
    return found
