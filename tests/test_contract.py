"""The official spec is the judge: the validator itself, and the stand-in behaving as the spec says.

Every exchange of the whole session is also checked at its end (conftest's `spec_contract`); these
tests pin down the parts of the contract one by one, each with a case that must be refused.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.mysqlflexibleservers import models as m

from drift.armid import mysql_server_ref
from drift.local.arm import ArmStandIn
from drift.local.contract import ContractCheck
from drift.local.credential import LocalCredential
from drift.local.lro import FACTS_FILE, SpecFacts
from drift.local.spec import SpecBook, operation_facts
from drift.local.tls import LocalCA
from drift.local.traffic import Exchange, observe
from drift.local.writes import add_rule, create_server, server_id
from drift.readers import ArmReader
from tests.conftest import CHILD_PAGE_SIZE, FIXTURES, GROUP, SUBSCRIPTION, fixture_json
from tests.fixturefiles import OWN_SPECS
from tests.helpers import create_compliant_server

pytestmark = pytest.mark.official
MYSQL = "arm/mysql-flexible-2024-12-30"
API = "api-version=2024-12-30"


@pytest.fixture(scope="module")
def book() -> SpecBook:
    return SpecBook(FIXTURES / "specs", FIXTURES / "SOURCES.md", [OWN_SPECS])


@pytest.fixture
def traffic() -> Any:
    """The exchanges of this test, as the session check sees them."""
    seen: list[Exchange] = []
    stop = observe(seen.append)
    yield seen
    stop()


@pytest.fixture
def http_session(ca: LocalCA) -> Any:
    """A raw ARM client with the careless admin's token (trust_env off: this machine sets REQUESTS_CA_BUNDLE)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca.ca_bundle)
    session.headers["Authorization"] = "Bearer " + LocalCredential().get_token(
        "https://management.azure.com/.default").token
    yield session
    session.close()


@pytest.fixture
def reader(arm: ArmStandIn, ca: LocalCA) -> ArmReader:
    return ArmReader(LocalCredential(), base_url=arm.url, connection_verify=str(ca.ca_bundle))


def example_operation(book: SpecBook, example: str) -> Any:
    [op] = [op for op in book.operations()
            if any(v.get("$ref", "").endswith("/" + example) for v in (op.raw.get("x-ms-examples") or {}).values())]
    return op


# ---- the validator --------------------------------------------------------------------------


@pytest.mark.parametrize("example", sorted(p.name for p in (FIXTURES / MYSQL).glob("*.json")))
def test_official_examples_fit_their_spec_except_the_known_defects(book: SpecBook, example: str) -> None:
    """SOURCES.md lists the examples' known defects; the validator finds exactly those."""
    known = {"PrivateEndpointConnectionGet.json": "'Ready' is not one of",
             "PrivateEndpointConnectionList.json": "'Ready' is not one of",
             "PrivateEndpointConnectionUpdate.json": "'Ready' is not one of",
             "ServersList.json": "'Default' is not one of ['Regular', 'VirtualCanary']",
             "ServersListByResourceGroup.json": "'Default' is not one of ['Regular', 'VirtualCanary']"}
    op = example_operation(book, example)
    data = fixture_json(MYSQL, example)
    errors = [e for status, r in data["responses"].items() for e in op.response_errors(int(status), r.get("body"))]
    body = next((v for p, v in data["parameters"].items() if p in ("parameters", "body")), None)
    if op.method in ("PUT", "PATCH", "POST") and body is not None:
        errors += op.request_errors(body)
    if example in known:
        assert errors and all(known[example] in e for e in errors)
    else:
        assert errors == []


def test_fields_the_spec_does_not_define_are_refused(book: SpecBook) -> None:
    op, _ = book.find("GET", f"{server_id(SUBSCRIPTION, GROUP, 'db')}/firewallRules/r", "2024-12-30")
    body = fixture_json(MYSQL, "FirewallRuleGet.json")["responses"]["200"]["body"]
    assert op.response_errors(200, body) == []
    assert any("'etag' was unexpected" in e for e in op.response_errors(200, {**body, "etag": "W/1"}))
    nested = {**body, "properties": {**body["properties"], "provisioningState": "Succeeded"}}
    assert any("'provisioningState' was unexpected" in e for e in op.response_errors(200, nested))
    # inherited properties (Resource's id, name, type, systemData) are not "additional"
    assert op.response_errors(200, {**body, "systemData": {"createdBy": "x"}}) == []
    # where the spec says additionalProperties (tags), anything of the right type goes
    server_op, _ = book.find("GET", server_id(SUBSCRIPTION, GROUP, "db"), "2024-12-30")
    server = fixture_json(MYSQL, "ServerGet.json")["responses"]["200"]["body"]
    assert server_op.response_errors(200, {**server, "tags": {"anything": "goes"}}) == []
    assert server_op.response_errors(200, {**server, "tags": {"n": 1}}) != []


def test_an_error_answer_is_judged_by_the_error_shape_of_its_spec(book: SpecBook) -> None:
    server_op, _ = book.find("GET", server_id(SUBSCRIPTION, GROUP, "db"), "2024-12-30")
    arm_error = {"error": {"code": "ResourceNotFound", "message": "gone"}}
    monitor_error = {"code": "ResourceNotFound", "message": "gone"}
    assert server_op.response_errors(404, arm_error) == []
    assert server_op.response_errors(404, monitor_error) != []
    diag, _ = book.find("GET", server_id(SUBSCRIPTION, GROUP, "db")
                        + "/providers/Microsoft.Insights/diagnosticSettings/x", "2021-05-01-preview")
    assert diag.operation_id == "DiagnosticSettings_Get"
    assert diag.response_errors(404, monitor_error) == []
    assert diag.response_errors(404, arm_error) != []


def test_a_status_the_operation_never_answers_is_refused(book: SpecBook) -> None:
    op, _ = book.find("PUT", f"{server_id(SUBSCRIPTION, GROUP, 'db')}/configurations/tls_version", "2024-12-30")
    body = fixture_json(MYSQL, "ConfigurationUpdate.json")["responses"]["200"]["body"]
    assert op.response_errors(200, body) == []
    assert op.response_errors(201, body) == [f"status 201 is not one {op.operation_id} answers ([200, 202])"]


def test_the_stand_ins_spec_facts_are_the_specs(book: SpecBook) -> None:
    """`spec_facts.json` travels with the package; regenerate it with
    `python -m drift.local.spec FIXTURES --also tests/specs`."""
    assert json.loads(FACTS_FILE.read_text()) == operation_facts(book)


def test_event_data_is_judged_by_the_event_grid_spec(book: SpecBook, arm: ArmStandIn, sdk: Any,
                                                      server_name: str) -> None:
    create_server(sdk, GROUP, server_name)
    [event] = arm.drain_events()
    check = ContractCheck(book)
    assert check.event_errors(event) == []
    official = fixture_json("eventgrid", "event-grid-schema", "resource_write_success.json")
    assert check.event_errors(official) == []
    assert any("'before' was unexpected" in e for e in check.event_errors(
        {**event, "data": {**event["data"], "before": {"publicNetworkAccess": "Enabled"}}}))
    assert check.event_errors({**event, "eventType": "Microsoft.Resources.ResourceTouched"}) != []
    assert check.event_errors({**event, "specversion": "1.0"}) == [
        "ResourceWriteSuccess Microsoft.DBforMySQL/flexibleServers/write: "
        "envelope field 'specversion' is not Event Grid's"]


# ---- long-running operations --------------------------------------------------------------------


def test_long_running_writes_are_polled_by_the_sdk_until_done(arm: ArmStandIn, sdk: Any, server_name: str,
                                                               traffic: list[Exchange], book: SpecBook) -> None:
    create_server(sdk, GROUP, server_name)
    arm.lro.polls = 2  # two "InProgress" answers before each operation is done
    traffic.clear()
    sdk.firewall_rules.begin_create_or_update(GROUP, server_name, "office", m.FirewallRule(
        start_ip_address="198.51.100.1", end_ip_address="198.51.100.9")).result()
    sdk.azure_ad_administrators.begin_create_or_update(GROUP, server_name, "ActiveDirectory", m.AzureADAdministrator(
        administrator_type="ActiveDirectory", login="dba", sid="c6b82b90-a647-49cb-8a62-0d2d3cb7ac7c",
        tenant_id="72f988bf-0000-0000-0000-000000000000")).result()
    sdk.advanced_threat_protection_settings.begin_update(
        GROUP, server_name, "Default", m.AdvancedThreatProtectionForUpdate(state="Enabled")).result()
    sdk.configurations.begin_batch_update(GROUP, server_name, m.ConfigurationListForBatchUpdate(
        value=[m.ConfigurationForBatchUpdate(name="require_secure_transport", value="OFF")])).result()
    sdk.servers.begin_update(GROUP, server_name, m.ServerForUpdate(tags={"team": "payments"})).result()
    sdk.firewall_rules.begin_delete(GROUP, server_name, "office").result()
    sdk.azure_ad_administrators.begin_delete(GROUP, server_name, "ActiveDirectory").result()

    writes = [x for x in traffic if x.method != "GET"]
    assert [(x.method, x.status) for x in writes] == [("PUT", 201), ("PUT", 201), ("PATCH", 202), ("POST", 202),
                                                      ("PATCH", 202), ("DELETE", 202), ("DELETE", 202)]
    polls = [x for x in traffic if x.poll_of]
    assert len(polls) == 3 * len(writes), "each write polled until done: two InProgress, then done"
    assert {x.poll_of for x in polls} == {
        "FirewallRules_CreateOrUpdate", "AzureADAdministrators_CreateOrUpdate",
        "AdvancedThreatProtectionSettings_Update", "Configurations_BatchUpdate", "Servers_Update",
        "FirewallRules_Delete", "AzureADAdministrators_Delete"}
    batch = next(x for x in writes if x.path.endswith("/updateConfigurations"))
    assert set(batch.response_headers) >= {"Azure-AsyncOperation", "Location"}  # as the spec declares for it
    check = ContractCheck(book)
    assert [e for x in traffic for e in check.exchange_errors(x)] == []
    assert sdk.configurations.get(GROUP, server_name, "require_secure_transport").value == "OFF"
    assert list(sdk.firewall_rules.list_by_server(GROUP, server_name)) == []


def test_a_long_running_answer_without_a_polling_url_breaks_the_contract(book: SpecBook) -> None:
    path = f"{server_id(SUBSCRIPTION, GROUP, 'db')}/firewallRules/r"
    accepted = Exchange("DELETE", path, {"api-version": "2024-12-30"}, None, 202, None, {})
    [error] = ContractCheck(book).exchange_errors(accepted)
    assert error.endswith("-> 202: FirewallRules_Delete 202 without Azure-AsyncOperation or Location")


def test_polling_an_unknown_operation_is_404(arm: ArmStandIn, http_session: requests.Session) -> None:
    url = (f"{arm.url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.DBforMySQL/locations/eastus"
           "/operationResults/nope")
    answer = http_session.get(f"{url}?{API}")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "OperationNotFound"


# ---- paging, names, error shapes ----------------------------------------------------------------


def test_readers_follow_next_links_of_child_lists(arm: ArmStandIn, sdk: Any, server_name: str,
                                                   reader: ArmReader) -> None:
    create_server(sdk, GROUP, server_name)
    for i in range(CHILD_PAGE_SIZE * 2 + 1):
        add_rule(sdk, GROUP, server_name, f"rule-{i}", f"10.0.0.{i}", f"10.0.0.{i}")
    arm.reset_stats()
    rules = reader.read(mysql_server_ref(server_id(SUBSCRIPTION, GROUP, server_name)), "firewall_rules")
    assert sorted(r["name"] for r in rules) == sorted(f"rule-{i}" for i in range(CHILD_PAGE_SIZE * 2 + 1))
    assert arm.stats.reads == 3, "three pages"
    parameters = list(sdk.configurations.list_by_server(GROUP, server_name))
    assert len(parameters) > CHILD_PAGE_SIZE and len({p.name for p in parameters}) == len(parameters)


@pytest.mark.parametrize(("path", "name"), [
    ("{server}", "Orders_DB"), ("{server}", "orders-db-"), ("{server}", "x" * 64),
    ("{server}/firewallRules/{name}", "-leading-dash"), ("{server}/firewallRules/{name}", "has space"),
])
def test_names_the_spec_refuses_are_refused_with_arms_error(arm: ArmStandIn, sdk: Any, http_session: requests.Session,
                                                           server_name: str, path: str, name: str) -> None:
    if "firewallRules" in path:
        create_server(sdk, GROUP, server_name)
    target = path.format(server=server_id(SUBSCRIPTION, GROUP, name if path == "{server}" else server_name),
                         name=name)
    body = ({"location": "westeurope", "properties": {}} if path == "{server}"
            else {"properties": {"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.1"}})
    arm.drain_events()
    answer = http_session.put(f"{arm.url}{target}?{API}", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidResourceName"
    assert arm.drain_events() == [], "nothing was written"


def test_diagnostic_settings_errors_take_the_monitor_shape(arm: ArmStandIn, sdk: Any, server_name: str,
                                                          http_session: requests.Session) -> None:
    create_server(sdk, GROUP, server_name)
    url = f"{arm.url}{server_id(SUBSCRIPTION, GROUP, server_name)}/providers/Microsoft.Insights/diagnosticSettings"
    missing = http_session.get(f"{url}/nope?api-version=2021-05-01-preview")
    assert missing.status_code == 404 and set(missing.json()) == {"code", "message"}
    arm.add_fault(status=503, path_contains="diagnosticSettings")
    assert set(http_session.get(f"{url}?api-version=2021-05-01-preview").json()) == {"code", "message"}
    mysql = http_session.get(f"{arm.url}{server_id(SUBSCRIPTION, GROUP, 'absent')}?{API}")
    assert set(mysql.json()) == {"error"}


def test_a_write_the_sdk_makes_with_a_bad_name_fails_in_the_sdk(sdk: Any) -> None:
    with pytest.raises(HttpResponseError) as raised:
        create_server(sdk, GROUP, "Upper-Case")
    assert raised.value.error.code == "InvalidResourceName"


# ---- the stand-in's own spec facts --------------------------------------------------------------


def test_spec_facts_know_the_long_running_operations() -> None:
    facts = SpecFacts.load()
    found, values = facts.match("PUT", server_id(SUBSCRIPTION, GROUP, "db") + "/firewallRules/r1", "2024-12-30")
    assert (found.operation_id, found.final_state_via, values["firewallRuleName"]) == (
        "FirewallRules_CreateOrUpdate", "original-uri", "r1")
    assert facts.match("GET", server_id(SUBSCRIPTION, GROUP, "db"), "2023-01-01") is None
    assert facts.bad_path_values(found, {"serverName": "db", "firewallRuleName": "ok_Name-1"}) == []


def test_every_body_the_local_writers_send_fits_the_spec(arm: ArmStandIn, sdk: Any, server_name: str,
                                                         traffic: list[Exchange], book: SpecBook) -> None:
    create_compliant_server(sdk, server_name)
    sent = [x for x in traffic if x.method in ("PUT", "PATCH", "POST")]
    assert len(sent) >= 8
    for exchange in sent:
        op, _ = book.find(exchange.method, exchange.path, exchange.api_version)
        assert op.request_errors(exchange.request_body) == [], op.operation_id
    server_put = sent[0]
    assert server_put.method == "PUT" and "administratorLoginPassword" in server_put.request_body["properties"]
    op, _ = book.find("PUT", server_put.path, server_put.api_version)
    wrong = {**server_put.request_body, "properties": {**server_put.request_body["properties"], "tlsVersion": "1.3"}}
    assert any("'tlsVersion' was unexpected" in e for e in op.request_errors(wrong))


# ---- the Defender plan of the subscription (Microsoft.Security/pricings, the clone's tests/specs) ------------

PRICINGS = "2024-01-01"


def own_example(name: str) -> Any:
    return json.loads((OWN_SPECS / "examples" / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("example", ["GetPricingByNameDns_example.json", "PutPricingByName_example.json",
                                     "ListPricings_example.json"])
def test_the_official_pricings_examples_fit_the_pricings_spec(book: SpecBook, example: str) -> None:
    op = example_operation(book, example)
    data = own_example(example)
    assert [e for status, r in data["responses"].items() for e in op.response_errors(int(status), r["body"])] == []
    if op.method == "PUT":
        assert op.request_errors(data["parameters"]["pricing"]) == []


def test_the_pricings_spec_refuses_what_azure_would_not_send(book: SpecBook) -> None:
    plan = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Security/pricings/OpenSourceRelationalDatabases"
    op, values = book.find("GET", plan, PRICINGS)
    assert (op.operation_id, values) == ("Pricings_Get", {"scopeId": f"subscriptions/{SUBSCRIPTION}",
                                                          "pricingName": "OpenSourceRelationalDatabases"})
    body = own_example("GetPricingByNameDns_example.json")["responses"]["200"]["body"]
    assert any("'tier' was unexpected" in e for e in op.response_errors(200, {
        **body, "properties": {**body["properties"], "tier": "Standard"}}))
    assert any("'standard' is not one of ['Free', 'Standard']" in e for e in op.response_errors(200, {
        **body, "properties": {**body["properties"], "pricingTier": "standard"}}))
    assert any("'pricingTier' is a required property" in e for e in op.response_errors(200, {
        **body, "properties": {"freeTrialRemainingTime": "PT0S"}}))
    assert op.response_errors(404, {"error": {"code": "PricingNotFound", "message": "no"}}) == []
    listing, _ = book.find("GET", plan.rsplit("/", 1)[0], PRICINGS)
    assert listing.operation_id == "Pricings_List"
    assert book.find("GET", plan, "2023-01-01") is None, "only the api-version the spec is"


def test_the_stand_ins_pricings_answers_and_their_event_fit_the_spec(
        arm: ArmStandIn, http_session: requests.Session, traffic: list[Exchange], book: SpecBook) -> None:
    sub = "0f9e8d7c-0000-4000-8000-00000000c0de"
    url = f"{arm.url}/subscriptions/{sub}/providers/Microsoft.Security/pricings"
    arm.drain_events()
    assert http_session.get(f"{url}?api-version={PRICINGS}").status_code == 200
    assert http_session.put(f"{url}/OpenSourceRelationalDatabases?api-version={PRICINGS}",
                            json={"properties": {"pricingTier": "Standard"}}).status_code == 200
    assert http_session.get(f"{url}/OpenSourceRelationalDatabases?api-version={PRICINGS}").status_code == 200
    refused = http_session.put(f"{url}/OpenSourceRelationalDatabases?api-version={PRICINGS}",
                               json={"properties": {"pricingTier": "Premium"}})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "InvalidPricingTier"
    check = ContractCheck(book)
    assert [(book.find(x.method, x.path, x.api_version)[0].operation_id, check.exchange_errors(x))
            for x in traffic] == [("Pricings_List", []), ("Pricings_Update", []), ("Pricings_Get", []),
                                  ("Pricings_Update", [])]
    [event] = arm.drain_events()
    assert (event["eventType"], event["data"]["operationName"], event["subject"]) == (
        "Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Security/pricings/write",
        f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/OpenSourceRelationalDatabases")
    assert check.event_errors(event) == []
    assert check.event_errors({**event, "data": {**event["data"], "pricingTier": "Standard"}}) != []
