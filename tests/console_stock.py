"""A small fleet for the console's tests: three servers built with the SDK on the ARM stand-in, weakened
by a caller whose name is markup, their tags hostile too; the events go through the real engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

from drift.engine import DriftEngine
from drift.local.arm import ArmStandIn
from drift.local.credential import LocalCredential
from drift.local.tls import LocalCA
from tests.conftest import CARELESS, SUBSCRIPTION
from tests.helpers import add_rule, create_compliant_server, server_id, set_parameter, set_public_access

HOSTILE_NAME = '=HYPERLINK("https://evil.example") <script>alert("who")</script>"onmouseover=alert(2) x="'
HOSTILE_CALLER = {**CARELESS, "name": HOSTILE_NAME}
HOSTILE_TAGS = {"owner": "<script>alert('tag')</script>", "team": '"onmouseover=alert(3) data-x="',
                "cost": '=HYPERLINK("https://evil.example","click")', "link": "javascript:alert(4)"}
PRINCIPAL = "riley@contoso.example"
SIGNED_IN = {"X-MS-CLIENT-PRINCIPAL-NAME": PRINCIPAL}


@dataclass
class Stock:
    engine: DriftEngine
    weak: str  # firewall opened (LOW while public access is off) and TLS 1.2 allowed (MEDIUM)
    exposed: str  # public network access enabled (HIGH)
    calm: str  # nothing changed since it was built

    def id(self, name: str) -> str:
        return server_id(name)


def sdk_for(arm: ArmStandIn, ca: LocalCA, claims: dict[str, str] = CARELESS) -> Any:
    return MySQLManagementClient(LocalCredential(claims), SUBSCRIPTION, base_url=arm.url,
                                 connection_verify=str(ca.ca_bundle), polling_interval=0)


def stock(engine: DriftEngine, sdk: Any, arm: ArmStandIn, ca: LocalCA, suffix: str) -> Stock:
    engine.subscriptions = {SUBSCRIPTION}
    names = Stock(engine, f"weak-{suffix}", f"exposed-{suffix}", f"calm-{suffix}")
    for name in (names.weak, names.exposed, names.calm):
        create_compliant_server(sdk, name, tags=HOSTILE_TAGS)
    engine.handle_many(arm.drain_events())
    careless = sdk_for(arm, ca, HOSTILE_CALLER)
    add_rule(careless, names.weak, "AllowAll", "0.0.0.0", "255.255.255.255")
    set_parameter(careless, names.weak, "tls_version", "TLSv1.2,TLSv1.3")
    set_public_access(careless, names.exposed, "Enabled")
    engine.handle_many(arm.drain_events())
    return names
