"""The README's settings table, written from the detector registry and the routing table.

`python -m drift.docs` prints it; a test keeps the README's copy equal to it.
"""

from __future__ import annotations

import detectors
from drift.armid import mysql_server_ref
from drift.policy import Desired
from drift.readers import READ_ACTION_ALIASES, READ_ACTIONS
from drift.routing import ROUTES, SUBSCRIPTION_OPERATIONS

_SAMPLE = "/subscriptions/s/resourceGroups/g/providers/Microsoft.DBforMySQL/flexibleServers/srv"
_CHILD = {"": "", "firewallrules": "/firewallRules/r", "configurations": "/configurations/{p}",
          "administrators": "/administrators/ActiveDirectory",
          "privateendpointconnections": "/privateEndpointConnections/p",
          "privateendpointconnectionproxies": "/privateEndpointConnectionProxies/p",
          "advancedthreatprotectionsettings": "/advancedThreatProtectionSettings/Default",
          "microsoft.insights/diagnosticsettings": "/providers/Microsoft.Insights/diagnosticSettings/d"}
READS = {"server": "get server", "firewall_rules": "list firewall rules", "configuration": "get parameter",
         "administrators": "list administrators", "private_endpoints": "list private endpoint connections",
         "threat_protection": "get threat protection setting", "diagnostic_settings": "list diagnostic settings",
         "defender_plan": "get the subscription's Defender plan (and list servers when it weakens)"}
BEGIN, END = "<!-- settings-table: written by `python -m drift.docs` -->", "<!-- /settings-table -->"

DESIRED = {
    "firewall_rules": "no rule opening the internet, all of Azure or > /16 (approved ranges excepted)",
    "public_network_access": f"{Desired.public_network_access}",
    "network_isolation": "recorded (VNet integration kept)",
    "aad_auth_only": f"{Desired.aad_auth_only}",
    "entra_admin": "an Entra admin is set",
    "tls_version": " / ".join(Desired.tls_versions) + " only",
    "require_secure_transport": f"{Desired.require_secure_transport}",
    "audit_log_enabled": f"{Desired.audit_log_enabled}",
    "audit_log_events": " or ".join(Desired.audit_log_events) + " included",
    "diagnostic_settings": "audit logs shipped to a destination",
    "data_encryption": "customer-managed key (AzureKeyVault)",
    "backup": f"geo-redundant, >= {Desired.min_backup_retention_days} days",
    "defender": f"{Desired.defender}",
    "private_endpoints": "approved connections only from own or trusted subscriptions",
    "high_availability": f"{Desired.high_availability} or better",
    "mysql_version": f">= {Desired.min_mysql_version}",
    "audit_log_exclude_users": "nobody excluded",
    "audit_log_include_users": "empty (every user audited)",
    "defender_plan": f"{Desired.defender_plan}",
}


def _triggers(detector: detectors.Detector) -> str:
    if detector.scope == "subscription":
        return ", ".join(f"`{op}`" for op in SUBSCRIPTION_OPERATIONS)
    found = []
    for route in ROUTES:
        suffix = _CHILD[route.target].replace("{p}", detector.reads.rpartition("/")[2])
        ref = mysql_server_ref(_SAMPLE + suffix)
        if ref is not None and detector.reads in route.reads(ref):
            found.extend(op.split("/", 1)[1] if op.startswith("Microsoft.DBforMySQL") else op
                         for op in route.operations)
    return ", ".join(f"`{op}`" for op in found)


def settings_table() -> str:
    rows = ["| setting | re-checked on | ARM read (permission) | desired by default | severity | MCSB "
            "| CIS Azure 3.0 | Prowler |",
            "|---|---|---|---|---|---|---|---|"]
    for d in detectors.all_detectors():
        if d.control == "-":  # kept as context only (tags, administrator login), never judged
            continue
        kind, _, parameter = d.reads.partition("/")
        read = READS[kind] + (f" `{parameter}`" if parameter else "")
        actions = " or ".join(f"`{a}`" for a in (READ_ACTIONS[kind], *READ_ACTION_ALIASES.get(kind, ())))
        rows.append(f"| {d.title} (`{d.setting}`) | {_triggers(d)} | {read} ({actions}) | "
                    f"{DESIRED[d.setting]} | {d.severity_rules} | {d.control or '-'} | {d.cis or '-'} | "
                    f"{'`' + d.prowler + '`' if d.prowler else '-'} |")
    return "\n".join([BEGIN, *rows, END])


if __name__ == "__main__":
    print(settings_table())
