"""The local stack for tests: one Azurite, one ARM stand-in and one Teams receiver per session;
a fresh table and a fresh server name per test, so tests cannot see each other's rows."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drift.config import Settings
from drift.engine import DriftEngine
from drift.local.arm import ArmStandIn
from drift.local.azurite import Azurite
from drift.local.credential import LocalCredential
from drift.local.receivers import GraphReceiver, TeamsReceiver
from drift.local.tls import LocalCA
from drift.runtime import build_engine


def _find_fixtures() -> Path:
    """The official examples in `shared/fixtures`, beside the clone (`DRIFT_FIXTURES` overrides)."""
    if os.environ.get("DRIFT_FIXTURES"):
        return Path(os.environ["DRIFT_FIXTURES"])
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "fixtures"
        if candidate.is_dir():
            return candidate
    raise RuntimeError("shared/fixtures not found beside the clone; set DRIFT_FIXTURES")


FIXTURES = _find_fixtures()
logging.getLogger("azure").setLevel(logging.WARNING)
SUBSCRIPTION = "ffffffff-ffff-ffff-ffff-ffffffffffff"
GROUP = "rg-tests"

CARELESS = {"name": "Casey Admin", "upn": "casey@contoso.example", "ipaddr": "203.0.113.7",
            "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "http://schemas.microsoft.com/identity/claims/objectidentifier": "3c1e9f0a-0000-4000-8000-00000000a002"}


def fixture_json(*parts: str) -> Any:
    return json.loads((FIXTURES.joinpath(*parts)).read_text())


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA.create(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def arm_session(ca: LocalCA) -> Iterator[ArmStandIn]:
    with ArmStandIn(ca.server_context()) as standin:
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
                                 connection_verify=str(ca.ca_bundle))


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
