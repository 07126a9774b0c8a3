"""`make demo`: a platform engineer builds a well-secured server, then a careless admin undoes it.

Everything goes through the real Azure SDK to the ARM stand-in, whose events flow through the
same engine the Function app runs; the alerts land in the local Teams receiver.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from drift.cli import format_table
from drift.local.credential import LocalCredential
from drift.local.stack import LocalStack
from drift.runtime import build_engine

GROUP = "rg-shop"
SERVER = "orders-db"
WORKSPACE = (
    "/subscriptions/ffffffff-ffff-ffff-ffff-ffffffffffff/resourceGroups/rg-sec/providers/"
    "Microsoft.OperationalInsights/workspaces/sentinel"
)

PLATFORM = {
    "name": "Pat Platform",
    "upn": "pat@contoso.example",
    "ipaddr": "198.51.100.20",
    "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    "http://schemas.microsoft.com/identity/claims/objectidentifier": "3c1e9f0a-0000-4000-8000-00000000a001",
}
CARELESS = {
    "name": "Casey Admin",
    "upn": "casey@contoso.example",
    "ipaddr": "203.0.113.7",
    "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    "http://schemas.microsoft.com/identity/claims/objectidentifier": "3c1e9f0a-0000-4000-8000-00000000a002",
}


def sdk_client(stack: LocalStack, claims: dict[str, Any]) -> Any:
    from azure.mgmt.mysqlflexibleservers import MySQLManagementClient

    assert stack.arm and stack.ca
    return MySQLManagementClient(
        LocalCredential(claims),
        stack.subscription_id,
        base_url=stack.arm.url,
        connection_verify=str(stack.ca.ca_bundle),
    )


def server_id(stack: LocalStack) -> str:
    return (
        f"/subscriptions/{stack.subscription_id}/resourceGroups/{GROUP}/providers/"
        f"Microsoft.DBforMySQL/flexibleServers/{SERVER}"
    )


def put_diagnostic_setting(client: Any, stack: LocalStack, name: str, body: dict[str, Any] | None) -> None:
    """Diagnostic settings have no call in the MySQL SDK: the same pipeline, one request."""
    from azure.core.rest import HttpRequest

    url = f"{server_id(stack)}/providers/Microsoft.Insights/diagnosticSettings/{name}"
    request = HttpRequest(
        "DELETE" if body is None else "PUT", url, params={"api-version": "2021-05-01-preview"}, json=body
    )
    response = client._send_request(request)
    response.raise_for_status()


def set_parameter(client: Any, name: str, value: str) -> None:
    client.configurations.begin_update(
        GROUP, SERVER, name, {"properties": {"value": value, "source": "user-override"}}
    ).result()


def build_secure_server(client: Any, stack: LocalStack) -> None:
    from azure.mgmt.mysqlflexibleservers import models

    client.servers.begin_create(
        GROUP,
        SERVER,
        models.Server(
            location="westeurope",
            sku=models.MySQLServerSku(name="Standard_D2ds_v4", tier="GeneralPurpose"),
            administrator_login="cloudsa",
            administrator_login_password="not-a-real-password-1!",
            version="8.0.21",
            network=models.Network(public_network_access="Disabled"),
        ),
    ).result()
    set_parameter(client, "aad_auth_only", "ON")
    set_parameter(client, "tls_version", "TLSv1.3")
    put_diagnostic_setting(
        client,
        stack,
        "audit-to-sentinel",
        {"properties": {"workspaceId": WORKSPACE, "logs": [{"categoryGroup": "audit", "enabled": True}]}},
    )
    client.firewall_rules.begin_create_or_update(
        GROUP,
        SERVER,
        "office",
        models.FirewallRule(start_ip_address="198.51.100.20", end_ip_address="198.51.100.20"),
    ).result()


def careless_afternoon(client: Any, stack: LocalStack) -> list[str]:
    from azure.mgmt.mysqlflexibleservers import models

    steps = []

    def step(text: str) -> None:
        steps.append(text)
        print(f"  - {text}", flush=True)

    step("opens the firewall to the whole internet (AllowAll 0.0.0.0-255.255.255.255)")
    client.firewall_rules.begin_create_or_update(
        GROUP,
        SERVER,
        "AllowAll",
        models.FirewallRule(start_ip_address="0.0.0.0", end_ip_address="255.255.255.255"),
    ).result()
    step("lowers the TLS floor to TLS 1.2")
    set_parameter(client, "tls_version", "TLSv1.2,TLSv1.3")
    step("switches Entra-only authentication off")
    set_parameter(client, "aad_auth_only", "OFF")
    step("enables public network access")
    client.servers.begin_update(
        GROUP, SERVER, models.ServerForUpdate(network=models.Network(public_network_access="Enabled"))
    ).result()
    step("deletes the audit diagnostic setting")
    put_diagnostic_setting(client, stack, "audit-to-sentinel", None)
    step("raises wait_timeout to 600 (harmless: expect no alert)")
    set_parameter(client, "wait_timeout", "600")
    return steps


def run_demo() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="mysql-drift-demo-") as tmp, LocalStack(Path(tmp)) as stack:
        engine = build_engine(stack.settings(["teams", "console"]))
        pump = stack.start_pump(engine)
        assert stack.teams is not None
        platform, careless = sdk_client(stack, PLATFORM), sdk_client(stack, CARELESS)

        print(f"Local stack: ARM stand-in {stack.arm.url if stack.arm else ''}, Azurite, Teams receiver\n")
        print(f"1. Pat (platform team) builds {SERVER} the secure way; the detector takes its baseline.")
        build_secure_server(platform, stack)
        pump.wait_idle()
        print(f"   alerts so far: {len(stack.teams.messages())}\n")

        print("2. Casey (a careless admin) has a busy afternoon:")
        before = len(stack.teams.messages())
        started = time.perf_counter()
        careless_afternoon(careless, stack)
        pump.wait_idle()
        elapsed = time.perf_counter() - started
        cards = stack.teams.messages()[before:]
        print(f"\n3. Teams received {len(cards)} alert card(s) in {elapsed:.2f}s (writes included):")
        for card in cards:
            content = card["attachments"][0]["content"]
            print(f"   * {content['body'][0]['text']}")
        store = engine.store
        print("\n4. Drift history (mysql-drift history):\n")
        print(format_table(store.history()))
        slowest = max(pump.latencies, default=0.0)
        print(
            f"\nEvents handled: {len(pump.latencies)}; slowest handling {slowest * 1000:.0f} ms; "
            f"ARM reads by the detector: {getattr(engine.reader, 'requests', '?')}"
        )
        return 0 if len(cards) == 5 else 1


if __name__ == "__main__":
    sys.exit(run_demo())
