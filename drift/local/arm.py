"""A local stand-in for Azure Resource Manager: MySQL flexible servers and diagnostic settings.

What it serves (HTTPS on loopback, in-memory state, one lock):

* ``Microsoft.DBforMySQL/flexibleServers`` api-version 2024-12-30: servers (list/get/put/patch/
  delete, restart/start/stop, detachVNet), firewall rules, configurations (+ ``updateConfigurations`` batch),
  Entra administrators, private endpoint connections, Advanced Threat Protection settings.
* ``Microsoft.Insights/diagnosticSettings`` api-version 2021-05-01-preview on a server.
* One Event Grid event (Event Grid schema, system topic of the subscription) for every successful
  PUT/PATCH/DELETE/POST, queued under the same lock as the state change and before the response.
* ``/_standin/...``: an unauthenticated admin surface for out-of-process tests (events, faults,
  latency, emit switch, stats, reset).

Bodies follow the official REST examples. Deliberate differences, all to keep the real SDK happy:

* Long-running operations take effect at once, but answer as the spec says (lro.py): 201/202 with
  ``Azure-AsyncOperation`` and/or ``Location`` and polling URLs the SDK pollers follow. With
  ``lro.enabled = False`` they answer 200/201 at once, and a ``201 Created`` then carries
  ``properties.provisioningState = "Succeeded"`` (else azure-core's ``BodyContentPolling`` GETs again).
* Lists of configurations, firewall rules and administrators are paged (``child_page_size``), path
  names are checked against the spec's patterns on PUT, and diagnostic-settings errors take the
  Monitor spec's ``ErrorResponse`` shape (``{"code", "message"}``, no ``error`` wrapper).
* Events can vary as Azure's do (``event_variation``, off by default: variation.py).
* Private endpoint connections report ``provisioningState`` "Succeeded": the example's "Ready" is
  not a terminal LRO state, so ``begin_create_or_update`` would poll every 30 s forever.
* Configurations also carry ``currentValue`` (the running value: for a static parameter it changes
  only after ``restart``), as the live service does.
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import json
import logging
import signal
import ssl
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from drift.local import security, traffic
from drift.local.credential import CLAIM_OBJECT_ID, CLAIM_UPN, decode_unverified
from drift.local.httpd import JsonRequestHandler, TrackingHTTPServer
from drift.local.lro import LongRunningOperations, SpecFacts
from drift.local.variation import EventVariation

log = logging.getLogger(__name__)

MYSQL_API_VERSION = "2024-12-30"
INSIGHTS_API_VERSION = "2021-05-01-preview"
PUBLIC_ARM_URL = "https://management.azure.com"
DEFAULT_TENANT_ID = "72f988bf-0000-0000-0000-000000000000"
MYSQL_PROVIDER = "Microsoft.DBforMySQL"
INSIGHTS_PROVIDER = "Microsoft.Insights"
SERVER_TYPE = "Microsoft.DBforMySQL/flexibleServers"
DIAGNOSTIC_SETTING_TYPE = "Microsoft.Insights/diagnosticSettings"
PAGE_SIZE = 100
CONTRIBUTOR_ROLE_DEFINITION_ID = "b24988ac-6180-42a0-ab88-20f7382dd24c"

_WRITE_ONLY_SERVER_PROPERTIES = ("administratorLoginPassword", "createMode", "restorePointInTime")
_READ_ONLY_SERVER_PROPERTIES = (
    "fullVersion",
    "fullyQualifiedDomainName",
    "state",
    "replicaCapacity",
    "privateEndpointConnections",
)
_FULL_VERSIONS = {"5.7": "5.7.44", "8.0.21": "8.0.40"}
_STATUS_CODES = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

JsonDict = dict[str, Any]


class ArmError(Exception):
    """An ARM error answer: ``{"error": {"code": ..., "message": ...}}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self, path: str = "") -> JsonDict:
        return error_body(path, self.code, self.message)


def error_body(path: str, code: str, message: str) -> JsonDict:
    """ARM's error shape, or the Monitor spec's own ``ErrorResponse`` for diagnostic settings."""
    if "/providers/microsoft.insights/" in path.lower():
        return {"code": code, "message": message}
    return {"error": {"code": code, "message": message}}


# --------------------------------------------------------------------------------------------
# Server parameters (configurations)


@dataclass(frozen=True)
class ParameterSpec:
    """One server parameter as the MySQL flexible server catalogue describes it."""

    name: str
    description: str
    data_type: str  # Enumeration | Set | Integer | String
    allowed_values: str
    default: str
    dynamic: bool = True
    read_only: bool = False

    def validate(self, value: str) -> None:
        """Raise a 400 ArmError when Azure would refuse ``value`` for this parameter."""
        bad = ArmError(
            400,
            "InvalidParameterValue",
            f"Invalid value '{value}' given for parameter '{self.name}'. "
            f"Allowed values: '{self.allowed_values}'.",
        )
        if self.data_type in ("Enumeration", "Set"):
            allowed = {a.strip().upper() for a in self.allowed_values.split(",")}
            items = (
                [v.strip().upper() for v in value.split(",")] if self.data_type == "Set" else [value.upper()]
            )
            if not items or any(not item or item not in allowed for item in items):
                raise bad
        elif self.data_type == "Integer":
            low, _, high = self.allowed_values.partition("-")
            try:
                number = int(value)
            except ValueError:
                raise bad from None
            if not int(low) <= number <= int(high):
                raise bad


def parameter_catalogue(version: str) -> tuple[ParameterSpec, ...]:
    """The parameters a new server of ``version`` gets (security ones plus a few harmless ones)."""
    is_57 = version.startswith("5.7")
    on_off = "ON,OFF"
    return (
        ParameterSpec(
            "require_secure_transport",
            "Whether client connections to the server are required to use some form of secure transport.",
            "Enumeration",
            on_off,
            "ON",
        ),
        ParameterSpec(
            "tls_version",
            "Which protocols the server permits for encrypted connections.",
            "Set",
            "TLSv1,TLSv1.1,TLSv1.2" if is_57 else "TLSv1.2,TLSv1.3",
            "TLSv1.2" if is_57 else "TLSv1.2,TLSv1.3",
            dynamic=False,
        ),
        ParameterSpec(
            "aad_auth_only",
            "Only allow Microsoft Entra ID (Azure AD) authentication to the server.",
            "Enumeration",
            on_off,
            "OFF",
        ),
        ParameterSpec("audit_log_enabled", "Allow to audit the log.", "Enumeration", on_off, "OFF"),
        ParameterSpec(
            "audit_log_events",
            "Selects the events to audit.",
            "Set",
            "CONNECTION,CONNECTION_V2,DML_SELECT,DML_NONSELECT,DML,DDL,DCL,ADMIN,GENERAL,TABLE_ACCESS",
            "CONNECTION",
        ),
        ParameterSpec("audit_log_exclude_users",
                      "The comma-separated user list whose commands will not be in the audit logs.", "String", "",
                      "azure_superuser"),
        ParameterSpec("audit_log_include_users",
                      "The comma-separated user list whose commands will be in the audit logs. It takes higher "
                      "priority if the same user name is found in audit_log_exclude_users.", "String", "", ""),
        ParameterSpec(
            "max_connections",
            "The maximum permitted number of simultaneous client connections.",
            "Integer",
            "10-100000",
            "151",
        ),
        ParameterSpec(
            "wait_timeout",
            "The number of seconds the server waits for activity on a noninteractive connection "
            "before closing it.",
            "Integer",
            "1-31536000",
            "28800",
        ),
        ParameterSpec(
            "event_scheduler",
            "Indicates the status of the Event Scheduler. It is always OFF for a replica server to keep "
            "the replication consistency.",
            "Enumeration",
            on_off,
            "OFF",
        ),
        ParameterSpec("slow_query_log", "Enable or disable the slow query log", "Enumeration", on_off, "OFF"),
        ParameterSpec(
            "time_zone",
            "The server time zone",
            "String",
            "[+|-][0]{0,1}[0-9]:[0-5][0-9]|[+|-][1][0-2]:[0-5][0-9]|SYSTEM",
            "SYSTEM",
        ),
        ParameterSpec(
            "innodb_lock_wait_timeout",
            "The length of time in seconds an InnoDB transaction waits for a row lock before giving up.",
            "Integer",
            "1-3600",
            "50",
        ),
        ParameterSpec(
            "div_precision_increment",
            "Number of digits by which to increase the scale of the result of division operations.",
            "Integer",
            "0-30",
            "4",
        ),
    )


@dataclass
class _Config:
    spec: ParameterSpec
    value: str
    current_value: str
    source: str = "system-default"

    @property
    def pending_restart(self) -> bool:
        return not self.spec.dynamic and self.value != self.current_value

    def set(self, value: str | None, source: str | None) -> None:
        if value is None:
            if (source or "").lower() != "system-default":
                raise ArmError(400, "InvalidParameterValue", f"A value is required for '{self.spec.name}'.")
            value, source = self.spec.default, "system-default"
        if self.spec.read_only:
            raise ArmError(400, "ReadOnlyParameter", f"Parameter '{self.spec.name}' is read-only.")
        self.spec.validate(value)
        self.value = value
        self.source = source if source in ("system-default", "user-override") else "user-override"
        if self.spec.dynamic:
            self.current_value = value

    def properties(self) -> JsonDict:
        spec = self.spec
        return {
            "description": spec.description,
            "allowedValues": spec.allowed_values,
            "dataType": spec.data_type,
            "defaultValue": spec.default,
            "isConfigPendingRestart": _bool_str(self.pending_restart),
            "isDynamicConfig": _bool_str(spec.dynamic),
            "isReadOnly": _bool_str(spec.read_only),
            "source": self.source,
            "value": self.value,
            "currentValue": self.current_value,
        }


# --------------------------------------------------------------------------------------------
# State


@dataclass
class _Child:
    name: str
    properties: JsonDict
    extra: JsonDict = field(default_factory=dict)


@dataclass
class _Server:
    subscription_id: str
    resource_group: str
    name: str
    resource: JsonDict  # location, sku, tags, properties, identity (optional)
    configurations: dict[str, _Config] = field(default_factory=dict)
    firewall_rules: dict[str, _Child] = field(default_factory=dict)
    administrators: dict[str, _Child] = field(default_factory=dict)
    private_endpoint_connections: dict[str, _Child] = field(default_factory=dict)
    threat_protection: dict[str, _Child] = field(default_factory=dict)
    diagnostic_settings: dict[str, _Child] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{SERVER_TYPE}/{self.name}"
        )


@dataclass(frozen=True)
class StandInStats:
    """A snapshot of what the stand-in has answered (admin calls excluded)."""

    reads: int
    writes: int
    requests_by_path: Counter[str]
    throttled: int = 0  # reads refused with 429 by the read bucket
    polls: int = 0  # GETs of long-running operations' polling URLs (not in `reads`)

    def to_json(self) -> JsonDict:
        return {"reads": self.reads, "writes": self.writes, "requests_by_path": dict(self.requests_by_path),
                "throttled": self.throttled, "polls": self.polls}


class ReadBucket:
    """ARM's read limit: a token bucket per subscription (and principal), `burst` deep, refilled at `rate`/s."""

    def __init__(self, burst: float, rate: float) -> None:
        self.burst, self.rate = burst, rate
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}

    def take(self, key: str, now: float) -> float:
        """0 when a read may go ahead, else the seconds until a token is there (the Retry-After)."""
        tokens = min(self.burst, self._tokens.get(key, self.burst) + (now - self._stamp.get(key, now)) * self.rate)
        self._stamp[key] = now
        if tokens >= 1:
            self._tokens[key] = tokens - 1
            return 0.0
        self._tokens[key] = tokens
        return (1 - tokens) / self.rate


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: float | None
    method: str | None
    path_contains: str | None

    def matches(self, method: str, path_lower: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path_contains or self.path_contains.lower() in path_lower


@dataclass
class _Request:
    method: str
    raw_path: str
    raw_query: str
    segments: list[str]
    query: dict[str, str]  # lower-cased names
    headers: Message
    body: Any
    claims: JsonDict
    client_ip: str
    correlation_id: str
    poll_of: str | None = None  # a polling URL's: the operationId of the write it follows

    def path_prefix(self, count: int) -> str:
        """The first ``count`` path segments, as the caller spelled them (Azure's event subject)."""
        return "/" + "/".join(self.segments[:count])


# --------------------------------------------------------------------------------------------
# Helpers


def _bool_str(flag: bool) -> str:
    return "True" if flag else "False"


def _now() -> datetime:
    return datetime.now(UTC)


def _event_time(moment: datetime) -> str:
    """ISO 8601 with 7 fractional digits and ``Z``, as Event Grid writes ``eventTime``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _format_retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _merge(base: JsonDict, patch: Mapping[str, Any]) -> JsonDict:
    """JSON merge patch (RFC 7386): nested objects merge, ``null`` removes, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _stringify_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Azure puts claims into events as a string-to-string map (``"iat": "1531764543"``)."""
    out: dict[str, str] = {}
    for key, value in claims.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, (dict, list)):
            out[key] = json.dumps(value, separators=(",", ":"))
        else:
            out[key] = str(value)
    return out


def _object(body: Any, what: str = "request") -> JsonDict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", f"The {what} content must be a JSON object.")
    return body


def _properties(body: Any) -> JsonDict:
    props = _object(body).get("properties") or {}
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestContent", "'properties' must be a JSON object.")
    return props


def _not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def _ipv4(value: Any, field_name: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError:
        raise ArmError(
            400, "InvalidParameterValue", f"'{field_name}' must be an IPv4 address, got '{value}'."
        ) from None


def _server_defaults(name: str, version: str, now: datetime) -> JsonDict:
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


def _writable_server_properties(props: Mapping[str, Any]) -> JsonDict:
    out = copy.deepcopy(dict(props))
    for key in (*_WRITE_ONLY_SERVER_PROPERTIES, *_READ_ONLY_SERVER_PROPERTIES):
        out.pop(key, None)
    return out


def _normalise_server(resource: JsonDict) -> None:
    """Recompute the read-only server properties that depend on writable ones."""
    props = resource["properties"]
    version = str(props.get("version") or "8.0.21")
    props["version"] = version
    props["fullVersion"] = _FULL_VERSIONS.get(version, version)
    ha = props.setdefault("highAvailability", {})
    ha.setdefault("mode", "Disabled")
    ha["state"] = "NotEnabled" if ha["mode"] == "Disabled" else "Healthy"


# --------------------------------------------------------------------------------------------
# Routing


@dataclass(frozen=True)
class _Route:
    kind: str  # list_sub | list_rg | server | collection | child | action | diag_list | diag
    subscription_id: str
    resource_group: str = ""
    server: str = ""
    collection: str = ""  # canonical collection or action name
    name: str = ""
    depth: int = 0  # how many path segments make up the target resource id


_COLLECTIONS = {
    "firewallrules": "firewallRules",
    "configurations": "configurations",
    "administrators": "administrators",
    "privateendpointconnections": "privateEndpointConnections",
    "advancedthreatprotectionsettings": "advancedThreatProtectionSettings",
}
_POLLS = {"azureasyncoperation": "azureAsyncOperation", "operationresults": "operationResults"}
_ACTIONS = {
    "updateconfigurations": "updateConfigurations",
    "detachvnet": "detachVNet",
    "restart": "restart",
    "start": "start",
    "stop": "stop",
}


def _resolve(segments: list[str]) -> _Route | None:
    low = [s.lower() for s in segments]
    if len(low) < 2 or low[0] != "subscriptions":
        return None
    sub = segments[1]
    provider = ["providers", "microsoft.dbformysql", "flexibleservers"]
    if low[2:] == provider:
        return _Route("list_sub", sub)
    if len(low) == 8 and low[2:5] == ["providers", "microsoft.dbformysql", "locations"] and low[6] in _POLLS:
        return _Route("operation", sub, collection=_POLLS[low[6]], name=segments[7])
    if len(low) < 7 or low[2] != "resourcegroups" or low[4:7] != provider:
        return None
    rg = segments[3]
    if len(low) == 7:
        return _Route("list_rg", sub, rg)
    server = segments[7]
    rest, rest_low = segments[8:], low[8:]
    if not rest:
        return _Route("server", sub, rg, server, depth=8)
    if len(rest) == 1 and rest_low[0] in _COLLECTIONS:
        return _Route("collection", sub, rg, server, _COLLECTIONS[rest_low[0]], depth=8)
    if len(rest) == 1 and rest_low[0] in _ACTIONS:
        return _Route("action", sub, rg, server, _ACTIONS[rest_low[0]], depth=8)
    if len(rest) == 2 and rest_low[0] in _COLLECTIONS:
        return _Route("child", sub, rg, server, _COLLECTIONS[rest_low[0]], rest[1], depth=10)
    if rest_low[:3] == ["providers", "microsoft.insights", "diagnosticsettings"]:
        if len(rest) == 3:
            return _Route("diag_list", sub, rg, server, depth=8)
        if len(rest) == 4:
            return _Route("diag", sub, rg, server, name=rest[3], depth=12)
    return None


def _is_poll(raw_path: str) -> bool:
    route = _resolve([unquote(s) for s in raw_path.split("/") if s])
    return route is not None and route.kind == "operation"


# --------------------------------------------------------------------------------------------
# The stand-in


class ArmStandIn:
    """In-memory ARM for MySQL flexible servers + diagnostic settings, over HTTPS on loopback.

    Use ``MySQLManagementClient(LocalCredential(), sub, base_url=standin.url,
    connection_verify=str(ca.ca_bundle))``. Any subscription id is accepted.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tenant_id: str = DEFAULT_TENANT_ID,
        child_page_size: int = PAGE_SIZE,
    ) -> None:
        self.tenant_id = tenant_id
        self.child_page_size = child_page_size  # configurations, firewall rules, administrators
        self.lro = LongRunningOperations()
        self.event_variation = EventVariation()
        self._facts = SpecFacts.load()
        self._event_sequence = 0
        self.emit_events: bool = True
        self.latency: float = 0.0
        self._ssl_context = ssl_context
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._events_ready = threading.Condition(self._lock)
        self._events: deque[JsonDict] = deque()
        self._servers: dict[tuple[str, str, str], _Server] = {}
        self._faults: list[_Fault] = []
        self._reads = 0
        self._writes = 0
        self._throttled = 0
        self._polls = 0
        self._bucket: ReadBucket | None = None
        self.defer_server_updates = False  # PATCH shows `Updating` and the old values until finish_updates()
        self._pending_updates: list[tuple[_Server, JsonDict]] = []
        # Defender and private endpoint connection writes show their provisioningState in flight
        # (and the old values) until finish_updates().
        self.defer_subresource_updates = False
        self._pending_children: list[tuple[_Child, JsonDict]] = []
        self._by_path: Counter[str] = Counter()
        self._httpd: TrackingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.url = ""

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; ``url`` is set once this returns."""
        if self._httpd is not None:
            return self
        handler = type("ArmHandler", (_ArmHandler,), {"standin": self})
        self._httpd = TrackingHTTPServer((self._host, self._port), handler, self._ssl_context)
        host, port = self._httpd.server_address[:2]
        self.url = f"https://{host}:{port}"
        self._stopping = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="arm-standin", daemon=True
        )
        self._thread.start()
        log.info("ARM stand-in listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and wake anyone blocked in :meth:`next_event`."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        with self._events_ready:
            self._stopping = True
            self._events_ready.notify_all()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        log.info("ARM stand-in on %s stopped", self.url)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- test controls ------------------------------------------------------------------

    def next_event(self, timeout: float | None = None) -> JsonDict | None:
        """The oldest queued event, waiting up to ``timeout`` seconds (forever if None)."""
        with self._events_ready:
            self._events_ready.wait_for(lambda: bool(self._events) or self._stopping, timeout)
            return self._events.popleft() if self._events else None

    def pending_events(self) -> int:
        """How many events are queued and not yet taken."""
        with self._lock:
            return len(self._events)

    def drain_events(self) -> list[JsonDict]:
        """Every event queued now, oldest first; does not wait."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
            return events

    def wait_events(self, wait: float) -> list[JsonDict]:
        """Wait up to ``wait`` seconds for at least one event, then drain all (the long poll)."""
        with self._events_ready:
            self._events_ready.wait_for(lambda: bool(self._events) or self._stopping, wait)
            return self.drain_events()

    def add_fault(
        self,
        *,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching ARM requests with ``status`` and an ARM error body.

        ``method`` and ``path_contains`` (case-insensitive substring of the path) narrow the match.
        ``retry_after`` adds a ``Retry-After`` header (seconds; fractions are sent as such and
        azure-core honours them). Faults are consumed in the order they were added.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(_Fault(int(status), int(times), retry_after, method, path_contains))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def stats(self) -> StandInStats:
        """Snapshot: ``reads`` (GETs), ``writes`` (everything else), ``polls``, ``requests_by_path``."""
        with self._lock:
            return StandInStats(self._reads, self._writes, Counter(self._by_path), self._throttled, self._polls)

    def reset_stats(self) -> None:
        with self._lock:
            self._reads = self._writes = self._throttled = self._polls = 0
            self._by_path.clear()

    def reset(self) -> None:
        """Forget every resource, event, fault and statistic; latency 0; events on."""
        with self._lock:
            self._servers.clear()
            security.forget(self)
            self._events.clear()
            self._faults.clear()
            self._reads = self._writes = self._throttled = self._polls = 0
            self._by_path.clear()
            self.latency = 0.0
            self.emit_events = True
            self._bucket = None
            self.defer_server_updates = False
            self._pending_updates = []
            self.defer_subresource_updates = False
            self._pending_children = []
            self.lro.reset()
            self.event_variation = EventVariation()
            self._event_sequence = 0

    def seed_server(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        location: str = "eastus",
        properties: Mapping[str, Any] | None = None,
        sku: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> JsonDict:
        """Create a server directly in memory: no HTTP, no event, no stats. Returns its GET body."""
        body: JsonDict = {"location": location, "properties": dict(properties or {})}
        if sku is not None:
            body["sku"] = dict(sku)
        if tags is not None:
            body["tags"] = dict(tags)
        with self._lock:
            server = self._create_or_replace_server(subscription_id, resource_group, name, body)[1]
            return self._render_server(server)

    def seed_firewall_rules(self, subscription_id: str, resource_group: str, name: str,
                            rules: list[tuple[str, str, str]]) -> None:
        """Add (name, start, end) firewall rules to an existing server in memory: no HTTP, no event.

        For states at Azure's maxima (hundreds of rules) without hundreds of SDK round trips.
        """
        with self._lock:
            server = self._servers[(subscription_id.lower(), resource_group.lower(), name.lower())]
            for rule, start, end in rules:
                server.firewall_rules[rule.lower()] = _Child(rule, {"endIpAddress": end, "startIpAddress": start})

    # ---- request entry point (called by the handler) -------------------------------------

    def finish_updates(self) -> int:
        """Complete the updates held back by `defer_server_updates` and `defer_subresource_updates`:
        new values, server state `Ready`, provisioningState `Succeeded`."""
        with self._lock:
            done, self._pending_updates = self._pending_updates, []
            for server, resource in done:
                resource["properties"]["state"] = "Ready"
                server.resource = resource
            children, self._pending_children = self._pending_children, []
            for child, properties in children:
                child.properties = properties
            return len(done) + len(children)

    def _hold_back(self, child: _Child, final: JsonDict, in_flight: str) -> None:
        """Show ``child`` still provisioning (``in_flight``) until finish_updates() gives it ``final``."""
        self._pending_children.append((child, final))
        child.properties = {**copy.deepcopy(child.properties), "provisioningState": in_flight}

    def limit_reads(self, burst: float = 250, rate: float = 25) -> None:
        """Enforce ARM's read bucket per subscription from now on (429 with Retry-After when empty)."""
        with self._lock:
            self._bucket = ReadBucket(burst, rate)

    def _throttle(self, method: str, raw_path: str) -> float:
        if method not in ("GET", "HEAD") or self._bucket is None:
            return 0.0
        parts = raw_path.strip("/").split("/")
        key = parts[1].lower() if len(parts) > 1 and parts[0].lower() == "subscriptions" else ""
        with self._lock:
            wait = self._bucket.take(key, time.monotonic())
            if wait:
                self._throttled += 1
            return wait

    def _count(self, method: str, raw_path: str) -> None:
        with self._lock:
            if method == "GET" and _is_poll(raw_path):
                self._polls += 1
            elif method in ("GET", "HEAD"):
                self._reads += 1
            else:
                self._writes += 1
            self._by_path[f"{method} {raw_path.lower()}"] += 1

    def _take_fault(self, method: str, raw_path: str) -> _Fault | None:
        path_lower = raw_path.lower()
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path_lower):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _handle(self, request: _Request) -> tuple[int, Any, dict[str, str]]:
        route = _resolve(request.segments)
        if route is None:
            with self._lock:  # subscription-level Defender plans: drift/local/security.py
                answer = security.handle(self, request, ArmError)
            if answer is not None:
                return answer[0], answer[1], {}
            raise ArmError(
                404, "InvalidResourceType", f"The resource type for '{request.raw_path}' could not be found."
            )
        if route.kind == "operation":
            status, body, headers, request.poll_of = self._op_operation(request, route)
            return status, body, headers
        api_version = request.query.get("api-version", "")
        found = self._facts.match(request.method, request.raw_path, api_version)
        if found is not None and request.method == "PUT":
            for name, value, pattern in self._facts.bad_path_values(*found):
                raise ArmError(400, "InvalidResourceName",
                               f"Resource name '{value}' ({name}) is invalid: it must match '{pattern}'.")
        operation = getattr(self, f"_op_{route.kind}")
        with self._lock:
            status, body = operation(request, route)
            if found is not None:
                server = self._find(route) if route.server else None
                location = server.resource["location"] if server else "eastus"
                accepted = self.lro.accept(found[0], self.url, route.subscription_id, location, status, body,
                                           api_version)
                if accepted is not None:
                    return accepted
            if status == 201 and isinstance(body, dict) and "properties" in body:
                body = self._created(body)
            return status, body, {}

    def _op_operation(self, request: _Request, route: _Route) -> tuple[int, Any, dict[str, str], str]:
        self._require(request, "GET")
        url = f"{self.url}{request.raw_path}" + (f"?{request.raw_query}" if request.raw_query else "")
        try:
            return self.lro.poll(route.collection, route.name, url)
        except LookupError:
            raise ArmError(404, "OperationNotFound", f"The operation '{route.name}' was not found.") from None

    # ---- events -------------------------------------------------------------------------

    def _emit(self, request: _Request, route: _Route, operation: str, kind: str, provider: str,
              created: bool = False) -> None:
        """Queue one subscription event for the target of ``route`` (caller holds the lock)."""
        if not self.emit_events:
            return
        subject = request.path_prefix(route.depth)
        claims = request.claims
        principal_id = str(claims.get(CLAIM_OBJECT_ID) or claims.get("oid") or "")
        is_user = bool(claims.get("upn") or claims.get(CLAIM_UPN))
        sub = route.subscription_id
        url = PUBLIC_ARM_URL + request.raw_path + (f"?{request.raw_query}" if request.raw_query else "")
        event = {
            "subject": subject,
            "eventType": f"Microsoft.Resources.Resource{kind}Success",
            "eventTime": _event_time(_now()),
            "id": str(uuid.uuid4()),
            "data": {
                "authorization": {
                    "scope": subject,
                    "action": operation,
                    "evidence": {
                        "role": "Contributor",
                        "roleAssignmentScope": f"/subscriptions/{sub}",
                        "roleAssignmentId": uuid.uuid5(uuid.NAMESPACE_URL, f"{sub}/{principal_id}").hex,
                        "roleDefinitionId": CONTRIBUTOR_ROLE_DEFINITION_ID.replace("-", ""),
                        "principalId": principal_id.replace("-", ""),
                        "principalType": "User" if is_user else "ServicePrincipal",
                    },
                },
                "claims": _stringify_claims(claims),
                "correlationId": request.correlation_id,
                "httpRequest": {
                    "clientRequestId": request.headers.get("x-ms-client-request-id") or "",
                    "clientIpAddress": str(claims.get("ipaddr") or request.client_ip),
                    "method": request.method,
                    "url": url,
                },
                "resourceProvider": provider,
                "resourceUri": subject,
                "operationName": operation,
                "status": "Succeeded",
                "subscriptionId": sub,
                "tenantId": self.tenant_id,
            },
            "dataVersion": "2",
            "metadataVersion": "1",
            "topic": f"/subscriptions/{sub}",
        }
        self._event_sequence += 1
        variation = self.event_variation
        for delivery in variation.deliveries(event, created=created, sequence=self._event_sequence):
            traffic.report_event(delivery)
            if variation.delay > 0:
                timer = threading.Timer(variation.delay, self._deliver, (delivery,))
                timer.daemon = True
                timer.start()
            else:
                self._events.append(delivery)
        self._events_ready.notify_all()

    def _deliver(self, event: JsonDict) -> None:
        with self._events_ready:
            self._events.append(event)
            self._events_ready.notify_all()

    def _emit_mysql(self, request: _Request, route: _Route, suffix: str, kind: str, created: bool = False) -> None:
        self._emit(request, route, f"{SERVER_TYPE}/{suffix}", kind, MYSQL_PROVIDER, created)

    # ---- state helpers (caller holds the lock) ------------------------------------------

    def _find(self, route: _Route) -> _Server | None:
        key = (route.subscription_id.lower(), route.resource_group.lower(), route.server.lower())
        return self._servers.get(key)

    def _parent(self, route: _Route) -> _Server:
        server = self._find(route)
        if server is None:
            raise ArmError(
                404,
                "ParentResourceNotFound",
                f"Failed to perform the requested operation on nested resource. Parent resource "
                f"'{route.server}' not found.",
            )
        return server

    def _create_or_replace_server(
        self, subscription_id: str, resource_group: str, name: str, body: Any
    ) -> tuple[bool, _Server]:
        body = _object(body)
        location = body.get("location")
        if not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        props_in = _writable_server_properties(_properties(body))
        key = (subscription_id.lower(), resource_group.lower(), name.lower())
        existing = self._servers.get(key)
        now = _now()
        previous = existing.resource["properties"]["version"] if existing else None
        version = str(props_in.get("version") or previous or "8.0.21")
        resource: JsonDict = {
            "location": location,
            "properties": _merge(
                _server_defaults(existing.name if existing else name, version, now), props_in
            ),
            "sku": copy.deepcopy(body.get("sku") or {"name": "Standard_B1ms", "tier": "Burstable"}),
            "tags": copy.deepcopy(body.get("tags") or {}),
        }
        if body.get("identity"):
            resource["identity"] = copy.deepcopy(body["identity"])
        _normalise_server(resource)
        if existing is not None:
            existing.resource = resource
            return False, existing
        server = _Server(subscription_id, resource_group, name, resource)
        for spec in parameter_catalogue(version):
            server.configurations[spec.name] = _Config(spec, spec.default, spec.default)
        created = _iso(now)
        server.threat_protection["default"] = _Child(
            "Default",
            {"creationTime": created, "provisioningState": "Succeeded", "state": "Disabled"},
            {"systemData": {"createdAt": created, "lastModifiedAt": created}},
        )
        self._servers[key] = server
        return True, server

    def _render_server(self, server: _Server) -> JsonDict:
        res = server.resource
        properties = copy.deepcopy(res["properties"])
        if server.private_endpoint_connections:
            properties["privateEndpointConnections"] = [
                self._render_child(server, "privateEndpointConnections", child)
                for child in server.private_endpoint_connections.values()
            ]
        body: JsonDict = {
            "name": server.name,
            "type": SERVER_TYPE,
            "id": server.id,
            "location": res["location"],
            "properties": properties,
            "sku": copy.deepcopy(res["sku"]),
            "tags": copy.deepcopy(res["tags"]),
        }
        if "identity" in res:
            body["identity"] = copy.deepcopy(res["identity"])
        return body

    @staticmethod
    def _render_child(server: _Server, collection: str, child: _Child) -> JsonDict:
        body: JsonDict = {
            "name": child.name,
            "type": f"{SERVER_TYPE}/{collection}",
            "id": f"{server.id}/{collection}/{child.name}",
            "properties": copy.deepcopy(child.properties),
        }
        body.update(copy.deepcopy(child.extra))
        return body

    @staticmethod
    def _render_config(server: _Server, config: _Config) -> JsonDict:
        return {
            "name": config.spec.name,
            "type": f"{SERVER_TYPE}/configurations",
            "id": f"{server.id}/configurations/{config.spec.name}",
            "properties": config.properties(),
        }

    @staticmethod
    def _render_diag(server: _Server, child: _Child) -> JsonDict:
        return {
            "id": f"{server.id}/providers/microsoft.insights/diagnosticSettings/{child.name}",
            "type": DIAGNOSTIC_SETTING_TYPE,
            "name": child.name,
            "properties": copy.deepcopy(child.properties),
        }

    @staticmethod
    def _created(body: JsonDict) -> JsonDict:
        """A 201 body that azure-core's BodyContentPolling treats as finished (see module doc)."""
        body["properties"]["provisioningState"] = body["properties"].get("provisioningState") or "Succeeded"
        return body

    def _config(self, server: _Server, name: str) -> _Config:
        config = server.configurations.get(name.lower())
        if config is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The configuration '{name}' does not exist for server '{server.name}'.",
            )
        return config

    # ---- operations (caller holds the lock) ---------------------------------------------

    def _op_list_sub(self, request: _Request, route: _Route) -> tuple[int, Any]:
        self._require(request, "GET")
        servers = [
            s for s in self._servers.values() if s.subscription_id.lower() == route.subscription_id.lower()
        ]
        return 200, self._page(request, servers)

    def _op_list_rg(self, request: _Request, route: _Route) -> tuple[int, Any]:
        self._require(request, "GET")
        sub, rg = route.subscription_id.lower(), route.resource_group.lower()
        servers = [
            s
            for s in self._servers.values()
            if s.subscription_id.lower() == sub and s.resource_group.lower() == rg
        ]
        return 200, self._page(request, servers)

    def _page(self, request: _Request, servers: list[_Server]) -> JsonDict:
        body = self._page_of(request, servers, PAGE_SIZE)
        body["value"] = [self._render_server(s) for s in body["value"]]
        return body

    def _page_of(self, request: _Request, items: list[Any], size: int) -> JsonDict:
        """One page of ``items`` from ``$skipToken``, with the ``nextLink`` of the next one."""
        try:
            skip = max(0, int(request.query.get("$skiptoken") or 0))
        except ValueError:
            raise ArmError(400, "InvalidSkipToken", "The $skipToken is not valid.") from None
        body: JsonDict = {"value": items[skip : skip + size]}
        if skip + size < len(items):
            others = "".join(f"&{quote(k, safe='$')}={quote(v, safe='')}" for k, v in request.query.items()
                             if k not in ("api-version", "$skiptoken"))
            api_version = quote(request.query.get("api-version", MYSQL_API_VERSION), safe="")
            body["nextLink"] = (
                f"{self.url}{request.raw_path}?api-version={api_version}{others}&$skipToken={skip + size}"
            )
        return body

    def _op_server(self, request: _Request, route: _Route) -> tuple[int, Any]:
        method = request.method
        if method == "GET":
            server = self._find(route)
            if server is None:
                raise _not_found(SERVER_TYPE, route.server, route.resource_group)
            return 200, self._render_server(server)
        if method == "PUT":
            created, server = self._create_or_replace_server(
                route.subscription_id, route.resource_group, route.server, request.body
            )
            self._emit_mysql(request, route, "write", "Write", created)
            body = self._render_server(server)
            return (201, body) if created else (200, body)
        if method == "PATCH":
            server = self._find(route)
            if server is None:
                raise _not_found(SERVER_TYPE, route.server, route.resource_group)
            patch = _object(request.body)
            resource = copy.deepcopy(server.resource)
            _merge(resource["properties"], _writable_server_properties(_properties(patch)))
            for key in ("tags", "sku", "identity"):
                value = patch.get(key)
                if isinstance(value, Mapping):
                    _merge(resource.setdefault(key, {}), value)
            _normalise_server(resource)
            if self.defer_server_updates:
                # As a long-running update does: the event fires while the old state still shows, `Updating`.
                self._pending_updates.append((server, resource))
                server.resource = copy.deepcopy(server.resource)
                server.resource["properties"]["state"] = "Updating"
            else:
                server.resource = resource
            self._emit_mysql(request, route, "write", "Write")
            return 200, self._render_server(server)
        if method == "DELETE":
            key = (route.subscription_id.lower(), route.resource_group.lower(), route.server.lower())
            existed = self._servers.pop(key, None) is not None
            self._emit_mysql(request, route, "delete", "Delete")
            return (200 if existed else 204), None
        raise self._method_not_allowed(request)

    def _op_collection(self, request: _Request, route: _Route) -> tuple[int, Any]:
        self._require(request, "GET")
        server = self._parent(route)
        if route.collection == "configurations":
            keyword = (request.query.get("keyword") or "").lower()
            items = [
                self._render_config(server, c) for name, c in server.configurations.items() if keyword in name
            ]
        else:
            children = self._children(server, route.collection)
            items = [self._render_child(server, route.collection, c) for c in children.values()]
        if route.collection in ("configurations", "firewallRules", "administrators"):
            return 200, self._page_of(request, items, self.child_page_size)
        return 200, {"value": items}

    @staticmethod
    def _children(server: _Server, collection: str) -> dict[str, _Child]:
        return {
            "firewallRules": server.firewall_rules,
            "administrators": server.administrators,
            "privateEndpointConnections": server.private_endpoint_connections,
            "advancedThreatProtectionSettings": server.threat_protection,
        }[collection]

    def _op_child(self, request: _Request, route: _Route) -> tuple[int, Any]:
        server = self._parent(route)
        if route.collection == "configurations":
            return self._configuration(request, route, server)
        children = self._children(server, route.collection)
        key = route.name.lower()
        method = request.method
        if method == "GET":
            child = children.get(key)
            if child is None:
                raise ArmError(
                    404,
                    "ResourceNotFound",
                    f"The resource '{route.collection}/{route.name}' of server '{server.name}' "
                    "was not found.",
                )
            return 200, self._render_child(server, route.collection, child)
        if method == "DELETE" and route.collection != "advancedThreatProtectionSettings":
            existed = children.pop(key, None) is not None
            self._emit_mysql(request, route, f"{route.collection}/delete", "Delete")
            return (200 if existed else 204), None
        if method == "PUT" or (method == "PATCH" and route.collection == "advancedThreatProtectionSettings"):
            writer = {
                "firewallRules": self._write_firewall_rule,
                "administrators": self._write_administrator,
                "privateEndpointConnections": self._write_private_endpoint_connection,
                "advancedThreatProtectionSettings": self._write_threat_protection,
            }[route.collection]
            created = writer(request, route, server, children)
            self._emit_mysql(request, route, f"{route.collection}/write", "Write", created)
            body = self._render_child(server, route.collection, children[key])
            return (201, body) if created else (200, body)
        raise self._method_not_allowed(request)

    def _write_firewall_rule(
        self, request: _Request, route: _Route, server: _Server, children: dict[str, _Child]
    ) -> bool:
        props = _properties(request.body)
        start = _ipv4(props.get("startIpAddress"), "startIpAddress")
        end = _ipv4(props.get("endIpAddress"), "endIpAddress")
        if start > end:
            raise ArmError(
                400,
                "InvalidParameterValue",
                "The start IP address must not be greater than the end IP address.",
            )
        existing = children.get(route.name.lower())
        name = existing.name if existing else route.name
        children[route.name.lower()] = _Child(name, {"endIpAddress": str(end), "startIpAddress": str(start)})
        return existing is None

    def _write_administrator(
        self, request: _Request, route: _Route, server: _Server, children: dict[str, _Child]
    ) -> bool:
        if route.name.lower() != "activedirectory":
            raise ArmError(400, "InvalidParameterValue", "The administrator name must be 'ActiveDirectory'.")
        props = _properties(request.body)
        stored = {
            "administratorType": props.get("administratorType") or "ActiveDirectory",
            "identityResourceId": props.get("identityResourceId"),
            "login": props.get("login"),
            "sid": props.get("sid"),
            "tenantId": props.get("tenantId") or self.tenant_id,
        }
        existed = "activedirectory" in children
        children["activedirectory"] = _Child(
            "ActiveDirectory", {k: v for k, v in stored.items() if v is not None}
        )
        return not existed

    def _write_private_endpoint_connection(
        self, request: _Request, route: _Route, server: _Server, children: dict[str, _Child]
    ) -> bool:
        props = _properties(request.body)
        existing = children.get(route.name.lower())
        if existing is None:
            base: JsonDict = {
                "privateEndpoint": {
                    "id": f"/subscriptions/{server.subscription_id}/resourceGroups/{server.resource_group}"
                    f"/providers/Microsoft.Network/privateEndpoints/{route.name}"
                },
                "privateLinkServiceConnectionState": {
                    "description": "Auto-approved",
                    "actionsRequired": "None",
                    "status": "Approved",
                },
            }
        else:
            base = copy.deepcopy(existing.properties)
        props = {k: v for k, v in props.items() if k != "provisioningState"}
        merged = _merge(base, props)
        merged["provisioningState"] = "Succeeded"
        if self.defer_subresource_updates:
            child = existing or _Child(route.name, copy.deepcopy(merged))
            children[route.name.lower()] = child
            self._hold_back(child, merged, "Updating" if existing else "Creating")
            return existing is None
        children[route.name.lower()] = _Child(existing.name if existing else route.name, merged)
        return existing is None

    def _write_threat_protection(
        self, request: _Request, route: _Route, server: _Server, children: dict[str, _Child]
    ) -> bool:
        if route.name.lower() != "default":
            raise ArmError(
                404, "ResourceNotFound", f"Advanced Threat Protection setting '{route.name}' not found."
            )
        state = str(_properties(request.body).get("state") or "")
        if state.lower() not in ("enabled", "disabled"):
            raise ArmError(400, "InvalidParameterValue", "properties.state must be 'Enabled' or 'Disabled'.")
        child = children["default"]
        if self.defer_subresource_updates:
            final = {**copy.deepcopy(child.properties), "provisioningState": "Succeeded",
                     "state": "Enabled" if state.lower() == "enabled" else "Disabled"}
            self._hold_back(child, final, "Updating")
            return False
        child.properties["state"] = "Enabled" if state.lower() == "enabled" else "Disabled"
        child.properties["provisioningState"] = "Succeeded"
        claims = request.claims
        who = claims.get("upn") or claims.get(CLAIM_UPN) or claims.get("appid") or ""
        system_data = child.extra.setdefault("systemData", {})
        system_data.update(
            {
                "lastModifiedAt": _iso(_now()),
                "lastModifiedBy": str(who),
                "lastModifiedByType": "User"
                if (claims.get("upn") or claims.get(CLAIM_UPN))
                else "Application",
            }
        )
        return False

    def _configuration(self, request: _Request, route: _Route, server: _Server) -> tuple[int, Any]:
        config = self._config(server, route.name)
        if request.method == "GET":
            return 200, self._render_config(server, config)
        if request.method in ("PUT", "PATCH"):
            props = _properties(request.body)
            value = props.get("value")
            config.set(None if value is None else str(value), props.get("source"))
            self._emit_mysql(request, route, "configurations/write", "Write")
            # The SDK accepts only 200/202 here: a configuration always exists, so never 201.
            return 200, self._render_config(server, config)
        raise self._method_not_allowed(request)

    def _op_action(self, request: _Request, route: _Route) -> tuple[int, Any]:
        self._require(request, "POST")
        server = self._parent(route)
        if route.collection == "updateConfigurations":
            body = _object(request.body)
            items = body.get("value") or []
            if not isinstance(items, list):
                raise ArmError(400, "InvalidRequestContent", "'value' must be an array.")
            reset_all = str(body.get("resetAllToDefault") or "False").lower() == "true"
            # Validate everything first so a bad item changes nothing.
            planned: list[tuple[_Config, str | None, str | None]] = []
            for item in items:
                item = _object(item, "configuration")
                config = self._config(server, str(item.get("name") or ""))
                props = _properties(item)
                value = props.get("value")
                trial = copy.copy(config)
                trial.set(None if value is None else str(value), props.get("source"))
                planned.append((config, None if value is None else str(value), props.get("source")))
            touched: dict[str, _Config] = {}
            if reset_all:
                for config in server.configurations.values():
                    config.set(None, "system-default")
                    touched[config.spec.name] = config
            for config, value, source in planned:
                config.set(value, source)
                touched[config.spec.name] = config
            self._emit_mysql(request, route, "updateConfigurations/action", "Action")
            return 200, {"value": [self._render_config(server, c) for c in touched.values()]}
        if route.collection == "detachVNet":
            return self._detach_vnet(request, route, server)
        if route.collection == "restart":
            for config in server.configurations.values():
                config.current_value = config.value
            server.resource["properties"]["state"] = "Ready"
        elif route.collection == "start":
            server.resource["properties"]["state"] = "Ready"
        elif route.collection == "stop":
            server.resource["properties"]["state"] = "Stopped"
        self._emit_mysql(request, route, f"{route.collection}/action", "Action")
        return 200, None

    def _detach_vnet(self, request: _Request, route: _Route, server: _Server) -> tuple[int, Any]:
        """`Servers_DetachVNet`: the server leaves its delegated subnet; the body may open public access.

        Answers 200 with the server, as the official example `ServerDetachVNet.json` does.
        """
        body = _object(request.body) if request.body is not None else {}
        access = body.get("publicNetworkAccess")
        if access is not None and str(access).lower() not in ("enabled", "disabled"):
            raise ArmError(400, "InvalidParameterValue", "publicNetworkAccess must be 'Enabled' or 'Disabled'.")
        network = server.resource["properties"].setdefault("network", {})
        if not network.get("delegatedSubnetResourceId"):
            raise ArmError(400, "ServerNotInVnet", f"Server '{server.name}' is not integrated with a virtual network.")
        network.pop("delegatedSubnetResourceId", None)
        network.pop("privateDnsZoneResourceId", None)
        network["publicNetworkAccess"] = "Enabled" if str(access or "").lower() == "enabled" else "Disabled"
        self._emit_mysql(request, route, "detachVNet/action", "Action")
        return 200, self._render_server(server)

    def _op_diag_list(self, request: _Request, route: _Route) -> tuple[int, Any]:
        self._require(request, "GET")
        server = self._diag_target(route)
        return 200, {"value": [self._render_diag(server, c) for c in server.diagnostic_settings.values()]}

    def _op_diag(self, request: _Request, route: _Route) -> tuple[int, Any]:
        server = self._diag_target(route)
        key = route.name.lower()
        method = request.method
        if method == "GET":
            child = server.diagnostic_settings.get(key)
            if child is None:
                raise ArmError(
                    404, "ResourceNotFound", f"The diagnostic setting '{route.name}' doesn't exist."
                )
            return 200, self._render_diag(server, child)
        if method == "PUT":
            props = copy.deepcopy(_properties(request.body))
            for list_key in ("logs", "metrics"):
                value = props.setdefault(list_key, [])
                if not isinstance(value, list):
                    raise ArmError(400, "InvalidRequestContent", f"'properties.{list_key}' must be an array.")
            existing = server.diagnostic_settings.get(key)
            server.diagnostic_settings[key] = _Child(existing.name if existing else route.name, props)
            self._emit(request, route, f"{DIAGNOSTIC_SETTING_TYPE}/write", "Write", INSIGHTS_PROVIDER,
                       existing is None)
            return 200, self._render_diag(server, server.diagnostic_settings[key])
        if method == "DELETE":
            existed = server.diagnostic_settings.pop(key, None) is not None
            self._emit(request, route, f"{DIAGNOSTIC_SETTING_TYPE}/delete", "Delete", INSIGHTS_PROVIDER)
            return (200 if existed else 204), None
        raise self._method_not_allowed(request)

    def _diag_target(self, route: _Route) -> _Server:
        server = self._find(route)
        if server is None:
            raise _not_found(SERVER_TYPE, route.server, route.resource_group)
        return server

    @staticmethod
    def _require(request: _Request, method: str) -> None:
        if request.method != method:
            raise ArmError(
                405, "MethodNotAllowed", f"The requested method '{request.method}' is not allowed."
            )

    @staticmethod
    def _method_not_allowed(request: _Request) -> ArmError:
        return ArmError(405, "MethodNotAllowed", f"The requested method '{request.method}' is not allowed.")

    # ---- admin surface ------------------------------------------------------------------

    def _admin(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        route = (method, path.rstrip("/").lower())
        payload = body if isinstance(body, dict) else {}
        if route == ("GET", "/_standin/events"):
            wait = min(float(query.get("wait") or 0), 60.0)
            return 200, self.wait_events(wait) if wait > 0 else self.drain_events()
        if route == ("POST", "/_standin/faults"):
            self.add_fault(
                status=int(payload["status"]),
                times=int(payload.get("times", 1)),
                retry_after=payload.get("retry_after"),
                method=payload.get("method"),
                path_contains=payload.get("path_contains"),
            )
            return 200, {"ok": True}
        if route == ("DELETE", "/_standin/faults"):
            self.clear_faults()
            return 200, {"ok": True}
        if route == ("POST", "/_standin/latency"):
            self.latency = max(0.0, float(payload.get("seconds", 0)))
            return 200, {"ok": True, "seconds": self.latency}
        if route == ("POST", "/_standin/emit"):
            self.emit_events = bool(payload.get("enabled", True))
            return 200, {"ok": True, "enabled": self.emit_events}
        if route == ("POST", "/_standin/event-variation"):
            self.event_variation = EventVariation.from_json(payload)
            return 200, {"ok": True, **self.event_variation.to_json()}
        if route == ("POST", "/_standin/lro"):
            self.lro.enabled = bool(payload.get("enabled", True))
            self.lro.polls = max(0, int(payload.get("polls", 0)))
            return 200, {"ok": True, "enabled": self.lro.enabled, "polls": self.lro.polls}
        if route == ("GET", "/_standin/stats"):
            return 200, self.stats.to_json()
        if route == ("POST", "/_standin/stats/reset"):
            self.reset_stats()
            return 200, {"ok": True}
        if route == ("POST", "/_standin/reset"):
            self.reset()
            return 200, {"ok": True}
        if route == ("GET", "/_standin/health"):
            return 200, {"ok": True, "url": self.url}
        return 404, {"error": {"code": "NotFound", "message": f"No admin route {method} {path}"}}


class _ArmHandler(JsonRequestHandler):
    standin: ArmStandIn  # set on the per-instance subclass

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        standin = self.standin
        method = self.command.upper()
        split = urlsplit(self.path)
        raw_path, raw_query = split.path, split.query
        query = {k.lower(): v for k, v in parse_qsl(raw_query, keep_blank_values=True)}
        raw_body = self.read_body()
        correlation_id = self.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        headers = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-correlation-request-id": correlation_id}

        if raw_path.lower().startswith("/_standin/"):
            try:
                body = json.loads(raw_body) if raw_body else None
                status, answer = standin._admin(method, raw_path, query, body)
            except (ValueError, KeyError, TypeError) as exc:
                status, answer = 400, {"error": {"code": "BadRequest", "message": str(exc)}}
            self.send_json(status, answer)
            return

        standin._count(method, raw_path)
        request: _Request | None = None

        def answer_with(status: int, answer: Any) -> None:
            if traffic.observed():
                request_body = request.body if request is not None else None
                traffic.report_exchange(traffic.Exchange(
                    method, raw_path, query, request_body, status, answer, dict(headers),
                    request.poll_of if request is not None else None))
            self.send_json(status, answer, headers)

        wait = standin._throttle(method, raw_path)
        if wait:
            headers["Retry-After"] = _format_retry_after(wait)
            answer_with(429, error_body(raw_path, "TooManyRequests",
                                        "Number of read requests for subscription exceeded the limit"))
            return
        if standin.latency > 0:
            time.sleep(standin.latency)
        fault = standin._take_fault(method, raw_path)
        if fault is not None:
            if fault.retry_after is not None:
                headers["Retry-After"] = _format_retry_after(fault.retry_after)
            code = _STATUS_CODES.get(fault.status, "InjectedFault")
            message = f"Injected fault {fault.status} from the ARM stand-in."
            answer_with(fault.status, error_body(raw_path, code, message))
            return

        try:
            authorization = self.headers.get("Authorization") or ""
            if authorization[:7].lower() != "bearer " or not authorization[7:].strip():
                raise ArmError(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing or not a Bearer token.",
                )
            if not query.get("api-version"):
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            try:
                body = json.loads(raw_body) if raw_body.strip() else None
            except ValueError as exc:
                raise ArmError(
                    400,
                    "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: {exc}",
                ) from None
            request = _Request(
                method=method,
                raw_path=raw_path,
                raw_query=raw_query,
                segments=[unquote(s) for s in raw_path.split("/") if s],
                query=query,
                headers=self.headers,
                body=body,
                claims=decode_unverified(authorization),
                client_ip=self.client_address[0],
                correlation_id=correlation_id,
            )
            status, answer, extra = standin._handle(request)
            headers.update(extra)
        except ArmError as err:
            status, answer = err.status, err.body(raw_path)
        except Exception:  # a bug in the stand-in must still produce an answer
            log.exception("ARM stand-in failed on %s %s", method, raw_path)
            status, answer = 500, error_body(raw_path, "InternalServerError", "stand-in failure")
        answer_with(status, answer)


# --------------------------------------------------------------------------------------------
# Command line: run the stand-in as its own process for out-of-process tests and the local stack.


def main(argv: list[str] | None = None) -> int:
    """``python -m drift.local.arm --ca-dir DIR [--port N] [--ready-file F]``.

    Writes ``{"url": ..., "ca_bundle": ...}`` to ``--ready-file`` once listening; runs until SIGTERM/SIGINT.
    """
    from drift.local.tls import LocalCA

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ca-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tenant-id", default=DEFAULT_TENANT_ID)
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    ca = LocalCA.create(args.ca_dir)
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with ArmStandIn(ca.server_context(), host=args.host, port=args.port, tenant_id=args.tenant_id) as standin:
        if args.ready_file:
            tmp = args.ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"url": standin.url, "ca_bundle": str(ca.ca_bundle)}))
            tmp.replace(args.ready_file)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "INSIGHTS_API_VERSION",
    "MYSQL_API_VERSION",
    "ArmError",
    "ArmStandIn",
    "JsonRequestHandler",
    "ParameterSpec",
    "StandInStats",
    "TrackingHTTPServer",
    "parameter_catalogue",
]
