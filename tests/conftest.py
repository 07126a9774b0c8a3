"""The local stack for tests: one Azurite, one ARM stand-in and one Teams receiver per session;
a fresh table and a fresh server name per test, so tests cannot see each other's rows."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drift.config import Settings
from drift.engine import DriftEngine
from drift.local import traffic
from drift.local.arm import ArmStandIn
from drift.local.azurite import Azurite
from drift.local.contract import ContractCheck
from drift.local.credential import LocalCredential
from drift.local.receivers import GraphReceiver, LogsIngestionReceiver, TeamsReceiver
from drift.local.spec import find_specs
from drift.local.tls import LocalCA
from drift.runtime import build_engine
from tests import fixturefiles

OFFICIAL = fixturefiles.locate()  # the official examples and specs: see tests/fixturefiles.py
FIXTURES = OFFICIAL.path or fixturefiles.CACHE
CHILD_PAGE_SIZE = 4  # small, so that listing configurations, firewall rules and admins takes several pages
logging.getLogger("azure").setLevel(logging.WARNING)
SUBSCRIPTION = "ffffffff-ffff-ffff-ffff-ffffffffffff"
GROUP = "rg-tests"

CARELESS = {"name": "Casey Admin", "upn": "casey@contoso.example", "ipaddr": "203.0.113.7",
            "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": "3c1e9f0a-0000-4000-8000-00000000a002"}


def need_fixtures(*parts: str) -> Path:
    """The path of an official file; the test skips without it (fails with CI=true)."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        message = f"official fixture {'/'.join(parts)} missing (how to get it: at the end of the run)"
        if fixturefiles.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def fixture_json(*parts: str) -> Any:
    return json.loads(need_fixtures(*parts).read_text())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "official: needs the official fixtures (skips without them)")
    if OFFICIAL.changed:
        raise pytest.UsageError(OFFICIAL.summary())


def pytest_report_header(config: pytest.Config) -> str:
    return OFFICIAL.summary() if OFFICIAL.complete else "official fixtures: incomplete (see the end of the run)"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("official") is not None:
        need_fixtures("specs")
        need_fixtures("arm")
        need_fixtures("eventgrid")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not OFFICIAL.complete:
        terminalreporter.write_line(OFFICIAL.summary(), yellow=True)


@pytest.fixture(scope="session", autouse=True)
def spec_contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractCheck | None]:
    """Every answer and event of every stand-in in this session, judged by the official spec at the end."""
    book = find_specs(OFFICIAL.path, [fixturefiles.OWN_SPECS]) if OFFICIAL.has("specs") else None
    if book is None:
        yield None
        return
    check = ContractCheck(book)
    stop = traffic.observe(check.record_exchange, check.record_event)
    try:
        yield check
    finally:
        stop()
    found = check.violations()
    if found:
        report = "\n".join(f"{count:5d} x {message}" for message, count in found.most_common())
        Path("artifacts").mkdir(exist_ok=True)
        Path("artifacts/contract-violations.txt").write_text(report + "\n")
        pytest.fail(f"the stand-in broke the official spec {sum(found.values())} times "
                    f"({len(found)} kinds; artifacts/contract-violations.txt):\n{report[:4000]}", pytrace=False)


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def arm_session(ca: LocalCA) -> Iterator[ArmStandIn]:
    with ArmStandIn(ca.server_context(), child_page_size=CHILD_PAGE_SIZE) as standin:
        yield standin


@pytest.fixture
def arm(arm_session: ArmStandIn) -> ArmStandIn:
    """The shared stand-in with no queued events, faults or latency left by an earlier test."""
    arm_session.reset()
    return arm_session


@pytest.fixture(scope="session")
def teams_session() -> Iterator[TeamsReceiver]:
    with TeamsReceiver() as receiver:
        yield receiver


@pytest.fixture
def teams(teams_session: TeamsReceiver) -> TeamsReceiver:
    teams_session.clear()
    return teams_session


@pytest.fixture(scope="session")
def graph_session() -> Iterator[GraphReceiver]:
    with GraphReceiver() as receiver:
        yield receiver


@pytest.fixture
def graph(graph_session: GraphReceiver) -> GraphReceiver:
    graph_session.clear()
    return graph_session


@pytest.fixture(scope="session")
def logs_session(ca: LocalCA) -> Iterator[LogsIngestionReceiver]:
    with LogsIngestionReceiver(ssl_context=ca.server_context()) as receiver:
        yield receiver


@pytest.fixture
def logs(logs_session: LogsIngestionReceiver) -> LogsIngestionReceiver:
    """The Logs Ingestion receiver (a data collection endpoint and rule), with nothing received yet."""
    logs_session.clear()
    return logs_session


@pytest.fixture
def logs_settings(settings: Settings, logs: LogsIngestionReceiver) -> Settings:
    """`settings` with the Log Analytics export on, to the `logs` receiver."""
    return dataclasses.replace(settings, logs_endpoint=logs.endpoint, logs_rule_id=logs.rule_id)


@pytest.fixture
def settings(azurite: Azurite, arm: ArmStandIn, ca: LocalCA, teams: TeamsReceiver, graph: GraphReceiver) -> Settings:
    return Settings(arm_endpoint=arm.url, arm_ca_bundle=str(ca.ca_bundle), local_credential=True,
                    storage_connection_string=azurite.connection_string,
                    table_name=f"t{uuid.uuid4().hex[:16]}", recheck_queue=f"q{uuid.uuid4().hex[:16]}",
                    notifiers=["teams"], teams_webhook_url=teams.webhook_url,
                    alert_max_wait=0.2,  # a failing post fails at once; retry tests raise it
                    graph_endpoint=graph.url)


@pytest.fixture
def engine(settings: Settings) -> DriftEngine:
    return build_engine(settings)


@pytest.fixture
def sdk(arm: ArmStandIn, ca: LocalCA) -> Any:
    """The real management SDK as a careless admin would use it."""
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    return MySQLManagementClient(LocalCredential(CARELESS), SUBSCRIPTION, base_url=arm.url,
                                 connection_verify=str(ca.ca_bundle), polling_interval=0)


@pytest.fixture
def server_name() -> str:
    return f"srv-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def endpoints_file(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's stack as `mysql-drift local up` describes it, for commands run with --endpoints-file."""
    monkeypatch.setenv("DRIFT_NOTIFIERS", "teams")
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps({
        "arm_endpoint": settings.arm_endpoint, "ca_bundle": settings.arm_ca_bundle, "subscription_id": SUBSCRIPTION,
        "storage_connection_string": settings.storage_connection_string, "table_name": settings.table_name,
        "teams_webhook_url": settings.teams_webhook_url, "teams_messages_url": "",
        "graph_endpoint": settings.graph_endpoint,
    }))
    return path
