"""The stand-in's resource model: flexible servers and the child resources they hold, in memory.

`Server` holds a server's ARM body (location, sku, tags, properties, identity) and its children by
collection; `Child` is one firewall rule, administrator, private endpoint connection, Defender setting or
diagnostic setting. The functions fill a new server's defaults, keep the read-only properties in step with
the writable ones, and apply JSON merge patches as PATCH does.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from drift.local.arm.errors import JsonDict
from drift.local.arm.parameters import Config

MYSQL_API_VERSION = "2024-12-30"
INSIGHTS_API_VERSION = "2021-05-01-preview"
MYSQL_PROVIDER = "Microsoft.DBforMySQL"
INSIGHTS_PROVIDER = "Microsoft.Insights"
SERVER_TYPE = "Microsoft.DBforMySQL/flexibleServers"
DIAGNOSTIC_SETTING_TYPE = "Microsoft.Insights/diagnosticSettings"


_WRITE_ONLY_SERVER_PROPERTIES = ("administratorLoginPassword", "createMode", "restorePointInTime")
_READ_ONLY_SERVER_PROPERTIES = (
    "fullVersion",
    "fullyQualifiedDomainName",
    "state",
    "replicaCapacity",
    "privateEndpointConnections",
)
_FULL_VERSIONS = {"5.7": "5.7.44", "8.0.21": "8.0.40"}


@dataclass
class Child:
    name: str
    properties: JsonDict
    extra: JsonDict = field(default_factory=dict)


@dataclass
class Server:
    subscription_id: str
    resource_group: str
    name: str
    resource: JsonDict  # location, sku, tags, properties, identity (optional)
    configurations: dict[str, Config] = field(default_factory=dict)
    firewall_rules: dict[str, Child] = field(default_factory=dict)
    administrators: dict[str, Child] = field(default_factory=dict)
    private_endpoint_connections: dict[str, Child] = field(default_factory=dict)
    threat_protection: dict[str, Child] = field(default_factory=dict)
    diagnostic_settings: dict[str, Child] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{SERVER_TYPE}/{self.name}"
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def merge_patch(base: JsonDict, patch: Mapping[str, Any]) -> JsonDict:
    """JSON merge patch (RFC 7386): nested objects merge, ``null`` removes, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_patch(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def server_defaults(name: str, version: str, now: datetime) -> JsonDict:
    return {
        "administratorLogin": "azureuser",
        "availabilityZone": "1",
        "backup": {
            "backupIntervalHours": 24,
            "backupRetentionDays": 7,
            "earliestRestoreDate": now.isoformat(timespec="microseconds"),
            "geoRedundantBackup": "Disabled",
        },
        "dataEncryption": {"type": "SystemManaged"},
        "databasePort": 3306,
        "fullVersion": _FULL_VERSIONS.get(version, version),
        "fullyQualifiedDomainName": f"{name.lower()}.mysql.database.azure.com",
        "highAvailability": {"mode": "Disabled", "state": "NotEnabled"},
        "maintenancePolicy": {"patchStrategy": "Regular"},
        "maintenanceWindow": {
            "batchOfMaintenance": "Default",
            "customWindow": "Disabled",
            "dayOfWeek": 0,
            "startHour": 0,
            "startMinute": 0,
        },
        "network": {"publicNetworkAccess": "Disabled"},
        "replicaCapacity": 10,
        "replicationRole": "None",
        "state": "Ready",
        "storage": {
            "autoGrow": "Enabled",
            "autoIoScaling": "Enabled",
            "iops": 360,
            "storageRedundancy": "LocalRedundancy",
            "storageSizeGB": 20,
            "storageSku": "Premium_LRS",
        },
        "version": version,
    }


def writable_server_properties(props: Mapping[str, Any]) -> JsonDict:
    out = copy.deepcopy(dict(props))
    for key in (*_WRITE_ONLY_SERVER_PROPERTIES, *_READ_ONLY_SERVER_PROPERTIES):
        out.pop(key, None)
    return out


def normalise_server(resource: JsonDict) -> None:
    """Recompute the read-only server properties that depend on writable ones."""
    props = resource["properties"]
    version = str(props.get("version") or "8.0.21")
    props["version"] = version
    props["fullVersion"] = _FULL_VERSIONS.get(version, version)
    ha = props.setdefault("highAvailability", {})
    ha.setdefault("mode", "Disabled")
    ha["state"] = "NotEnabled" if ha["mode"] == "Disabled" else "Healthy"
