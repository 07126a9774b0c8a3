"""Encryption in transit: `tls_version` and `require_secure_transport`, each with its own verdict.

`tls_version` is a comma list (`TLSv1.2,TLSv1.3`); every version it admits beyond the policy's
(TLS 1.3 only by default) is an issue of its own, so dropping 1.3-only for 1.2 weakens
(medium) and admitting 1.0 or 1.1 weakens more (high). A value this detector does not know is
reported as such rather than guessed at.
"""

from __future__ import annotations

import re

from detectors import LEARN, Context, Issue, detector, parameter_value
from drift.model import Severity

KNOWN_VERSIONS = {"TLSV1": "TLSv1.0", "TLSV1.0": "TLSv1.0", "TLSV1.1": "TLSv1.1", "TLSV1.2": "TLSv1.2",
                  "TLSV1.3": "TLSv1.3"}
DEPRECATED = {"TLSv1.0", "TLSv1.1"}
# How Azure writes each version (allowedValues, and what a configuration read returns). The state is kept
# upper-cased, so that baselines compare whatever case a request used; a reader sees Azure's spelling.
AZURE_SPELLING = {"TLSV1": "TLSv1", "TLSV1.0": "TLSv1.0", "TLSV1.1": "TLSv1.1", "TLSV1.2": "TLSv1.2",
                  "TLSV1.3": "TLSv1.3"}
_TOKEN = re.compile(r"[^,;\s]+")


def as_azure_writes(state: str | None) -> str:
    """A tls_version state as Azure writes it (`TLSV1.2,TLSV1.3` shows as `TLSv1.2,TLSv1.3`); a version Azure
    does not know stays as read, upper-cased."""
    if not state:
        return "not set"
    return _TOKEN.sub(lambda m: AZURE_SPELLING.get(m.group(), m.group()), state)


def tls_versions(value: str | None) -> list[str]:
    if value is None:
        return []
    return sorted({t.strip() for t in value.replace(";", ",").split(",") if t.strip()})


@detector(
    "tls_version",
    reads="configuration/tls_version",
    title="TLS versions",
    control="DP-3",
    severity_rules="high: TLS 1.0 or 1.1 allowed; medium: TLS 1.2 allowed where the policy wants 1.3 only, "
                   "an unknown value, or no value",
    remediation="Allow only TLS 1.3 (or the versions the policy allows); tls_version is static: restart to apply.",
    command="az mysql flexible-server parameter set -g {resource_group} -s {server} -n tls_version --value TLSv1.3 "
            "&& az mysql flexible-server restart -g {resource_group} -n {server}",
    doc_url=LEARN + "concepts-networking-ssl-tls",
    state=parameter_value,
    describe=as_azure_writes,
    static=True,
    commands={"previous": "az mysql flexible-server parameter set -g {resource_group} -s {server} -n tls_version "
                          "--value <value> && az mysql flexible-server restart -g {resource_group} -n {server}"},
    previous=lambda s: as_azure_writes(s) if s else None,
    cis="5.3.2",
    prowler="mysql_flexible_server_minimum_tls_version_12",
)
def tls_version_issues(state: str | None, ctx: Context) -> list[Issue]:
    tokens = tls_versions(state)
    if not tokens:
        return [Issue("missing", Severity.MEDIUM, "tls_version is not set")]
    allowed = set(ctx.policy.desired.tls_versions)
    found = []
    for token in tokens:
        version = KNOWN_VERSIONS.get(token)
        if version is None:
            found.append(Issue(f"unknown:{token}", Severity.MEDIUM, f"tls_version has an unknown value {token!r}"))
        elif version not in allowed:
            severity = Severity.HIGH if version in DEPRECATED else Severity.MEDIUM
            found.append(Issue(f"allows:{version}", severity,
                               f"allows {version} (policy allows {', '.join(sorted(allowed))})"))
    return found


@detector(
    "require_secure_transport",
    reads="configuration/require_secure_transport",
    title="Require secure transport",
    control="DP-3",
    severity_rules="high: OFF (unencrypted connections accepted); medium: an unexpected value",
    remediation="Require TLS for every connection.",
    command="az mysql flexible-server parameter set -g {resource_group} -s {server} -n require_secure_transport "
            "--value ON",
    doc_url=LEARN + "concepts-networking-ssl-tls",
    state=parameter_value,
    describe=lambda s: s or "not set",
    cis="5.3.1",
    prowler="mysql_flexible_server_ssl_connection_enabled",
)
def secure_transport_issues(state: str | None, ctx: Context) -> list[Issue]:
    if state == "ON" or ctx.policy.desired.require_secure_transport == "OFF":
        return []
    if state == "OFF":
        return [Issue("off", Severity.HIGH, "require_secure_transport is OFF: unencrypted connections are accepted")]
    return [Issue(f"unknown:{state}", Severity.MEDIUM, f"require_secure_transport has an unexpected value {state!r}")]
