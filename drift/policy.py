"""The desired state: what the team wants of every server, and the exemptions it grants.

A policy is a TOML file (`DRIFT_POLICY_FILE`; without one, the defaults below). It is checked
against a schema before use: an unknown key, a wrong type or a bad value is refused with the
key's name and its line in the file, and nothing is half-loaded.

    [desired]
    public_network_access = "Disabled"
    tls_versions = ["TLSv1.3"]          # every other version allowed is a finding
    ...

    [firewall]
    approved_ranges = ["198.51.100.0/24"]   # rules inside these ranges never weaken

    [[exemptions]]
    server = "orders-db"                # or resource_group = "...", or tag = "drift-exempt=firewall"
    settings = ["firewall_rules"]       # default: every setting
    reason = "vendor migration CHG-1234"
    expires = 2026-12-31
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")
TLS_VERSIONS = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
AUDIT_EVENTS = ("CONNECTION", "CONNECTION_V2", "DML_SELECT", "DML_NONSELECT", "DML", "DDL", "DCL", "ADMIN",
                "GENERAL", "TABLE_ACCESS")


class PolicyError(ValueError):
    """The policy file is not valid; the message names the key and its line."""


@dataclass(frozen=True)
class Desired:
    public_network_access: str = "Disabled"
    aad_auth_only: str = "ON"
    entra_admin: bool = True
    tls_versions: tuple[str, ...] = ("TLSv1.3",)
    require_secure_transport: str = "ON"
    audit_log_enabled: str = "ON"
    audit_log_events: tuple[str, ...] = ("CONNECTION", "CONNECTION_V2")  # at least one of them
    audit_shipped: bool = True
    data_encryption: str = "AzureKeyVault"
    geo_redundant_backup: str = "Enabled"
    min_backup_retention_days: int = 7
    defender: str = "Enabled"
    high_availability: str = "SameZone"  # the least mode accepted: Disabled, SameZone or ZoneRedundant
    min_mysql_version: str = "8.0"  # older major versions are a gap (5.7 is out of standard support)
    defender_plan: str = "Standard"  # Defender for open-source relational databases at the subscription


@dataclass(frozen=True)
class Exemption:
    reason: str
    expires: datetime
    settings: tuple[str, ...] = ()
    server: str | None = None
    resource_group: str | None = None
    tag: str | None = None
    line: int | None = None

    def covers(self, *, server_id: str, server_name: str, resource_group: str, tags: Mapping[str, str],
               setting: str, now: datetime) -> bool:
        if now >= self.expires:
            return False
        if self.settings and setting not in self.settings:
            return False
        if self.server is not None:
            wanted = self.server.lower()
            if wanted not in (server_name.lower(), server_id.lower()):
                return False
        if self.resource_group is not None and self.resource_group.lower() != resource_group.lower():
            return False
        if self.tag is not None:
            key, _, value = self.tag.partition("=")
            found = {k.lower(): v for k, v in tags.items()}.get(key.lower())
            if found is None or (value and value.lower() not in [v.strip().lower() for v in str(found).split(",")]):
                return False
        return True


@dataclass(frozen=True)
class Policy:
    desired: Desired = field(default_factory=Desired)
    approved_ranges: tuple[ipaddress.IPv4Network, ...] = ()
    trusted_subscriptions: tuple[str, ...] = ()
    audit_destinations: tuple[str, ...] = ()  # resource ids audit logs may be shipped to; empty: any
    min_alert_severity: str = "low"
    resolved_cards: bool = True  # a card when a finding's weakening is undone (`[alerts] resolved_cards`)
    exemptions: tuple[Exemption, ...] = ()
    source: str = "built-in defaults"

    def exemption(self, **kwargs: Any) -> Exemption | None:
        return next((e for e in self.exemptions if e.covers(**kwargs)), None)


# -- the schema ----------------------------------------------------------------------------------

Check = Callable[[Any], Any]


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"must be one of {', '.join(choices)}")
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")

    return check


def _list_of(check: Check) -> Check:
    def run(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise TypeError("must be a list")
        return tuple(check(v) for v in value)

    return run


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _days(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 35:
        raise ValueError("must be a whole number of days from 1 to 35")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _cidr(value: Any) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(_text(value), strict=False)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 range such as 203.0.113.0/24") from exc


def _expiry(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.max, tzinfo=UTC)
    raise TypeError("must be a TOML date such as 2026-12-31 (unquoted)")


def _setting_names(value: Any) -> tuple[str, ...]:
    import detectors

    known = {d.setting for d in detectors.all_detectors()}
    names = _list_of(_text)(value)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return names


def _resource_id(value: Any) -> str:
    text = _text(value)
    if not text.lower().startswith("/subscriptions/"):
        raise ValueError(f"{text!r} is not a resource id such as /subscriptions/.../workspaces/soc")
    return text


def _tag(value: Any) -> str:
    text = _text(value)
    if text.startswith("="):
        raise ValueError("must be NAME or NAME=VALUE")
    return text


DESIRED: dict[str, Check] = {
    "public_network_access": _one_of("Disabled", "Enabled"),
    "aad_auth_only": _one_of("ON", "OFF"),
    "entra_admin": _boolean,
    "tls_versions": _list_of(_one_of(*TLS_VERSIONS)),
    "require_secure_transport": _one_of("ON", "OFF"),
    "audit_log_enabled": _one_of("ON", "OFF"),
    "audit_log_events": _list_of(_one_of(*AUDIT_EVENTS)),
    "audit_shipped": _boolean,
    "data_encryption": _one_of("AzureKeyVault", "SystemManaged"),
    "geo_redundant_backup": _one_of("Enabled", "Disabled"),
    "min_backup_retention_days": _days,
    "defender": _one_of("Enabled", "Disabled"),
    "high_availability": _one_of("Disabled", "SameZone", "ZoneRedundant"),
    "min_mysql_version": _one_of("5.7", "8.0"),
    "defender_plan": _one_of("Standard", "Free"),
}
SECTIONS: dict[str, dict[str, Check]] = {
    "desired": DESIRED,
    "firewall": {"approved_ranges": _list_of(_cidr)},
    "private_endpoints": {"trusted_subscriptions": _list_of(_text)},
    "alerts": {"min_severity": _one_of(*SEVERITIES), "resolved_cards": _boolean},
    "diagnostics": {"audit_destinations": _list_of(_resource_id)},
}
EXEMPTION: dict[str, Check] = {
    "server": _text, "resource_group": _text, "tag": _tag, "settings": _setting_names, "reason": _text,
    "expires": _expiry,
}


def _line_of(text: str, key: str, section: str | None, occurrence: int = 0) -> int | None:
    """The line that sets `key` in `[section]` (in the n-th `[[section]]`), or a section's header.

    tomllib keeps no positions; this finds the line for the error message, nothing more.
    """
    current: str | None = None
    index = -1
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"\[\[?\s*([A-Za-z0-9_.\-]+)\s*\]\]?", stripped)
        if header:
            current = header.group(1)
            if section is None and current == key:
                return number
            if current == section and stripped.startswith("[["):
                index += 1
                if key == "" and index == occurrence:
                    return number
            continue
        same_table = current == section and (index == occurrence or not section or index < 0)
        if same_table and key and re.match(rf'"?{re.escape(key)}"?\s*=', stripped):
            return number
    return None


def parse_policy(text: str, source: str = "policy") -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None

    def fail(key: str, section: str | None, problem: str, occurrence: int = 0) -> PolicyError:
        leaf = key.rsplit(".", 1)[-1] if "." in key else ("" if section == "exemptions" else key)
        line = _line_of(text, leaf, section, occurrence)
        where = f"{source} line {line}" if line else source
        return PolicyError(f"{where}: {key}: {problem}")

    known = set(SECTIONS) | {"exemptions"}
    for name in data:
        if name not in known:
            raise fail(name, None, f"unknown section (known: {', '.join(sorted(known))})")
    values: dict[str, dict[str, Any]] = {}
    for name, schema in SECTIONS.items():
        section = data.get(name, {})
        if not isinstance(section, dict):
            raise fail(name, None, "must be a table ([" + name + "])")
        values[name] = {}
        for key, value in section.items():
            if key not in schema:
                raise fail(f"{name}.{key}", name, f"unknown key (known: {', '.join(sorted(schema))})")
            try:
                values[name][key] = schema[key](value)
            except (TypeError, ValueError) as exc:
                raise fail(f"{name}.{key}", name, str(exc)) from None
    exemptions = []
    raw_exemptions = data.get("exemptions", [])
    if not isinstance(raw_exemptions, list):
        raise fail("exemptions", None, "must be an array of tables ([[exemptions]])")
    for index, raw in enumerate(raw_exemptions):
        label = f"exemptions[{index}]"
        fields: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in EXEMPTION:
                raise fail(f"{label}.{key}", "exemptions", f"unknown key (known: {', '.join(sorted(EXEMPTION))})",
                           index)
            try:
                fields[key] = EXEMPTION[key](value)
            except (TypeError, ValueError) as exc:
                raise fail(f"{label}.{key}", "exemptions", str(exc), index) from None
        for required in ("reason", "expires"):
            if required not in fields:
                raise fail(label, "exemptions", f"needs {required!r}: every exemption says why and until when",
                           index)
        if not any(k in fields for k in ("server", "resource_group", "tag")):
            raise fail(label, "exemptions", "needs server, resource_group or tag: what does it exempt?", index)
        exemptions.append(Exemption(line=_line_of(text, "", "exemptions", index), **fields))
    return Policy(
        desired=Desired(**values["desired"]),
        approved_ranges=values["firewall"].get("approved_ranges", ()),
        trusted_subscriptions=tuple(s.lower() for s in values["private_endpoints"].get("trusted_subscriptions", ())),
        audit_destinations=values["diagnostics"].get("audit_destinations", ()),
        min_alert_severity=values["alerts"].get("min_severity", "low"),
        resolved_cards=values["alerts"].get("resolved_cards", True),
        exemptions=tuple(exemptions),
        source=source,
    )


APP_ROOT = Path(__file__).resolve().parents[1]


def load_policy(path: str | Path | None) -> Policy:
    """The policy at `path`; a relative path not found from here is taken from the app's root."""
    if not path:
        return Policy()
    path = Path(path)
    if not path.is_absolute() and not path.exists() and (APP_ROOT / path).exists():
        path = APP_ROOT / path
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
    return parse_policy(text, str(path))
