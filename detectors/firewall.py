"""Firewall rules: who may reach the server's public endpoint on port 3306.

A change is judged by the addresses it lets in, not by rule names: renaming a rule changes
nothing, narrowing one strengthens, and any address that could not connect before weakens.
`0.0.0.0-0.0.0.0` is not an address range but the portal's "allow any Azure service" switch,
which admits every Azure tenant's resources, so it is tracked apart. Addresses inside the
policy's approved ranges never count.

Rules only take effect while public network access is Enabled; a server in a VNet has no
public endpoint at all. In either case a weakening is recorded at low severity: it is a latent
opening, reported in full when public access is switched on (see `public_access`).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from detectors import LEARN, Context, Issue, detector
from drift.model import Judgement, Severity, Undo, Verdict, worst

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


def is_azure_services(rule: dict[str, str]) -> bool:
    return (rule["start"], rule["end"]) == AZURE_SERVICES


def _merge(ranges: list[Range]) -> list[Range]:
    merged: list[Range] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(a: list[Range], b: list[Range]) -> list[Range]:
    """The parts of merged ranges `a` that merged ranges `b` do not cover."""
    out: list[Range] = []
    for start, end in a:
        cursor = start
        for b_start, b_end in b:
            if b_end < cursor or b_start > end:
                continue
            if b_start > cursor:
                out.append((cursor, b_start - 1))
            cursor = max(cursor, b_end + 1)
            if cursor > end:
                break
        if cursor <= end:
            out.append((cursor, end))
    return out


def _size(ranges: list[Range]) -> int:
    return sum(end - start + 1 for start, end in ranges)


def _approved(ctx: Context) -> list[Range]:
    return _merge([(int(n.network_address), int(n.broadcast_address)) for n in ctx.policy.approved_ranges])


def _coverage(state: list[dict[str, str]], ctx: Context) -> list[Range]:
    ranges = [r for rule in state if not is_azure_services(rule) and (r := _range(rule))]
    return _subtract(_merge(ranges), _approved(ctx))


def unreachable(ctx: Context) -> str | None:
    """Why the rules cannot be used right now, if they cannot."""
    isolation = ctx.other("network_isolation") or {}
    if isolation.get("delegated_subnet"):
        return "the server is in a VNet and has no public endpoint"
    if ctx.other("public_network_access") == "Disabled":
        return "public network access is Disabled, so the rules take effect only if it is enabled"
    return None


def _rule_text(rule: dict[str, str]) -> str:
    return f"{rule['name']} ({rule['start']}-{rule['end']})"


def broad_rules(state: list[dict[str, str]] | None, ctx: Context) -> list[Issue]:
    """Rules that open the internet, all of Azure, or more than a /16, outside approved ranges."""
    found = []
    approved = _approved(ctx)
    for rule in state or []:
        if is_azure_services(rule):
            found.append(Issue(f"azure:{rule['name']}", Severity.HIGH,
                               f"rule {rule['name']} allows any Azure service, other tenants' included", rule["name"]))
            continue
        span = _range(rule)
        if span is None:
            found.append(Issue(f"invalid:{rule['name']}", Severity.MEDIUM,
                               f"rule {_rule_text(rule)} is not a valid IPv4 range", rule["name"]))
            continue
        size = _size(_subtract([span], approved))
        if size >= WHOLE_INTERNET // 2:
            found.append(Issue(f"internet:{rule['name']}", Severity.CRITICAL,
                               f"rule {_rule_text(rule)} opens the server to the whole internet", rule["name"]))
        elif size > 2**16:
            found.append(Issue(f"wide:{rule['name']}", Severity.HIGH,
                               f"rule {_rule_text(rule)} admits {size:,} addresses", rule["name"]))
    return found


def describe(state: list[dict[str, str]] | None) -> str:
    if not state:
        return "no rules"
    return ", ".join(_rule_text(r) for r in state)


def _severity_for_new(count: int, total_after: int) -> Severity:
    if total_after >= WHOLE_INTERNET // 2:
        return Severity.CRITICAL
    if count > 2**16:
        return Severity.HIGH
    if count > 256:
        return Severity.MEDIUM
    return Severity.LOW


def _undo(added: list[dict[str, str]], before: list[dict[str, str]]) -> tuple[Undo, ...]:
    """Delete a rule that is new; give a rule that was widened its addresses back."""
    old = {r["name"]: r for r in before}
    return tuple(Undo(r["name"], (("start-ip", old[r["name"]]["start"]), ("end-ip", old[r["name"]]["end"])), "restore")
                 if r["name"] in old else Undo(r["name"]) for r in added)


def judge(before: list[dict[str, str]], after: list[dict[str, str]], ctx: Context) -> Judgement:
    old_cov, new_cov = _coverage(before, ctx), _coverage(after, ctx)
    opened, closed = _size(_subtract(new_cov, old_cov)), _size(_subtract(old_cov, new_cov))
    azure_on = any(map(is_azure_services, after)) and not any(map(is_azure_services, before))
    azure_off = any(map(is_azure_services, before)) and not any(map(is_azure_services, after))
    old_rules = {(r["start"], r["end"]) for r in before}
    added = [r for r in after if (r["start"], r["end"]) not in old_rules]
    if opened or azure_on:
        reasons, severities = [], []
        if opened:
            total = _size(new_cov)
            severities.append(_severity_for_new(opened, total))
            what = "the whole internet" if total >= WHOLE_INTERNET - 1 else f"{opened:,} more IPv4 addresses"
            reasons.append(f"opens port 3306 to {what}")
        if azure_on:
            severities.append(Severity.HIGH)
            reasons.append("allows connections from any Azure service, other tenants' included")
        names = ", ".join(_rule_text(r) for r in added)
        why = "; ".join(reasons) + (f": {names}" if names else "")
        severity = worst(severities)
        latent = unreachable(ctx)
        if latent:
            severity, why = Severity.LOW, f"{why} ({latent})"
        return Judgement(Verdict.WEAKENED, severity, why, tuple(r["name"] for r in added), _undo(added, before))
    if closed or azure_off:
        return Judgement(Verdict.STRENGTHENED, Severity.INFO,
                         f"fewer addresses can connect ({closed:,} removed)" if closed
                         else "no longer allows any Azure service")
    return Judgement(Verdict.CHANGED, Severity.INFO,
                     "rules renamed, rewritten or inside approved ranges; no new address can connect")


@detector(
    "firewall_rules",
    reads="firewall_rules",
    title="Firewall rules",
    control="NS-2",
    severity_rules="critical: whole internet; high: any Azure service or > 65,536 new addresses; medium: > 256; "
                   "low: fewer, or while public access is off",
    remediation="Delete the rule, or narrow it to the client addresses that need it.",
    command="az mysql flexible-server firewall-rule delete -g {resource_group} -n {server} --rule-name {target} --yes",
    commands={"restore": "az mysql flexible-server firewall-rule update -g {resource_group} -n {server} "
                         "--rule-name {target} --start-ip-address <start-ip> --end-ip-address <end-ip>"},
    doc_url=LEARN + "concepts-networking-public",
    state=rules_state,
    describe=describe,
    judge=judge,
)
def issues(state: list[dict[str, str]], ctx: Context) -> list[Issue]:
    found = broad_rules(state, ctx)
    latent = unreachable(ctx)
    if latent:
        return [Issue(i.key, Severity.LOW, f"{i.why} ({latent})", i.target) for i in found]
    return found
