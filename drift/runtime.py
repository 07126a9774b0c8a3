"""Wiring: settings in, a ready `DriftEngine` out. Shared by the Function app and the CLI."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from drift.budget import SharedBucket
from drift.config import ConfigError, Settings
from drift.engine import DriftEngine, Notifier
from drift.lazy import deferred
from drift.policy import load_policy
from drift.principals import PrincipalNames
from drift.readers import ArmReader
from drift.rechecks import RecheckQueue
from drift.store import BaselineStore

log = logging.getLogger(__name__)
_engine: DriftEngine | None = None
_lock = threading.Lock()


def check_settings() -> str | None:
    """At start-up: one error line naming the setting that is wrong (never its value); None when all is well.

    The app still starts (its functions must be indexed), and the first invocation refuses with the
    same message, so a broken setting shows at once rather than as alerts pending for ever.
    """
    try:
        Settings.from_env().validate()
    except (ConfigError, ValueError) as exc:  # ValueError: a number setting that is not a number
        log.error("configuration refused: %s", exc)
        return str(exc)
    return None


def _credential(settings: Settings) -> Any:
    """The app's identity; azure-identity (with msal and requests) is imported when a token is first needed."""

    def build() -> Any:
        if settings.local_credential:
            from drift.local.credential import LocalCredential

            return LocalCredential()
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(managed_identity_client_id=settings.managed_identity_client_id)

    return deferred(build)


def build_store(settings: Settings, credential: Any = None) -> BaselineStore:
    """The table of baselines, history and outbox; by managed identity, the app's one credential."""
    if settings.storage_connection_string:
        store = BaselineStore.from_connection_string(settings.storage_connection_string, settings.table_name)
    else:
        store = BaselineStore.from_endpoint(str(settings.storage_table_endpoint), settings.table_name,
                                            credential or _credential(settings))
    store.exports = bool(settings.logs_endpoint)  # every commit's history rows wait for their export
    return store


def build_logs(settings: Settings, credential: Any = None) -> Any:
    """The Log Analytics export's uploader (None when DRIFT_LOGS_ENDPOINT is unset); no SDK import yet."""
    if not settings.logs_endpoint:
        return None
    from drift.loganalytics import LogsUploader

    return LogsUploader(settings.logs_endpoint, str(settings.logs_rule_id), credential or _credential(settings),
                        stream=settings.logs_stream, connection_verify=settings.arm_ca_bundle or True)


def build_arm_budget(settings: Settings, credential: Any = None) -> SharedBucket:
    """ARM's read budget, shared by every process of the app through a row of `{table}budget` (drift/budget.py)."""
    name = f"{settings.table_name}budget"
    credential = credential or _credential(settings)

    def table() -> Any:
        from azure.data.tables import TableClient

        from drift.transport import client_options

        if settings.storage_connection_string:
            return TableClient.from_connection_string(settings.storage_connection_string, table_name=name,
                                                      **client_options())
        return TableClient(str(settings.storage_table_endpoint), table_name=name, credential=credential,
                           **client_options())

    return SharedBucket(deferred(table), fallback_share=settings.max_instances)


def build_rechecks(settings: Settings, credential: Any = None) -> RecheckQueue | None:
    """The queue of deferred re-checks, on the same storage account as the table (None if there is none)."""
    if settings.storage_connection_string:
        cs = settings.storage_connection_string
        if "TableEndpoint=" in cs and "QueueEndpoint=" not in cs:
            return None  # a table-only endpoint list: no queue to defer to
        return RecheckQueue.from_connection_string(cs, settings.recheck_queue)
    if settings.storage_queue_endpoint:
        return RecheckQueue.from_endpoint(settings.storage_queue_endpoint, settings.recheck_queue,
                                          credential or _credential(settings))
    return None


def build_notifiers(settings: Settings, credential: Any = None) -> list[Notifier]:
    out: list[Notifier] = []
    for name in settings.notifiers:
        if name in ("mail", "channel", "eventgrid"):
            credential = credential or _credential(settings)
        if name == "mail":
            from notifiers.graph import GraphMailNotifier

            out.append(GraphMailNotifier(credential, str(settings.mail_sender), settings.mail_to,
                                         graph_endpoint=settings.graph_endpoint, console_url=settings.console_url,
                                         subscription_names=settings.subscription_names))
        elif name == "channel":
            from notifiers.graph import GraphChannelNotifier

            team, channel = str(settings.teams_channel).split("/")
            out.append(GraphChannelNotifier(credential, team, channel, graph_endpoint=settings.graph_endpoint,
                                            console_url=settings.console_url,
                                            subscription_names=settings.subscription_names))
        elif name == "eventgrid":
            from notifiers.eventgrid import EventGridNotifier

            out.append(EventGridNotifier(str(settings.eventgrid_endpoint), credential,
                                         connection_verify=settings.arm_ca_bundle or True))
        elif name == "teams":
            from notifiers.teams import TeamsWebhookNotifier

            out.append(TeamsWebhookNotifier(str(settings.teams_webhook_url), max_wait=settings.alert_max_wait,
                                            console_url=settings.console_url,
                                            subscription_names=settings.subscription_names))
        elif name == "console":
            from notifiers.console import ConsoleNotifier

            out.append(ConsoleNotifier())
    return out


def build_engine(settings: Settings) -> DriftEngine:
    settings.validate()
    credential = _credential(settings)
    reader = ArmReader(credential, base_url=settings.arm_endpoint, connection_verify=settings.arm_ca_bundle or True,
                       bucket=build_arm_budget(settings, credential))
    names = PrincipalNames(credential, graph_endpoint=settings.graph_endpoint) if settings.resolve_principals else None
    # The store is built on first use: an ignored event never imports azure-data-tables or a transport.
    store = deferred(lambda: build_store(settings, credential))
    return DriftEngine(reader, store, build_notifiers(settings, credential),
                       policy=load_policy(settings.policy_file), principal_names=names,
                       group_window=settings.group_window, alerts_per_minute=settings.alerts_per_minute,
                       subscriptions=settings.watched_subscriptions, tenant_id=settings.tenant_id,
                       rechecks=build_rechecks(settings, credential), logs=build_logs(settings, credential))


def engine() -> DriftEngine:
    """The process-wide engine of the Function app, built on first use from app settings."""
    global _engine
    with _lock:
        if _engine is None:
            # azure-core logs every request and response at INFO: that is Application Insights cost, not signal.
            logging.getLogger("azure").setLevel(logging.WARNING)
            try:
                _engine = build_engine(Settings.from_env())
            except ConfigError as exc:
                log.error("configuration refused: %s", exc)
                raise
        return _engine


def function_event_to_raw(event: Any) -> dict[str, Any]:
    """A Functions `EventGridEvent` or `CloudEvent` back into the JSON Event Grid delivered."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    if hasattr(event, "specversion"):
        return {"specversion": event.specversion, "id": event.id, "source": event.source, "type": event.type,
                "time": iso(event.time), "subject": event.subject, "data": event.get_json()}
    return {"id": event.id, "topic": event.topic, "subject": event.subject, "eventType": event.event_type,
            "eventTime": iso(event.event_time), "data": event.get_json(), "dataVersion": event.data_version}


def reconcile() -> None:
    """The timer's scan of every watched subscription (raises so that a failed run is visible)."""
    from drift.reconcile import Reconciler

    settings = Settings.from_env()
    if not settings.watched_subscriptions:
        raise RuntimeError("DRIFT_WATCHED_SUBSCRIPTIONS is empty: nothing to reconcile")
    Reconciler(engine()).scan(settings.watched_subscriptions)
