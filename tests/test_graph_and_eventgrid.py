"""Graph (names, mail, channel messages) and Event Grid, through the real SDKs to local receivers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

from drift.config import ConfigError, Settings
from drift.local.arm import ArmStandIn
from drift.local.credential import LocalCredential, service_principal_claims
from drift.local.receivers import GraphReceiver, TeamsReceiver, TopicReceiver
from drift.local.tls import LocalCA
from drift.model import Alert
from drift.runtime import build_engine
from notifiers import NotifierError
from notifiers.eventgrid import EventGridNotifier
from notifiers.graph import GraphChannelNotifier, GraphMailNotifier
from tests.conftest import SUBSCRIPTION
from tests.helpers import create_compliant_server, server_id, set_parameter
from tests.test_notifiers import record

PIPELINE_APP = "5b1c7e2a-1111-4e5b-9c3d-000000000042"


def lower_keys(value: Any) -> Any:
    """Graph reads property names case-insensitively; msgraph-sdk writes `Message`."""
    if isinstance(value, dict):
        return {k.lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def alert(**overrides: Any) -> Alert:
    return Alert("change", [record(**overrides)], id="baseline|~outbox|history|1")


def test_send_mail_has_the_shape_graph_expects(graph: GraphReceiver) -> None:
    hostile = "<at>CEO</at> [x](https://evil.example)"
    GraphMailNotifier(LocalCredential(), "drift-alerts@contoso.example", ["secops@contoso.example"],
                      graph_endpoint=graph.url).send(alert(after=hostile))
    [sent] = graph.messages()
    assert sent["user"] == "drift-alerts@contoso.example"
    body = lower_keys(sent["body"])
    message = body["message"]
    assert body["savetosentitems"] is False
    assert message["subject"].startswith("[CRITICAL] mysql-drift: Firewall rules weakened on db1")
    assert message["body"]["contenttype"] == "html"
    assert message["torecipients"] == [{"emailaddress": {"address": "secops@contoso.example"}}]
    assert message["importance"] == "high"
    assert {"name": "X-MySqlDrift-Alert-Id", "value": alert().key} in [
        {"name": h["name"], "value": h["value"]} for h in message["internetmessageheaders"]]
    html = message["body"]["content"]
    assert "&lt;at&gt;CEO&lt;/at&gt;" in html and "<at>" not in html and "https://evil" not in html


def test_send_mail_waits_out_throttling_and_reports_failure_without_secrets(graph: GraphReceiver) -> None:
    notifier = GraphMailNotifier(LocalCredential(), "a@contoso.example", ["b@contoso.example"],
                                 graph_endpoint=graph.url)
    graph.add_fault(429, retry_after=0.1)
    notifier.send(alert())
    assert len(graph.messages()) == 1
    graph.add_fault(403)
    with pytest.raises(NotifierError, match="Graph answered HTTP 403"):
        notifier.send(alert())


def test_a_channel_message_carries_the_adaptive_card(graph: GraphReceiver) -> None:
    GraphChannelNotifier(LocalCredential(), "team-1", "19:abc@thread.tacv2", graph_endpoint=graph.url).send(alert())
    [sent] = graph.messages()
    body = lower_keys(sent.get("body", sent))
    [attachment] = body["attachments"]
    assert attachment["contenttype"] == "application/vnd.microsoft.card.adaptive"
    assert json.loads(attachment["content"])["version"] == "1.4"
    assert 'attachment id="card"' in body["body"]["content"]


@pytest.fixture
def topic(ca: LocalCA) -> Iterator[TopicReceiver]:
    with TopicReceiver(ssl_context=ca.server_context()) as receiver:
        yield receiver


def test_each_alert_is_published_once_as_a_cloud_event_with_its_idempotency_key(topic: TopicReceiver,
                                                                                 ca: LocalCA) -> None:
    notifier = EventGridNotifier(topic.endpoint, LocalCredential(), connection_verify=str(ca.ca_bundle))
    notifier.send(alert())
    notifier.send(Alert("posture", [record(), record(setting="tls_version", severity="medium")], id="p1"))
    first, second = topic.messages()
    assert (first["specversion"], first["type"], first["id"]) == ("1.0", "MySqlDrift.SecurityWeakened",
                                                                  alert().key)
    assert first["source"].endswith("/flexibleServers/db1") and first["subject"] == "firewall_rules"
    assert first["data"]["records"][0]["severity"] == "critical"
    assert (second["type"], second["subject"], len(second["data"]["records"])) == (
        "MySqlDrift.PostureGaps", "firewall_rules,tls_version", 2)


def test_a_resolved_alert_is_published_as_its_own_type_naming_the_alert_it_resolves(topic: TopicReceiver,
                                                                                   ca: LocalCA) -> None:
    notifier = EventGridNotifier(topic.endpoint, LocalCredential(), connection_verify=str(ca.ca_bundle))
    notifier.send(Alert("resolved", [record(severity="info")], id="r1", resolves=alert().key))
    [event] = topic.messages()
    assert (event["type"], event["id"], event["data"]["resolves"]) == ("MySqlDrift.FindingResolved",
                                                                        Alert("x", [], id="r1").key, alert().key)


def test_a_service_principal_is_named_by_its_display_name_resolved_once(
    settings: Settings, arm: ArmStandIn, ca: LocalCA, graph: GraphReceiver, teams: TeamsReceiver, sdk: Any,
    server_name: str,
) -> None:
    graph.register_service_principal(PIPELINE_APP, "deploy-pipeline-prod")
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    pipeline = MySQLManagementClient(LocalCredential(service_principal_claims(PIPELINE_APP, "oid-1")), SUBSCRIPTION,
                                     base_url=arm.url, connection_verify=str(ca.ca_bundle), polling_interval=0)
    set_parameter(pipeline, server_name, "aad_auth_only", "OFF")
    set_parameter(pipeline, server_name, "require_secure_transport", "OFF")
    engine.handle_many(arm.drain_events())

    rows = engine.store.history(server_id=server_id(server_name))
    assert {r.changed_by for r in rows} == {f"deploy-pipeline-prod (app {PIPELINE_APP})"}
    assert engine.principal_names is not None and engine.principal_names.lookups == 1, "cached"
    assert "deploy-pipeline-prod" in json.dumps(teams.messages())


def test_an_unknown_principal_falls_back_to_its_id(
    settings: Settings, arm: ArmStandIn, ca: LocalCA, graph: GraphReceiver, sdk: Any, server_name: str,
) -> None:
    engine = build_engine(settings)
    create_compliant_server(sdk, server_name)
    engine.handle_many(arm.drain_events())
    stranger = MySQLManagementClient(LocalCredential(service_principal_claims("0000dead-0000-0000-0000-000000000000",
                                                                              "oid-2")),
                                     SUBSCRIPTION, base_url=arm.url, connection_verify=str(ca.ca_bundle),
                                     polling_interval=0)
    set_parameter(stranger, server_name, "aad_auth_only", "OFF")
    engine.handle_many(arm.drain_events())
    [row] = engine.store.history(server_id=server_id(server_name))
    assert row.changed_by == "app 0000dead-0000-0000-0000-000000000000"


@pytest.mark.parametrize(("notifiers", "missing"), [
    (["mail"], "DRIFT_MAIL_SENDER"), (["channel"], "DRIFT_TEAMS_CHANNEL"), (["eventgrid"], "DRIFT_EVENTGRID_ENDPOINT"),
    (["pager"], "unknown notifier"),
])
def test_each_notifier_says_what_configuration_it_lacks(notifiers: list[str], missing: str) -> None:
    with pytest.raises(ConfigError, match=missing):
        Settings(storage_connection_string="x", notifiers=notifiers).validate()
