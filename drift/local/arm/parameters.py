"""The server parameter catalogue: what a new server's configurations are and which values Azure takes.

`parameter_catalogue` lists the parameters a server of a MySQL version gets (the security ones plus a few
harmless ones), `ParameterSpec` validates a value as Azure would, and `Config` is one server's parameter:
its value, its running ``currentValue`` (a static parameter's changes only after a restart) and source.
"""

from __future__ import annotations

from dataclasses import dataclass

from drift.local.arm.errors import ArmError, JsonDict


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
class Config:
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
            "isConfigPendingRestart": bool_str(self.pending_restart),
            "isDynamicConfig": bool_str(spec.dynamic),
            "isReadOnly": bool_str(spec.read_only),
            "source": self.source,
            "value": self.value,
            "currentValue": self.current_value,
        }


def bool_str(flag: bool) -> str:
    return "True" if flag else "False"
