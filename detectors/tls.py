"""Encryption in transit: `tls_version` and `require_secure_transport`, each with its own verdict.

`tls_version` is a comma list (`TLSv1.2,TLSv1.3`); every version it admits that is weaker
than TLS 1.3 is an issue of its own, so dropping 1.3-only for 1.2 weakens (medium) and
admitting 1.0 or 1.1 weakens more (high). A value this detector does not know is reported as
such rather than guessed at.
"""

from __future__ import annotations

from detectors import Issue, detector, parameter_value
from drift.model import Severity

KNOWN_VERSIONS = {"TLSV1": "TLSv1.0", "TLSV1.0": "TLSv1.0", "TLSV1.1": "TLSv1.1", "TLSV1.2": "TLSv1.2",
                  "TLSV1.3": "TLSv1.3"}
WEAK = {"TLSv1.0": Severity.HIGH, "TLSv1.1": Severity.HIGH, "TLSv1.2": Severity.MEDIUM}


def tls_versions(value: str | None) -> list[str]:
    if value is None:
        return []
    return sorted({t.strip() for t in value.replace(";", ",").split(",") if t.strip()})


@detector(
    "tls_version",
    reads="configuration/tls_version",
    title="Minimum TLS version",
    remediation="az mysql flexible-server parameter set -g {resource_group} -s {server} -n tls_version "
                "--value TLSv1.3 (static: restart the server to apply)",
    state=parameter_value,
    describe=lambda s: s or "not set",
)
def tls_version_issues(state: str | None) -> list[Issue]:
    tokens = tls_versions(state)
    if not tokens:
        return [Issue("missing", Severity.MEDIUM, "tls_version is not set")]
    found = []
    for token in tokens:
        version = KNOWN_VERSIONS.get(token)
        if version is None:
            found.append(Issue(f"unknown:{token}", Severity.MEDIUM, f"tls_version has an unknown value {token!r}"))
        elif version in WEAK:
            found.append(Issue(f"allows:{version}", WEAK[version], f"allows {version} (not TLS 1.3 only)"))
    return found


@detector(
    "require_secure_transport",
    reads="configuration/require_secure_transport",
    title="Require secure transport",
    remediation="az mysql flexible-server parameter set -g {resource_group} -s {server} "
                "-n require_secure_transport --value ON",
    state=parameter_value,
    describe=lambda s: s or "not set",
)
def secure_transport_issues(state: str | None) -> list[Issue]:
    if state == "ON":
        return []
    if state == "OFF":
        return [Issue("off", Severity.HIGH, "require_secure_transport is OFF: unencrypted connections are accepted")]
    return [Issue(f"unknown:{state}", Severity.MEDIUM, f"require_secure_transport has an unexpected value {state!r}")]
