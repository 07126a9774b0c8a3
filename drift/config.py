"""Configuration: app settings (environment) in Azure, or the endpoints file of a local stack.

| setting                           | meaning                                                        |
|-----------------------------------|----------------------------------------------------------------|
| `DRIFT_ARM_ENDPOINT`              | ARM base URL (default `https://management.azure.com`)          |
| `DRIFT_ARM_CA_BUNDLE`             | CA bundle to trust for ARM (local stand-in only)               |
| `DRIFT_STORAGE_CONNECTION_STRING` | Table Storage by connection string (Azurite, local)            |
| `DRIFT_STORAGE_TABLE_ENDPOINT`    | Table Storage by managed identity (`https://ACCOUNT.table.core.windows.net`) |
| `DRIFT_TABLE_NAME`                | table of baselines, history and outbox (default `mysqldrift`)  |
| `DRIFT_NOTIFIERS`                 | any of `teams`, `mail`, `channel`, `eventgrid`, `console`      |
| `DRIFT_GRAPH_ENDPOINT`            | Microsoft Graph (default `https://graph.microsoft.com`)        |
| `DRIFT_RESOLVE_PRINCIPALS`        | `true` (default): show service principals by display name (Graph) |
| `DRIFT_MAIL_SENDER`, `DRIFT_MAIL_TO` | mailbox that sends (Mail.Send), comma list of recipients  |
| `DRIFT_TEAMS_CHANNEL`             | `TEAM_ID/CHANNEL_ID` for Graph channel messages (delegated only) |
| `DRIFT_EVENTGRID_ENDPOINT`        | custom topic endpoint (`https://TOPIC.REGION-1.eventgrid.azure.net/api/events`) |
| `DRIFT_TEAMS_WEBHOOK_URL`         | Teams Workflows webhook (a secret: a Key Vault reference in Azure) |
| `DRIFT_ALERT_MAX_WAIT`            | seconds an alert post may spend retrying 429/5xx (default 10) |
| `DRIFT_GROUP_WINDOW_SECONDS`      | wait this long to put one operation's changes (same correlation id) on one card |
| `DRIFT_ALERTS_PER_MINUTE`         | cards a minute before the rest go into one digest (default 20; 0: no limit) |
| `DRIFT_WATCHED_SUBSCRIPTIONS`     | comma list: events from any other subscription are refused (empty: all) |
| `DRIFT_TENANT_ID`                 | events from another tenant are refused (empty: any)           |
| `DRIFT_STORAGE_QUEUE_ENDPOINT`    | queues by managed identity (`https://ACCOUNT.queue.core.windows.net`) |
| `DRIFT_RECHECK_QUEUE`             | queue of deferred re-checks (default `drift-rechecks`)         |
| `DRIFT_POLICY_FILE`               | the desired state and exemptions (TOML); built-in defaults without it |
| `DRIFT_MAX_INSTANCES`             | the app's maximum instance count (default 40): a process falls |
|                                   | back to 1/N of ARM's read budget while its table is unreachable |
| `DRIFT_LOGS_ENDPOINT`             | Log Analytics export: the data collection endpoint's logs ingestion URL |
|                                   | (`https://DCE.REGION-1.ingest.monitor.azure.com`); unset: no export |
| `DRIFT_LOGS_RULE_ID`              | the data collection rule's immutableId (`dcr-…`)               |
| `DRIFT_LOGS_STREAM`               | the rule's stream (default `Custom-MySqlDrift_CL`)             |
| `DRIFT_CONSOLE_URL`               | the web console (`https://APP/api/console`): cards get a "Review" button to it |
| `DRIFT_SUBSCRIPTION_NAMES`        | `ID=Name;ID=Name`: cards and mails name these subscriptions (else their ids) |
| `AZURE_CLIENT_ID`                 | client id of the user-assigned managed identity                |
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_ARM = "https://management.azure.com"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ConfigError(ValueError):
    """The configuration is incomplete or contradictory."""


def webhook_problem(url: str) -> str | None:
    """What makes a webhook setting unusable, without repeating it (it is a secret); None when it is fine.

    An app setting whose Key Vault reference cannot be resolved reaches the app as the literal
    `@Microsoft.KeyVault(...)`: every post would fail, and every alert would wait for ever.
    Plain http is accepted on loopback only (the local stack's receivers).
    """
    value = url.strip()
    if value.lower().startswith("@microsoft.keyvault"):
        return ("is an unresolved Key Vault reference (the secret does not exist, or the app's identity may not "
                "read it)")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return "is not an https:// URL"
    if parts.scheme.lower() == "https" and host:
        return None
    if parts.scheme.lower() == "http" and host in LOOPBACK:
        return None
    return "is not an https:// URL"


def subscription_names(value: str) -> dict[str, str]:
    """`ID=Name;ID=Name` (names may hold commas) as {lower-cased id: name}."""
    pairs = (item.partition("=") for item in value.split(";") if "=" in item)
    return {key.strip().lower(): name.strip() for key, _, name in pairs if key.strip() and name.strip()}


@dataclass
class Settings:
    arm_endpoint: str = DEFAULT_ARM
    arm_ca_bundle: str | None = None
    local_credential: bool = False
    storage_connection_string: str | None = None
    storage_table_endpoint: str | None = None
    table_name: str = "mysqldrift"
    notifiers: list[str] = field(default_factory=list)
    teams_webhook_url: str | None = field(default=None, repr=False)
    managed_identity_client_id: str | None = None
    policy_file: str | None = None
    alert_max_wait: float = 10.0
    graph_endpoint: str = "https://graph.microsoft.com"
    resolve_principals: bool = True
    mail_sender: str | None = None
    mail_to: list[str] = field(default_factory=list)
    teams_channel: str | None = None
    eventgrid_endpoint: str | None = None
    group_window: float = 0.0
    alerts_per_minute: int = 20
    watched_subscriptions: list[str] = field(default_factory=list)
    tenant_id: str | None = None
    storage_queue_endpoint: str | None = None
    recheck_queue: str = "drift-rechecks"
    max_instances: int = 40
    logs_endpoint: str | None = None
    logs_rule_id: str | None = None
    logs_stream: str = "Custom-MySqlDrift_CL"
    console_url: str | None = None
    subscription_names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.notifiers:
            self.notifiers = ["teams"] if self.teams_webhook_url else ["console"]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        notifiers = [n.strip().lower() for n in env.get("DRIFT_NOTIFIERS", "").split(",") if n.strip()]
        return cls(
            arm_endpoint=env.get("DRIFT_ARM_ENDPOINT") or DEFAULT_ARM,
            arm_ca_bundle=env.get("DRIFT_ARM_CA_BUNDLE") or None,
            local_credential=env.get("DRIFT_ARM_CREDENTIAL", "").lower() == "local",
            storage_connection_string=env.get("DRIFT_STORAGE_CONNECTION_STRING") or None,
            storage_table_endpoint=env.get("DRIFT_STORAGE_TABLE_ENDPOINT") or None,
            table_name=env.get("DRIFT_TABLE_NAME") or "mysqldrift",
            notifiers=notifiers,
            teams_webhook_url=env.get("DRIFT_TEAMS_WEBHOOK_URL") or None,
            managed_identity_client_id=env.get("AZURE_CLIENT_ID") or None,
            policy_file=env.get("DRIFT_POLICY_FILE") or None,
            alert_max_wait=float(env.get("DRIFT_ALERT_MAX_WAIT") or 10.0),
            graph_endpoint=env.get("DRIFT_GRAPH_ENDPOINT") or "https://graph.microsoft.com",
            resolve_principals=(env.get("DRIFT_RESOLVE_PRINCIPALS") or "true").lower() in ("1", "true", "yes"),
            mail_sender=env.get("DRIFT_MAIL_SENDER") or None,
            mail_to=[a.strip() for a in (env.get("DRIFT_MAIL_TO") or "").split(",") if a.strip()],
            teams_channel=env.get("DRIFT_TEAMS_CHANNEL") or None,
            eventgrid_endpoint=env.get("DRIFT_EVENTGRID_ENDPOINT") or None,
            group_window=float(env.get("DRIFT_GROUP_WINDOW_SECONDS") or 0.0),
            alerts_per_minute=int(env.get("DRIFT_ALERTS_PER_MINUTE") or 20),
            watched_subscriptions=[s.strip().lower() for s in (env.get("DRIFT_WATCHED_SUBSCRIPTIONS") or "").split(",")
                                   if s.strip()],
            tenant_id=(env.get("DRIFT_TENANT_ID") or "").strip().lower() or None,
            storage_queue_endpoint=env.get("DRIFT_STORAGE_QUEUE_ENDPOINT") or None,
            recheck_queue=env.get("DRIFT_RECHECK_QUEUE") or "drift-rechecks",
            max_instances=int(env.get("DRIFT_MAX_INSTANCES") or 40),
            logs_endpoint=env.get("DRIFT_LOGS_ENDPOINT") or None,
            logs_rule_id=env.get("DRIFT_LOGS_RULE_ID") or None,
            logs_stream=env.get("DRIFT_LOGS_STREAM") or "Custom-MySqlDrift_CL",
            console_url=(env.get("DRIFT_CONSOLE_URL") or "").strip().rstrip("/") or None,
            subscription_names=subscription_names(env.get("DRIFT_SUBSCRIPTION_NAMES") or ""),
        )

    @classmethod
    def from_endpoints_file(cls, path: str | Path, env: Mapping[str, str] | None = None) -> Settings:
        """A running local stack's endpoints (written by `mysql-drift local up`)."""
        try:
            data: dict[str, Any] = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read endpoints file {path}: {exc}") from exc
        missing = [k for k in ("arm_endpoint", "ca_bundle", "storage_connection_string") if not data.get(k)]
        if missing:
            raise ConfigError(f"endpoints file {path} lacks {', '.join(missing)}")
        env = os.environ if env is None else env
        base = cls.from_env(env)
        return cls(
            arm_endpoint=data["arm_endpoint"], arm_ca_bundle=data["ca_bundle"], local_credential=True,
            storage_connection_string=data["storage_connection_string"],
            table_name=data.get("table_name") or base.table_name,
            notifiers=base.notifiers if env.get("DRIFT_NOTIFIERS") else ["teams", "console"],
            teams_webhook_url=data.get("teams_webhook_url"),
            policy_file=base.policy_file,
            graph_endpoint=data.get("graph_endpoint") or base.graph_endpoint,
            watched_subscriptions=[str(data["subscription_id"]).lower()] if data.get("subscription_id") else [],
            logs_endpoint=data.get("logs_ingestion_endpoint") or None,
            logs_rule_id=data.get("logs_rule_id") or None,
            logs_stream=base.logs_stream,
            console_url=str(data.get("console_url") or "").rstrip("/") or base.console_url,
            subscription_names=base.subscription_names,
        )

    def validate(self) -> None:
        if not (self.storage_connection_string or self.storage_table_endpoint):
            raise ConfigError("set DRIFT_STORAGE_CONNECTION_STRING (local) or DRIFT_STORAGE_TABLE_ENDPOINT "
                              "(managed identity)")
        if "teams" in self.notifiers and not self.teams_webhook_url:
            raise ConfigError("notifier 'teams' needs DRIFT_TEAMS_WEBHOOK_URL")
        problem = webhook_problem(self.teams_webhook_url or "") if "teams" in self.notifiers else None
        if problem:
            raise ConfigError(f"DRIFT_TEAMS_WEBHOOK_URL {problem}: no Teams alert can be sent, so none is accepted")
        if "mail" in self.notifiers and not (self.mail_sender and self.mail_to):
            raise ConfigError("notifier 'mail' needs DRIFT_MAIL_SENDER and DRIFT_MAIL_TO")
        if "channel" in self.notifiers and (not self.teams_channel or self.teams_channel.count("/") != 1):
            raise ConfigError("notifier 'channel' needs DRIFT_TEAMS_CHANNEL as TEAM_ID/CHANNEL_ID")
        if "eventgrid" in self.notifiers and not self.eventgrid_endpoint:
            raise ConfigError("notifier 'eventgrid' needs DRIFT_EVENTGRID_ENDPOINT")
        if self.logs_endpoint and not self.logs_rule_id:
            raise ConfigError("DRIFT_LOGS_ENDPOINT is set but DRIFT_LOGS_RULE_ID (the data collection rule's "
                              "immutableId) is not: no history row could be exported")
        if self.logs_endpoint and urlsplit(self.logs_endpoint.strip()).scheme.lower() != "https":
            raise ConfigError("DRIFT_LOGS_ENDPOINT is not an https:// URL (the token is sent only over TLS)")
        unknown = set(self.notifiers) - {"teams", "mail", "channel", "eventgrid", "console"}
        if unknown:
            raise ConfigError(f"unknown notifier(s) in DRIFT_NOTIFIERS: {', '.join(sorted(unknown))}")
